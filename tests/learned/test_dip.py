"""Tests of Deep Image Prior (restorekit.learned.dip) and its operation (node RK_DeepImagePrior)."""

from __future__ import annotations

import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

import restorekit.operations.learned.dip  # noqa: F401  (registers the operation)
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.learned.dip import deep_image_prior, effective_depth
from restorekit.params import OPERATIONS

THRESHOLDS = ALL_THRESHOLDS["deep_image_prior"]

SMALL = {"width": 8, "depth": 3, "input_channels": 4}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _gray_case():
    clean = support.load_set("Set12", ["05"], gray=True)[0][:, :, 64:128, 64:128]
    return clean, support.add_noise(clean, 25, seed=1).clamp(0, 1)


def _rgb_case():
    clean = support.load(support.image_paths("CBSD68")[0])[:, :, 100:148, 200:248]
    return clean, support.add_noise(clean, 25, seed=2).clamp(0, 1)


# ---- quality ----------------------------------------------------------------------------------


@pytest.mark.quality
def test_gray_gain_under_inference_mode():
    """Trains although the caller is in inference mode with an inference tensor, and PSNR rises."""
    clean, noisy = _gray_case()
    with torch.inference_mode():
        x = noisy.clone()
        assert x.is_inference()
        out, rep = deep_image_prior(x, iterations=400, width=16, depth=4, return_info=True)
    # trained (the loss fell far below that of a constant image); stops by itself at 390 iterations
    assert rep["iterations"][0] >= 300 and rep["final_loss"][0] < 0.9 * float(((0.5 - noisy) ** 2).mean())
    gain = support.psnr(out, clean) - support.psnr(noisy, clean)
    assert gain > THRESHOLDS["dip_gain_gray_sigma25_db"], gain


@pytest.mark.quality
def test_rgb_gain():
    clean, noisy = _rgb_case()
    with torch.inference_mode():
        out, rep = deep_image_prior(noisy.clone(), iterations=300, width=16, depth=4, return_info=True)
    assert out.shape == noisy.shape
    gain = support.psnr(out, clean) - support.psnr(noisy, clean)
    assert gain > THRESHOLDS["dip_gain_rgb_sigma25_db"], gain


@pytest.mark.quality
def test_early_stop_beats_overfitted_last_iterate():
    """Without code perturbation or averaging the fit overfits quickly: the noise-level rule stops near the
    peak (no clean image used) and its result is clearly better than running every iteration."""
    clean, noisy = _gray_case()
    kw = {"width": 16, "depth": 4, "input_noise": 0.0, "ema": 0.0, "learning_rate": 0.02}
    stopped, rep = deep_image_prior(noisy, iterations=300, early_stop=True, **kw, return_info=True)
    last, rep_last = deep_image_prior(noisy, iterations=300, early_stop=False, **kw, return_info=True)
    assert rep["stop_reason"][0].startswith("early stop") and rep["iterations"][0] < 300
    assert rep_last["iterations"] == [300] and rep_last["stop_reason"] == ["max iterations"]
    assert abs(rep["noise_sigma"][0] * 255 - 25) < 3  # estimated
    diff = support.psnr(stopped, clean) - support.psnr(last, clean)
    assert diff > THRESHOLDS["dip_early_stop_over_last_iterate_db"], diff


def test_variance_rule_stops():
    x = support.smooth_random(1, 1, 24, 24, seed=3)
    noisy = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    out, rep = deep_image_prior(
        noisy,
        iterations=600,
        stop_rule="variance",
        input_noise=0.0,
        ema=0.0,
        window=10,
        patience=30,
        min_iterations=20,
        **SMALL,
        return_info=True,
    )
    assert rep["stop_reason"] == ["early stop (output variance)"]
    assert rep["result_iteration"][0] <= rep["iterations"][0] - 30
    assert rep["noise_sigma"] is None
    assert torch.isfinite(out).all()


# ---- behaviour --------------------------------------------------------------------------------


