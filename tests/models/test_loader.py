"""Loading weights files: detection per architecture, equality with the module's own forward, errors."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import model_factory as mf  # noqa: E402

from restorekit.errors import InvalidImageError, InvalidParameterError, ModelLoadError  # noqa: E402
from restorekit.models import load_model, require_purpose, supported_architectures  # noqa: E402
from restorekit.models import loader as loader_mod  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EXTRA = mf.extra_arches_available()
CASE_NAMES = list(mf.CASES)


def _skip_extra(name: str) -> None:
    if mf.CASES[name].extra and not EXTRA:
        pytest.skip("spandrel_extra_arches is not installed")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each case built once: name -> (module, {fmt: path})."""
    folder = tmp_path_factory.mktemp("weights")
    out = {}
    for name, case in mf.CASES.items():
        if case.extra and not EXTRA:
            continue
        module = mf.build(name)
        out[name] = (module, {fmt: mf.save(module, folder / f"{name}.{fmt}") for fmt in ("pth", "safetensors")})
    return out


def _size_for(model, base: int = 32) -> int:
    pad_w, _ = model.descriptor.size_requirements.get_padding(base, base)
    return base + pad_w


# ----------------------------------------------------------------------------------------------
# every architecture, both formats
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
@pytest.mark.parametrize("name", CASE_NAMES)
def test_load_detects_and_matches_module(built, name, fmt):
    _skip_extra(name)
    case = mf.CASES[name]
    module, paths = built[name]
    model = load_model(paths[fmt])
    assert model.architecture == case.arch
    assert model.purpose == case.purpose
    assert model.scale == case.scale
    assert model.input_channels == case.channels == model.channels
    assert model.noise_conditional is case.conditional
    assert model.tiling in ("supported", "discouraged", "internal")
    assert model.size_multiple >= 1
    assert model.name == name
    assert case.arch in supported_architectures()
    s = _size_for(model)
    x = torch.rand(2, case.channels, s, s, generator=torch.Generator().manual_seed(1))
    ours = model(x, clamp=False)
    ref = mf.reference_forward(name, module, x)
    assert ours.shape == (2, model.output_channels, s * case.scale, s * case.scale)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["DnCNN", "FDnCNN", "FFDNet", "FFDNetIPOL", "DRUNet", "NAFNet", "SwinIR-x2",
                                  "RealESRGAN-x4", "Compact-x2", "Restormer"])
def test_odd_size_matches_spandrel_call(built, name):
    """At an odd size our padding + default noise level give what spandrel's own call gives."""
    _skip_extra(name)
    case = mf.CASES[name]
    model = load_model(built[name][1]["pth"])
    x = torch.rand(1, case.channels, 13, 21, generator=torch.Generator().manual_seed(2))
    ours = model(x)
    theirs = model.descriptor(x)
    assert ours.shape == (1, case.channels, 13 * case.scale, 21 * case.scale)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert float(ours.min()) >= 0 and float(ours.max()) <= 1


@pytest.mark.parametrize("name", ["FDnCNN", "FFDNet", "DRUNet", "NAFNet"])
def test_batch_consistency_and_tiny_sizes(built, name):
    model = load_model(built[name][1]["safetensors"])
    c = mf.CASES[name].channels
    x = torch.rand(3, c, 9, 7, generator=torch.Generator().manual_seed(3))
    full = model(x)
    for i in range(3):
        torch.testing.assert_close(full[i : i + 1], model(x[i : i + 1]), atol=1e-5, rtol=0)
    for h, w in ((1, 1), (3, 5), (2, 9)):
        out = model(torch.rand(2, c, h, w))
        assert out.shape == (2, c, h, w) and torch.isfinite(out).all()


def test_dtype_device_and_layout_kept(built):
    model = load_model(built["FFDNet"][1]["pth"])
    x = torch.rand(2, 3, 16, 20, dtype=torch.float64)
    out = model(x)
    assert out.dtype == torch.float64 and out.device == x.device
    xc = x.to(torch.float32).contiguous(memory_format=torch.channels_last)
    xt = x.to(torch.float32).transpose(-1, -2)  # non-contiguous
    torch.testing.assert_close(model(xc), model(x.float()), atol=1e-6, rtol=0)
    assert model(xt).shape == (2, 3, 20, 16)


