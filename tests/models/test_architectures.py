"""FFDNet (KAIR and IPOL layouts) and their registration in spandrel's registry."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from spandrel import MAIN_REGISTRY, ModelLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
import model_factory as mf  # noqa: E402

from restorekit.models import architectures as arch  # noqa: E402
from restorekit.models import load_model  # noqa: E402
from restorekit.models.architectures import FFDNet, FFDNetIPOL  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _registered():
    arch.register()  # tests below read MAIN_REGISTRY directly; do not rely on test order


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _kair_identity(in_nc: int, nc: int, nb: int) -> FFDNet:
    """FFDNet whose weights pass the sub-images straight through (noise channel ignored)."""
    net = FFDNet(in_nc=in_nc, out_nc=in_nc, nc=nc, nb=nb)
    with torch.no_grad():
        for m in net.model:
            if isinstance(m, torch.nn.Conv2d):
                m.weight.zero_()
                m.bias.zero_()
                for c in range(min(m.in_channels, m.out_channels, 4 * in_nc)):
                    m.weight[c, c, 1, 1] = 1.0
    return net.eval()


def test_registered_in_spandrel_registry_before_dncnn():
    arch.register()
    arch.register()  # idempotent
    assert "FFDNet" in MAIN_REGISTRY and "FFDNetIPOL" in MAIN_REGISTRY
    order = [str(a.architecture.id) for a in MAIN_REGISTRY.architectures("detection")]
    assert order.index("FFDNet") < order.index("DnCNN")
    torch.manual_seed(0)
    sd = FFDNet(in_nc=3, out_nc=3, nc=96, nb=12).state_dict()  # the released colour configuration
    # spandrel's DnCNN detector matches the KAIR FFDNet keys too: the ordering is what makes it right
    assert MAIN_REGISTRY["DnCNN"].detect(sd)
    assert MAIN_REGISTRY.load(sd).architecture.id == "FFDNet"
    # DnCNN / FDnCNN files are not taken for FFDNet
    assert not MAIN_REGISTRY["FFDNet"].detect(mf.build("DnCNN").state_dict())
    assert not MAIN_REGISTRY["FFDNet"].detect(mf.build("FDnCNN").state_dict())
    assert not MAIN_REGISTRY["FFDNetIPOL"].detect(sd)


def test_extra_arches_installed_when_available():
    arch.register()
    if mf.extra_arches_available():
        assert "Restormer" in MAIN_REGISTRY
    else:
        assert arch.registered_extra_arches() == []


@pytest.mark.parametrize("in_nc,nc,nb", [(1, 64, 15), (3, 96, 12)])
def test_published_configurations_detected(in_nc, nc, nb):
    """The two released KAIR configurations (ffdnet_gray.pth, ffdnet_color.pth) are read correctly."""
    torch.manual_seed(0)
    sd = FFDNet(in_nc=in_nc, out_nc=in_nc, nc=nc, nb=nb).state_dict()
    assert set(sd) == {f"model.{2 * i}.{p}" for i in range(nb) for p in ("weight", "bias")}
    assert sd["model.0.weight"].shape == (nc, 4 * in_nc + 1, 3, 3)
    desc = MAIN_REGISTRY.load(sd)
    assert desc.architecture.id == "FFDNet"
    assert desc.model.hyperparameters == {"in_nc": in_nc, "out_nc": in_nc, "nc": nc, "nb": nb}
    assert desc.input_channels == in_nc and desc.scale == 1


@pytest.mark.parametrize("in_nc,layers,cin", [(1, 15, 5), (3, 12, 15)])
def test_ipol_published_configurations(in_nc, layers, cin):
    torch.manual_seed(0)
    nc = 64 if in_nc == 1 else 96
    sd = FFDNetIPOL(in_nc=in_nc, nc=nc, layers=layers).state_dict()
    assert sd["intermediate_dncnn.itermediate_dncnn.0.weight"].shape == (nc, cin, 3, 3)
    # as saved from DataParallel by PyTorch < 0.4.1: "module." prefix, no num_batches_tracked
    old = {f"module.{k}": v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    from spandrel import canonicalize_state_dict

    desc = MAIN_REGISTRY.load(canonicalize_state_dict(old))
    assert desc.architecture.id == "FFDNetIPOL"
    assert desc.model.hyperparameters == {"in_nc": in_nc, "nc": nc, "layers": layers}


@pytest.mark.parametrize("in_nc", [1, 3])
@pytest.mark.parametrize("hw", [(8, 12), (7, 9), (1, 1), (5, 2)])
def test_kair_layout_identity_golden(in_nc, hw):
    """Identity weights give back the input exactly: unshuffle/shuffle order and padding are right,
    and the noise channel is the last input channel (it is not copied to the output)."""
    net = _kair_identity(in_nc, nc=4 * in_nc + 3, nb=3)
    x = torch.rand(2, in_nc, *hw)
    torch.testing.assert_close(net(x, 0.3), x, atol=1e-6, rtol=0)


def test_kair_noise_channel_position_and_map():
    """A network that outputs the noise channel: KAIR appends it after the 4*C sub-image channels."""
    net = FFDNet(in_nc=1, out_nc=1, nc=8, nb=2).eval()
    with torch.no_grad():
        net.model[0].weight.zero_()
        net.model[0].bias.zero_()
        net.model[0].weight[0, 4, 1, 1] = 1.0  # input channel 4 = the noise map
        net.model[2].weight.zero_()
        net.model[2].bias.zero_()
        for k in range(4):
            net.model[2].weight[k, 0, 1, 1] = 1.0
    x = torch.rand(1, 1, 6, 8)
    torch.testing.assert_close(net(x, 0.2), torch.full_like(x, 0.2))
    # per-image sigma
    out = net(torch.rand(2, 1, 6, 8), torch.tensor([0.1, 0.4]))
    assert torch.allclose(out[0], torch.tensor(0.1)) and torch.allclose(out[1], torch.tensor(0.4))
    # a full-resolution map is reduced by the RMS over 2x2 blocks
    m = torch.zeros(1, 1, 6, 8)
    m[..., 0::2, 0::2] = 0.4  # one pixel of each block at 0.4 -> RMS 0.2
    torch.testing.assert_close(net(x, m), torch.full_like(x, 0.2))
    # an odd-size map is padded like the image
    m = torch.full((1, 1, 5, 7), 0.3)
    torch.testing.assert_close(net(x[..., :5, :7], m), torch.full((1, 1, 5, 7), 0.3))


def test_ipol_layout_golden():
    """IPOL layout: noise map first (one per channel) and the output is input minus predicted noise."""
    net = FFDNetIPOL(in_nc=3, nc=16, layers=3).eval()
    seq = net.intermediate_dncnn.itermediate_dncnn
    with torch.no_grad():
        for m in seq:
            if isinstance(m, torch.nn.Conv2d):
                m.weight.zero_()
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
                m.eps = 1e-12  # (some torch builds reject eps = 0)
        for c in range(15):
            seq[0].weight[c, c, 1, 1] = 1.0
            seq[2].weight[c, c, 1, 1] = 1.0
        for k in range(12):  # every output = noise channel of the image channel k // 4
            seq[-1].weight[k, k // 4, 1, 1] = 1.0
    x = torch.rand(2, 3, 7, 10)
    torch.testing.assert_close(net(x, 0.1), x - 0.1, atol=1e-6, rtol=0)


def test_spandrel_own_call_works_on_batches(tmp_path):
    """ComfyUI's upscale node calls spandrel descriptors directly: FFDNet must work there too."""
    path = mf.make_file("FFDNet", tmp_path, "safetensors")
    arch.register()
    desc = ModelLoader().load_from_file(path)
    assert desc.architecture.id == "FFDNet"
    x = torch.rand(2, 3, 11, 16)
    out = desc(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, desc.model(x, 15 / 255).clamp(0, 1))


def test_forward_rejects_bad_maps():
    net = FFDNet(in_nc=1, out_nc=1, nc=8, nb=3)
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError):
        net(x, torch.rand(2, 2, 8, 8))
    with pytest.raises(ValueError):
        net(x, torch.rand(3, 1, 8, 8))
    with pytest.raises(ValueError):
        net(x, torch.rand(2, 1, 3, 3))


def test_loader_reads_ffdnet_files(tmp_path):
    for fmt in ("pth", "safetensors"):
        model = load_model(mf.make_file("FFDNet-gray", tmp_path, fmt))
        assert model.architecture == "FFDNet" and model.noise_conditional and model.purpose == "denoise"
        assert model.supports_half and model.input_channels == 1