def test_reproducible_with_seed():
    x = support.smooth_random(1, 3, 20, 28, seed=1)
    a = deep_image_prior(x, iterations=25, seed=7, **SMALL)
    b = deep_image_prior(x, iterations=25, seed=7, **SMALL)
    c = deep_image_prior(x, iterations=25, seed=8, **SMALL)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_return_info_convention():
    """The image alone by default; ``(image, report)`` with ``return_info=True``, same image."""
    x = support.smooth_random(1, 1, 24, 24, seed=3)
    out = deep_image_prior(x, iterations=2, **SMALL)
    assert isinstance(out, torch.Tensor)
    res = deep_image_prior(x, iterations=2, **SMALL, return_info=True)
    assert isinstance(res, tuple) and len(res) == 2
    assert torch.equal(res[0], out)
    assert isinstance(res[1], dict) and res[1]["iterations"] == [2]


def test_global_rng_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    deep_image_prior(support.smooth_random(1, 1, 8, 8), iterations=3, **SMALL)
    torch.testing.assert_close(torch.rand(3), expected)


def test_batch_every_image_processed_and_consistent():
    x = torch.cat([support.smooth_random(1, 3, 16, 20, seed=1), support.smooth_random(1, 3, 16, 20, seed=2)])
    out, rep = deep_image_prior(x, iterations=20, early_stop=False, **SMALL, return_info=True)
    assert out.shape == x.shape and len(rep["iterations"]) == 2
    single = deep_image_prior(x[1:2], iterations=20, early_stop=False, **SMALL)
    torch.testing.assert_close(out[1:2], single)
    # both images fitted, each towards its own target
    assert (out[1] - x[1]).abs().mean() < (out[0] - x[1]).abs().mean()


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 3, 3, 5), (2, 1, 7, 9), (1, 3, 2, 40), (1, 1, 33, 17)])
def test_any_size(shape):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    out, rep = deep_image_prior(x, iterations=8, **SMALL, return_info=True)
    assert out.shape == x.shape
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert rep["depth"][0] == effective_depth(shape[2], shape[3], SMALL["depth"])


def test_effective_depth():
    assert effective_depth(1, 1, 5) == 1
    assert effective_depth(5, 7, 5) == 2
    assert effective_depth(64, 100, 5) == 5
    assert effective_depth(1080, 1920, 5) == 5


def test_dtype_device_layout_kept(device):
    x = support.smooth_random(1, 3, 16, 16, dtype=torch.float64).to(device)
    out, rep = deep_image_prior(x, iterations=5, **SMALL, return_info=True)
    assert out.dtype == torch.float64 and out.device == x.device
    assert rep["device"] == str(x.device)
    cl = x.float().contiguous(memory_format=torch.channels_last)
    nc = x.float().transpose(2, 3)
    assert deep_image_prior(cl, iterations=5, **SMALL).shape == cl.shape
    assert deep_image_prior(nc, iterations=5, **SMALL).shape == nc.shape


def test_cuda_precisions(device):
    if device.type != "cuda":
        pytest.skip("mixed precision is used on CUDA only")
    x = support.smooth_random(1, 3, 40, 56).to(device)
    _, rep = deep_image_prior(x, iterations=5, **SMALL, return_info=True)
    assert rep["precision"] == (
        "bfloat16 autocast" if torch.cuda.is_bf16_supported() else "float16 autocast + loss scaling"
    )
    for precision in ("float16", "float32"):
        out, rep = deep_image_prior(x, iterations=30, precision=precision, padding="zeros", **SMALL, return_info=True)
        assert torch.isfinite(out).all() and rep["final_loss"][0] < float(((0.5 - x) ** 2).mean())


def test_zero_padding_runs():
    x = support.smooth_random(1, 1, 12, 20)
    out, rep = deep_image_prior(x, iterations=5, padding="zeros", **SMALL, return_info=True)
    assert out.shape == x.shape and rep["settings"]["padding"] == "zeros"


def test_report_contents():
    x = support.smooth_random(2, 1, 12, 12)
    _, rep = deep_image_prior(x, iterations=10, sigma=0.05, **SMALL, return_info=True)
    assert rep["iterations"] == [10, 10] and rep["stop_reason"] == ["max iterations"] * 2
    assert rep["noise_sigma"] == pytest.approx([0.05, 0.05])
    assert rep["precision"] == "float32" and rep["device"] == "cpu" and rep["seconds"] > 0
    assert rep["settings"]["width"] == SMALL["width"]