def test_to_dtype_rules(built):
    model = load_model(built["DRUNet"][1]["pth"])
    assert not model.supports_half and model.supports_bfloat16
    with pytest.raises(InvalidParameterError):
        model.to(dtype=torch.float16)
    model.to(dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16
    x = torch.rand(1, 3, 16, 16)
    out = model(x)
    assert out.dtype == torch.float32
    model.to(dtype=torch.float32)
    assert model.dtype == torch.float32


def test_device(built, device):
    model = load_model(built["FDnCNN"][1]["pth"], device=device)
    assert model.device.type == device.type
    x = torch.rand(2, 3, 16, 16, device=device)
    out = model(x, torch.full((2,), 0.1, device=device))
    assert out.device.type == device.type and out.shape == x.shape
    cpu = load_model(built["FDnCNN"][1]["pth"])(x.cpu(), torch.full((2,), 0.1))
    torch.testing.assert_close(out.cpu(), cpu, atol=1e-4, rtol=0)


def test_summary_and_repr(built):
    model = load_model(built["DRUNet"][1]["safetensors"])
    text = model.summary()
    assert "DRUNet" in text and "noise-conditional" in text and "15/255" in text and "denoise" in text
    assert "SwinIR" in load_model(built["SwinIR-x2"][1]["pth"]).summary()
    assert "DRUNet" in repr(model)


def test_channel_mismatch_rejected(built):
    model = load_model(built["FFDNet-gray"][1]["pth"])
    with pytest.raises(InvalidImageError, match="channels"):
        model(torch.rand(1, 3, 8, 8))
    with pytest.raises(InvalidImageError):
        model(torch.rand(1, 8, 8))


# ----------------------------------------------------------------------------------------------
# containers and extensions
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".pt", ".ckpt"])
def test_other_extensions_and_wrapped_checkpoints(built, tmp_path, ext):
    module = built["FDnCNN"][0]
    path = mf.save(module, tmp_path / f"wrapped{ext}", wrap="params_ema")
    model = load_model(path)
    assert model.architecture == "DnCNN" and model.noise_conditional
    # DataParallel prefix and extra non-tensor entries in a training checkpoint
    sd = {f"module.{k}": v for k, v in module.state_dict().items()}
    torch.save({"state_dict": sd, "epoch": 3, "note": "x"}, tmp_path / f"train{ext}")
    assert load_model(tmp_path / f"train{ext}").architecture == "DnCNN"


def test_extension_lies_content_decides(built, tmp_path):
    src = built["NAFNet"][1]["safetensors"]
    fake = tmp_path / "nafnet.pth"
    fake.write_bytes(src.read_bytes())
    assert load_model(fake).architecture == "NAFNet"


def test_search_dirs(built, tmp_path):
    folder = built["DRUNet"][1]["pth"].parent
    model = load_model("DRUNet.pth", search_dirs=[tmp_path, folder])
    assert model.architecture == "DRUNet"


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------


def test_missing_file_lists_where_we_looked(built, tmp_path):
    folder = built["DRUNet"][1]["pth"].parent
    with pytest.raises(ModelLoadError) as err:
        load_model("DRUNett.pth", search_dirs=[tmp_path, folder])
    msg = str(err.value)
    assert "not found" in msg and str(tmp_path) in msg and str(folder) in msg
    assert "DRUNet.pth" in msg  # similar name suggested
    with pytest.raises(ModelLoadError, match="not found"):
        load_model(tmp_path / "nothing.safetensors")


@pytest.mark.parametrize(
    "name,content",
    [
        ("garbage.pth", b"this is not a checkpoint at all" * 10),
        ("empty.pth", b""),
        ("broken_pickle.pth", b"\x80\x02garbage"),
        ("truncated_zip.pth", None),
        ("garbage.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}"),
        ("text.safetensors", b"hello"),
    ],
)
def test_corrupt_file(built, tmp_path, name, content):
    path = tmp_path / name
    if content is None:
        data = built["DnCNN"][1]["pth"].read_bytes()
        content = data[: len(data) // 2]
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match="could not be read|damaged"):
        load_model(path)


def test_unsupported_extension(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="extension"):
        load_model(path)


def test_unknown_architecture(tmp_path):
    g = torch.Generator().manual_seed(0)
    sd = {"encoder.layer1.weight": torch.randn(8, 3, 3, 3, generator=g), "decoder.out.bias": torch.randn(3)}
    torch.save(sd, tmp_path / "mystery.pth")
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path / "mystery.pth")
    msg = str(err.value)
    assert "unknown architecture" in msg and "encoder.layer1.weight" in msg
    assert "DRUNet" in msg and "FFDNet" in msg and "SwinIR" in msg  # the supported list
    assert "report it" in msg and "http" not in msg  # how to report, without a link to a non-existent page


