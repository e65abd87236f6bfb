"""Noise-level steering: sigma really reaches DRUNet / FDnCNN / FFDNet, per image and per pixel."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import model_factory as mf  # noqa: E402

from restorekit.errors import InvalidParameterError  # noqa: E402
from restorekit.models import load_model  # noqa: E402
from restorekit.models.conditioning import DEFAULT_SIGMA, noise_level_map  # noqa: E402

CONDITIONAL = ["FDnCNN", "FDnCNN-gray", "FFDNet", "FFDNet-gray", "FFDNetIPOL", "DRUNet"]
SIGMAS = [0.0, 10 / 255, 25 / 255, 50 / 255, 75 / 255]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cond")
    out = {}
    for name in CONDITIONAL + ["NAFNet"]:
        module = mf.build(name)
        out[name] = (module, load_model(mf.save(module, folder / f"{name}.safetensors")))
    return out


def _x(name: str, b: int = 2, h: int = 24, w: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, mf.CASES[name].channels, h, w, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------
# random weights: the map we build is exactly what the network receives
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CONDITIONAL)
def test_sigma_reaches_network(loaded, name):
    module, model = loaded[name]
    assert model.noise_conditional and model.default_noise_level == pytest.approx(15 / 255)
    x = _x(name)
    low, high = model(x, 5 / 255, clamp=False), model(x, 50 / 255, clamp=False)
    assert float((low - high).abs().max()) > 1e-4  # the output changes with sigma
    for s in (5 / 255, 50 / 255):
        torch.testing.assert_close(model(x, s, clamp=False), mf.reference_forward(name, module, x, s),
                                   atol=1e-5, rtol=0)
    # None = the family default, the value spandrel's own wrapper uses
    torch.testing.assert_close(model(x, None), model(x, 15 / 255))
    torch.testing.assert_close(model(x[:1]), model.descriptor(x[:1]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", CONDITIONAL)
def test_per_pixel_map_reaches_network(loaded, name):
    module, model = loaded[name]
    x = _x(name, seed=1)
    nmap = torch.rand(2, 1, 24, 32, generator=torch.Generator().manual_seed(5)) * 0.2
    ours = model(x, nmap, clamp=False)
    with torch.no_grad():
        if mf.CASES[name].arch.startswith("FFDNet"):
            ref = module(x, nmap)
        else:
            ref = module(torch.cat([x, nmap], dim=1))
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["FDnCNN", "FFDNet", "DRUNet"])
def test_noise_level_forms_agree(loaded, name):
    _, model = loaded[name]
    x = _x(name, h=13, w=21)  # odd: the map is padded with the image (DRUNet: to a multiple of 8)
    s = 0.1
    ref = model(x, s, clamp=False)
    for form in (torch.tensor(s), torch.tensor([s, s]), torch.full((2, 1), s), torch.full((2, 1, 1, 1), s),
                 torch.full((2, 1, 13, 21), s), torch.full((1, 1, 13, 21), s)):
        torch.testing.assert_close(model(x, form, clamp=False), ref, atol=1e-6, rtol=0)
    # one sigma per image
    per = model(x, torch.tensor([0.02, 0.3]), clamp=False)
    torch.testing.assert_close(per[:1], model(x[:1], 0.02, clamp=False), atol=1e-6, rtol=0)
    torch.testing.assert_close(per[1:], model(x[1:], 0.3, clamp=False), atol=1e-6, rtol=0)


def test_non_conditional_model_ignores_noise_level(loaded):
    _, model = loaded["NAFNet"]
    assert not model.noise_conditional and model.default_noise_level is None and model.noise_family is None
    x = _x("NAFNet")
    torch.testing.assert_close(model(x, 0.5), model(x))


@pytest.mark.parametrize(
    "bad,match",
    [(25.0, "255"), (-0.1, "negative"), (float("nan"), "NaN"), (torch.rand(2, 3, 24, 32), "shape"),
     (torch.rand(3), "shape"), (torch.rand(2, 1, 5, 5), "shape")],
)
def test_bad_noise_levels_rejected(loaded, bad, match):
    _, model = loaded["DRUNet"]
    with pytest.raises(InvalidParameterError, match=match):
        model(_x("DRUNet"), bad)


def test_noise_level_map_helper():
    x = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    m = noise_level_map(None, x, default=DEFAULT_SIGMA)
    assert m.shape == (2, 1, 4, 5) and m.dtype == torch.float64 and torch.all(m == DEFAULT_SIGMA)
    m = noise_level_map(torch.tensor([0.1, 0.2]), x, default=0.0)
    assert torch.allclose(m[0], torch.tensor(0.1, dtype=torch.float64))
    assert torch.allclose(m[1], torch.tensor(0.2, dtype=torch.float64))


# ----------------------------------------------------------------------------------------------
# constructed weights: the output moves monotonically with sigma
# ----------------------------------------------------------------------------------------------


def _identity_conv_(conv: nn.Conv2d, channels: int) -> None:
    conv.weight.zero_()
    if conv.bias is not None:
        conv.bias.zero_()
    for c in range(min(channels, conv.in_channels, conv.out_channels)):
        conv.weight[c, c, conv.kernel_size[0] // 2, conv.kernel_size[1] // 2] = 1.0


def _subtract_noise_net(kind: str) -> nn.Module:
    """A real network of each family whose output is (image - sigma / 2), built by hand."""
    torch.manual_seed(0)
    with torch.no_grad():
        if kind == "FDnCNN":
            net = mf.CASES["FDnCNN"].builder()
            convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
            for conv in convs:
                _identity_conv_(conv, 4)
            convs[-1].weight[:, 3, 1, 1] = -0.5
        elif kind == "DRUNet":
            net = mf.CASES["DRUNet"].builder()
            for p in net.parameters():
                p.zero_()  # every path but head -> tail carries zeros
            _identity_conv_(net.m_head, 4)
            _identity_conv_(net.m_tail, 3)
            net.m_tail.weight[:, 3, 1, 1] = -0.5
        else:
            net = mf.CASES["FFDNet"].builder()
            convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
            for conv in convs:
                _identity_conv_(conv, 13)
            convs[-1].weight[:, 12, 1, 1] = -0.5
    return net.eval()


@pytest.mark.parametrize("kind", ["FDnCNN", "DRUNet", "FFDNet"])
def test_output_monotonic_in_sigma(tmp_path, kind):
    model = load_model(mf.save(_subtract_noise_net(kind), tmp_path / f"{kind}.pth"))
    assert model.noise_conditional
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.4
    means = [float(model(x, s).mean()) for s in SIGMAS]
    assert all(a > b for a, b in zip(means[:-1], means[1:], strict=True)), means
    torch.testing.assert_close(model(x, 50 / 255), x - 25 / 255, atol=1e-5, rtol=0)
    # a per-pixel map acts locally: only the right half is told it is noisy
    nmap = torch.zeros(1, 1, 16, 16)
    nmap[..., 8:] = 0.4
    out = model(x, nmap)
    torch.testing.assert_close(out[..., :8], x[..., :8], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[..., 8:], x[..., 8:] - 0.2, atol=1e-5, rtol=0)