def test_sigma_forms():
    x = support.smooth_random(2, 3, 12, 12)
    for sigma in (0.1, torch.tensor(0.1), torch.tensor([0.1, 0.1]), torch.full((2, 3), 0.1), torch.full((1, 1), 0.1)):
        _, rep = deep_image_prior(x, iterations=2, sigma=sigma, **SMALL, return_info=True)
        assert rep["noise_sigma"] == pytest.approx([0.1, 0.1])
    for bad in (-0.1, 2.0, torch.zeros(3), float("nan"), "0.1"):
        with pytest.raises(InvalidParameterError):
            deep_image_prior(x, iterations=2, sigma=bad, **SMALL)


def test_progress_reported():
    calls = []
    deep_image_prior(
        support.smooth_random(2, 1, 12, 12),
        iterations=30,
        early_stop=False,
        progress=lambda d, t: calls.append((d, t)),
        **SMALL,
    )
    assert len(calls) >= 6
    assert all(t == 60 for _, t in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == 60


def test_interruption_propagates():
    class Interrupted(Exception):
        pass

    seen = []

    def cb(done, total):
        seen.append(done)
        if done >= 20:
            raise Interrupted

    with pytest.raises(Interrupted):
        deep_image_prior(support.smooth_random(1, 1, 12, 12), iterations=1000, early_stop=False, progress=cb, **SMALL)
    assert max(seen) < 40


@pytest.mark.parametrize(
    "kw",
    [
        {"iterations": 0},
        {"iterations": 2.5},
        {"learning_rate": 0},
        {"learning_rate": float("nan")},
        {"early_stop": 1},
        {"ema": 1.0},
        {"ema": -0.1},
        {"seed": -1},
        {"width": 0},
        {"depth": 0},
        {"depth": 9},
        {"skip_channels": -1},
        {"input_channels": 0},
        {"input_noise": -0.01},
        {"window": 0},
        {"patience": 0},
        {"min_iterations": -1},
        {"precision": "half"},
        {"precision": "bfloat16"},
        {"stop_rule": "psnr"},
        {"discrepancy": 0},
        {"iterations": True},
        {"padding": "circular"},
    ],
)
def test_bad_parameters(kw):
    with pytest.raises(InvalidParameterError):
        deep_image_prior(support.smooth_random(1, 1, 8, 8), **kw)


@pytest.mark.parametrize(
    "x",
    [
        torch.rand(1, 2, 8, 8),
        torch.rand(8, 8),
        torch.zeros(1, 1, 8, 8, dtype=torch.int64),
        torch.full((1, 1, 4, 4), float("nan")),
    ],
)
def test_bad_images(x):
    with pytest.raises(InvalidImageError):
        deep_image_prior(x, iterations=2)


# ---- operation ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def op():
    return OPERATIONS["deep_image_prior"]


def _values(op, **overrides):
    return {p.name: p.to_core(overrides.get(p.name, p.default)) for p in op.inputs if not p.is_data}


def test_declaration(op):
    assert op.node_id == "RK_DeepImagePrior"
    assert op.full_category == "restorekit/denoise"
    assert op.gpu is True
    op.check_signature()
    assert [o.name for o in op.outputs] == ["image", "report"]
    assert all(p.help for p in op.inputs)
    for name in ("iterations", "learning_rate", "early_stop", "ema", "width", "seed"):
        assert not op.param(name).advanced, name
    for name in ("sigma", "depth", "input_noise", "precision", "stop_rule"):
        assert op.param(name).advanced, name
    assert op.param("sigma").to_core(0) is None
    assert op.param("sigma").to_core(25.5) == pytest.approx(0.1)
    with pytest.raises(InvalidParameterError):
        op.param("width").to_core(1000)


@pytest.mark.parametrize("shape", [(3, 3, 16, 16), (1, 1, 20, 12), (1, 3, 3, 5), (2, 1, 1, 1)])
def test_operation_runs(op, shape):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    calls = []
    with torch.inference_mode():
        image, report = op.call(
            {"image": x, **_values(op, iterations=10, width=8)}, progress=lambda d, t: calls.append(d)
        )
    assert image.shape == x.shape
    assert torch.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
    assert report.startswith("Deep Image Prior:") and report.count("image ") >= shape[0]
    assert "estimated" in report
    assert calls


def test_node_iteration_cap_follows_the_device():
    from restorekit.operations.learned.dip import automatic_iterations
    from restorekit.params import get_operation

    assert get_operation("deep_image_prior").param("iterations").default == 0
    assert automatic_iterations(torch.device("cpu")) < automatic_iterations(torch.device("cuda")) == 3000