def test_incomplete_weights_refused(built, tmp_path):
    """Keys that match an architecture but miss weights: never run with random weights."""
    sd = dict(built["DRUNet"][0].state_dict())
    del sd["m_tail.weight"]
    sd["m_tail.weight_typo"] = torch.zeros(1)
    torch.save(sd, tmp_path / "partial.pth")
    with pytest.raises(ModelLoadError, match="random weights|do not fit|unknown"):
        load_model(tmp_path / "partial.pth")
    sd = dict(built["SwinIR"][0].state_dict())
    sd["conv_first.weight"] = sd["conv_first.weight"][:, :2]  # wrong shape
    torch.save(sd, tmp_path / "bad_shape.pth")
    with pytest.raises(ModelLoadError, match="do not fit"):
        load_model(tmp_path / "bad_shape.pth")


def test_verify_weights_catches_unloaded_parameters():
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 3, 1))
    sd = {k: v.clone() for k, v in module.state_dict().items()}
    assert loader_mod._verify_weights(module, sd) == []
    renamed = {"x." + k: v for k, v in sd.items()}  # found by value
    assert loader_mod._verify_weights(module, renamed) == []
    with torch.no_grad():
        module[1].weight.add_(1)  # as if left at its random initial value
    assert loader_mod._verify_weights(module, sd) == ["1.weight"]


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch " + str(MARKER),))


MARKER = Path("/tmp/restorekit_loader_test_pwned")


@pytest.mark.parametrize("zip_format", [True, False])
def test_pickled_code_refused(tmp_path, zip_format):
    if MARKER.exists():
        MARKER.unlink()
    path = tmp_path / "evil.pth"
    torch.save({"model.0.weight": torch.zeros(1), "payload": _Evil()}, path,
               _use_new_zipfile_serialization=zip_format)
    with pytest.raises(ModelLoadError, match="refused"):
        load_model(path)
    assert not MARKER.exists()
    # a whole pickled module (class reference) is refused too
    torch.save(nn.Conv2d(1, 1, 1), tmp_path / "module.pth")
    with pytest.raises(ModelLoadError, match="refused"):
        load_model(tmp_path / "module.pth")


def test_raw_pickle_with_code_refused(tmp_path):
    if MARKER.exists():
        MARKER.unlink()
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"w": _Evil()}, protocol=2))
    with pytest.raises(ModelLoadError):
        load_model(path)
    assert not MARKER.exists()


def test_torchscript_refused(tmp_path):
    scripted = torch.jit.script(nn.Conv2d(3, 3, 3))
    path = tmp_path / "scripted.pt"
    scripted.save(str(path))
    with pytest.raises(ModelLoadError, match="TorchScript"):
        load_model(path)


def test_inpainting_model_refused(monkeypatch):
    from spandrel import Architecture, ArchSupport, MaskedImageModelDescriptor

    class TinyInpaint(nn.Module):
        def __init__(self):
            super().__init__()
            self.inpaint_head = nn.Conv2d(4, 3, 1)

        def forward(self, image, mask):
            return self.inpaint_head(torch.cat([image, mask], 1))

    class TinyInpaintArch(Architecture[TinyInpaint]):
        def __init__(self):
            super().__init__(id="TinyInpaint", detect=lambda sd: "inpaint_head.weight" in sd)

        def load(self, state_dict):
            return MaskedImageModelDescriptor(
                TinyInpaint(), state_dict, architecture=self, purpose="Inpainting", tags=[], supports_half=True,
                supports_bfloat16=True, input_channels=3, output_channels=3,
            )

    registry = loader_mod._registry().copy()
    registry.add(ArchSupport.from_architecture(TinyInpaintArch()))
    monkeypatch.setattr(loader_mod, "_registry", lambda: registry)
    with pytest.raises(ModelLoadError, match="inpainting"):
        loader_mod.model_from_state_dict(dict(TinyInpaint().state_dict()), name="lama")


def test_require_purpose(built):
    sr = load_model(built["RealESRGAN-x4"][1]["safetensors"])
    with pytest.raises(ModelLoadError) as err:
        require_purpose(sr, ("denoise", "restore"), role="Denoise With Model")
    msg = str(err.value)
    assert "super-resolution" in msg and "Denoise With Model" in msg and "denoise or restore" in msg
    require_purpose(sr, ("sr",))
    require_purpose(load_model(built["SCUNet"][1]["pth"]), ("denoise", "restore"))
