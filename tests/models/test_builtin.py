"""The built-in denoiser: weights file checks, loader integration, the core function and the node.

Everything but the quality test runs on a random-init network saved in the shipped format (the fixture
``builtin_file``, exported through RESTOREKIT_BUILTIN_WEIGHTS); the quality test needs the shipped weights.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

import restorekit.models.builtin as bi
from restorekit.errors import InvalidParameterError, ModelLoadError
from restorekit.models import load_model
from restorekit.models.builtin_net import BuiltinDenoiserNet
from restorekit.params import run

SHIPPED = bi._SHIPPED


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    torch.manual_seed(0)
    net = BuiltinDenoiserNet()
    return bi.save_builtin_weights(net, tmp_path_factory.mktemp("builtin") / "rand.safetensors", training="test")


@pytest.fixture()
def builtin_file(weights_file, monkeypatch):
    monkeypatch.setenv(bi.ENV_BUILTIN_WEIGHTS, str(weights_file))
    return weights_file


def _rewrite(src, dst, *, meta=None, drop=None, reshape=None):
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as f:
        m = dict(f.metadata())
        t = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    m.update(meta or {})
    if drop:
        t.pop(drop)
    if reshape:
        t[reshape] = torch.zeros(1, dtype=torch.float16)
    save_file(t, str(dst), metadata={k: v for k, v in m.items() if v is not None})
    return dst


# ---- loading -------------------------------------------------------------------------------------


def test_load_checks_metadata_and_is_cached(builtin_file):
    a = bi.load_builtin_denoiser()
    assert a is bi.load_builtin_denoiser()
    assert a.architecture == "RestorekitBuiltin" and a.noise_conditional and a.input_channels == 3
    assert 1.5e6 < a.parameter_count < 3e6
    # a plain load_model of the same file detects the architecture through spandrel
    assert load_model(str(builtin_file)).architecture == "RestorekitBuiltin"
    assert load_model("restorekit built-in denoiser").architecture == "RestorekitBuiltin"


@pytest.mark.parametrize(
    "change, words",
    [
        ({"meta": {"format": "something-else"}}, "format"),
        ({"meta": {"version": "7"}}, "version"),
        ({"meta": {"config": "{not json"}}, "config"),
        ({"meta": {"config": json.dumps({"widths": [16, 32, 64, 80], "blocks": [2, 2, 1], "body_blocks": 2})}},
         "does not match"),
        ({"drop": "tail.weight"}, "missing"),
        ({"reshape": "head.weight"}, "wrong shape"),
    ],
)
def test_bad_files_are_refused(weights_file, tmp_path, change, words):
    bad = _rewrite(weights_file, tmp_path / "bad.safetensors", **change)
    with pytest.raises(ModelLoadError) as e:
        bi.load_builtin_denoiser(path=bad)
    assert words in str(e.value) and "bad.safetensors" in str(e.value)


def test_not_safetensors_and_missing(tmp_path, monkeypatch):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"hello, this is not a weights file")
    with pytest.raises(ModelLoadError, match="safetensors"):
        bi.load_builtin_denoiser(path=junk)
    with pytest.raises(ModelLoadError, match="does not exist"):
        bi.load_builtin_denoiser(path=tmp_path / "nope.safetensors")
    monkeypatch.delenv(bi.ENV_BUILTIN_WEIGHTS, raising=False)
    monkeypatch.setattr(bi, "_SHIPPED", tmp_path / "gone.safetensors")
    assert not bi.builtin_weights_available()
    with pytest.raises(ModelLoadError, match="reinstall"):
        bi.load_builtin_denoiser()


# ---- the core function ---------------------------------------------------------------------------


def test_shapes_dtype_and_per_image(builtin_file):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 21, 30, generator=g)
    y = bi.builtin_denoise(x, sigma=0.1)
    assert y.shape == x.shape and y.dtype == x.dtype and 0 <= float(y.min()) and float(y.max()) <= 1
    torch.testing.assert_close(y[1:2], bi.builtin_denoise(x[1:2], sigma=0.1), atol=1e-5, rtol=0)
    for shape in ((1, 1, 1, 1), (1, 3, 3, 5), (2, 1, 17, 9)):
        out = bi.builtin_denoise(torch.rand(shape, generator=g), sigma=0.05)
        assert out.shape == shape
    assert bi.builtin_denoise(x.double(), sigma=0.1).dtype == torch.float64


def test_gray_is_the_mean_of_the_rgb_run(builtin_file):
    x = torch.rand(1, 1, 24, 24, generator=torch.Generator().manual_seed(2))
    raw = bi.load_builtin_denoiser()(x.expand(1, 3, 24, 24), 0.1, clamp=False)
    expected = raw.mean(dim=1, keepdim=True).clamp(0, 1)
    torch.testing.assert_close(bi.builtin_denoise(x, sigma=0.1), expected, atol=1e-5, rtol=0)


def test_blind_uses_the_estimate_and_given_sigma_is_used(builtin_file):
    from restorekit.quality.noise import estimate_sigma

    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    _, info = bi.builtin_denoise(x, return_info=True)
    assert info.mode == "estimated"
    torch.testing.assert_close(torch.tensor(info.sigmas), estimate_sigma(x).mean(dim=1), atol=1e-5, rtol=0)
    est = torch.tensor(info.sigmas)
    torch.testing.assert_close(bi.builtin_denoise(x), bi.builtin_denoise(x, sigma=est), atol=1e-6, rtol=0)
    assert not torch.allclose(bi.builtin_denoise(x, sigma=0.02), bi.builtin_denoise(x, sigma=0.2))


def test_mask_scales_sigma_per_pixel(builtin_file):
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    ones = torch.ones(1, 1, 32, 32)
    torch.testing.assert_close(bi.builtin_denoise(x, sigma=0.1, mask=ones), bi.builtin_denoise(x, sigma=0.1))
    half = torch.ones(1, 1, 32, 32)
    half[..., 16:] = 0.0
    y, info = bi.builtin_denoise(x, sigma=0.1, mask=half, return_info=True)
    assert info.mode == "given + mask" and abs(info.sigmas[0] - 0.05) < 1e-6
    sigma_map = 0.1 * half
    torch.testing.assert_close(y, bi.builtin_denoise(x, sigma=sigma_map), atol=1e-6, rtol=0)
    with pytest.raises(InvalidParameterError):
        bi.builtin_denoise(x, sigma=0.1, mask=torch.ones(1, 1, 8, 8))


def test_bad_parameters(builtin_file):
    x = torch.rand(1, 3, 8, 8)
    for bad in (-0.1, 2.0, float("nan"), True):
        with pytest.raises(InvalidParameterError):
            bi.builtin_denoise(x, sigma=bad)
    with pytest.raises(InvalidParameterError):
        bi.builtin_denoise(x, sigma=torch.ones(3))
    with pytest.raises(InvalidParameterError):
        bi.builtin_denoise(x, strength=1.5)
    with pytest.raises(InvalidParameterError):
        bi.builtin_denoise(x, precision="int8")


def test_strength_zero_is_identity_and_tiling(builtin_file):
    x = torch.rand(1, 3, 96, 80, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(bi.builtin_denoise(x, sigma=0.1, strength=0.0), x, atol=0, rtol=0)
    whole = bi.builtin_denoise(x, sigma=0.1)
    calls = []
    tiled, info = bi.builtin_denoise(x, sigma=0.1, tile=64, overlap=48, return_info=True,
                                     progress=lambda d, t: calls.append((d, t)))
    assert info.tile == 64 and info.tiles > 1 and calls and calls[-1][0] == calls[-1][1]
    # random weights have a large receptive field: tiles agree with the whole image up to a small blend error
    assert float((tiled - whole).abs().mean()) < 2e-3


def test_inference_mode(builtin_file):
    x = torch.rand(2, 3, 16, 16)
    with torch.inference_mode():
        y = bi.builtin_denoise(x, sigma=0.05)
    assert y.shape == x.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(builtin_file):
    x = torch.rand(2, 3, 64, 48, generator=torch.Generator().manual_seed(6))
    cpu = bi.builtin_denoise(x, sigma=0.1)
    gpu = bi.builtin_denoise(x.cuda(), sigma=0.1, precision="fp32").cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-3, rtol=0)
    bf16 = bi.builtin_denoise(x.cuda(), sigma=0.1, precision="bf16").cpu()
    assert float((bf16 - cpu).abs().mean()) < 1e-2


# ---- the node and the model nodes ----------------------------------------------------------------


def test_node_rgb_gray_rgba_and_report(builtin_file):
    x = torch.rand(2, 3, 24, 20)
    r = run("builtin_denoiser", image=x, sigma=25.0)
    assert r["image"].shape == x.shape and "25.00" in r["report"] and "given" in r["report"]
    r = run("builtin_denoiser", image=torch.rand(1, 1, 24, 20))
    assert r["image"].shape == (1, 1, 24, 20) and "estimated" in r["report"]
    r = run("builtin_denoiser", image=x, sigma=10.0, mask=torch.ones(2, 1, 24, 20))
    assert "mask" in r["report"]


def test_load_restoration_model_and_restore_with_model(builtin_file):
    model = run("load_restoration_model", model_name="restorekit built-in denoiser")["model"]
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(7))
    out = run("restore_with_model", model=model, image=x, noise_level=25.0)
    torch.testing.assert_close(out["image"], bi.builtin_denoise(x, sigma=25 / 255), atol=1e-5, rtol=0)


def test_auto_denoise_and_pipelines_offer_builtin(builtin_file):
    from restorekit.denoise.auto import auto_denoise
    from restorekit.pipelines.restore import auto_denoise_method

    assert auto_denoise_method(torch.rand(1, 3, 8, 8), None) == "builtin"
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(8))
    y, choices = auto_denoise(x, method="builtin", return_info=True)
    assert y.shape == x.shape and choices[0].method == "builtin"


# ---- quality (shipped weights only) -------------------------------------------------------------


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped weights (restorekit/models/weights/"
                    "builtin_denoiser.safetensors) are not built yet")
def test_quality_with_shipped_weights(monkeypatch):
    import support

    from restorekit.quality.metrics import psnr

    monkeypatch.delenv(bi.ENV_BUILTIN_WEIGHTS, raising=False)
    # Measured with the shipped weights (seed 0, 128² top-left crops, sigma 25, clipped noise as a node
    # sees it): Set12 01/02 32.86/34.87 dB, CBSD68 101085/102061 27.82/31.95 dB; bound 0.1 dB below.
    expected = {"01": 32.76, "02": 34.77, "101085": 27.72, "102061": 31.85}
    g = torch.Generator().manual_seed(0)
    sets = (("Set12", ["01", "02"]), ("CBSD68", ["101085", "102061"]))
    checked = 0
    for set_name, names in sets:
        for name, c in zip(names, support.load_set(set_name, names=names), strict=True):
            c = c[..., :128, :128]
            noisy = (c + torch.randn(c.shape, generator=g) * 25 / 255).clamp(0, 1)
            assert float(psnr(bi.builtin_denoise(noisy, sigma=25 / 255), c).mean()) >= expected[name]
            checked += 1
    assert checked == 4
