"""Restore Pipeline: presets monotone in strength, toggles, overrides, stage errors, CLI on a folder."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import support
import torch

from restorekit.cli import main
from restorekit.deblur.psf import gaussian_psf
from restorekit.errors import AlgorithmError, InvalidParameterError
from restorekit.io import write_image
from restorekit.params import OPERATIONS, get_operation
from restorekit.pipelines.restore import PRESETS, restore_pipeline
from restorekit.quality.metrics import laplacian_variance, rms_contrast

from .degradations import degraded_classes, noisy


def classes():
    """The degradations of the Smart Restore test, on 3 CBSD68 crops of 128 px."""
    x = torch.cat([im[..., 100:228, 60:188] for im in support.load_set("CBSD68", names=["101085", "102061", "103070"])])
    return x, degraded_classes(x)


def test_presets_are_monotone_in_sharpness_and_contrast():
    x, cls = classes()
    for name, d in [("clean", x)] + [(k, v[0]) for k, v in cls.items()]:
        outs = [restore_pipeline(d, preset=p).image for p in PRESETS]
        sharp = [float(laplacian_variance(o).mean()) for o in outs]
        contrast = [float(rms_contrast(o).mean()) for o in outs]
        assert all(a < b for a, b in zip(sharp, sharp[1:], strict=False)), (name, sharp)
        assert all(a < b for a, b in zip(contrast, contrast[1:], strict=False)), (name, contrast)


def _small():
    return support.load_set("CBSD68", names=["101085"])[0][..., :48, :40]


def test_toggles_off_leave_the_image_and_say_so():
    x = _small()
    r = restore_pipeline(x, denoise=False, deblur=False, contrast=False, color=False, sharpen=False)
    assert torch.equal(r.image, x)
    assert r.report.count("turned off") == 5


def test_overrides_are_applied_and_validated():
    x = _small()
    r = restore_pipeline(x, overrides="sharpen.amount=0.8\ncontrast.clip_limit=2.5", psf=gaussian_psf(1.0))
    assert "amount=0.8" in r.report and "clip_limit=2.5" in r.report and "given PSF" in r.report
    with pytest.raises(InvalidParameterError, match="unknown stage 'blur'"):
        restore_pipeline(x, overrides="blur.amount=1")
    with pytest.raises(InvalidParameterError, match="no parameter 'strenght'"):
        restore_pipeline(x, overrides="sharpen.strenght=1")
    with pytest.raises(InvalidParameterError, match="overrides"):
        restore_pipeline(x, overrides="sharpen.amount=99")
    with pytest.raises(InvalidParameterError, match="off"):
        restore_pipeline(x, sharpen=False, overrides="sharpen.amount=1")


def test_every_stage_failure_raises_the_stages_error(monkeypatch):
    x = _small()

    def broken(**kwargs):
        raise RuntimeError("boom")

    for stage, op in [("denoise", "wavelet_denoise"), ("deblur", "wiener_deconvolution"), ("contrast", "clahe"),
                      ("color", "color_enhance"), ("sharpen", "smart_sharpen")]:
        with monkeypatch.context() as m:
            m.setitem(OPERATIONS, op, dataclasses.replace(get_operation(op), func=broken))
            with pytest.raises(AlgorithmError, match=f"{stage} stage \\({op}\\)") as info:
                restore_pipeline(x, denoise_method="wavelet")
            assert isinstance(info.value.__cause__, RuntimeError)

    def invalid(**kwargs):
        raise InvalidParameterError("amount", "too much.", "less.")

    monkeypatch.setitem(OPERATIONS, "smart_sharpen", dataclasses.replace(get_operation("smart_sharpen"), func=invalid))
    with pytest.raises(InvalidParameterError, match="sharpen stage"):
        restore_pipeline(x)


def test_missing_operation_is_a_clear_error(monkeypatch):
    get_operation("clahe")
    monkeypatch.delitem(OPERATIONS, "tv_denoise", raising=False)
    with pytest.raises(AlgorithmError, match="tv_denoise"):
        restore_pipeline(_small(), denoise_method="tv")
    with pytest.raises(InvalidParameterError, match="model"):
        restore_pipeline(_small(), denoise_method="model")


def test_progress_and_batch():
    x = torch.cat([_small(), _small().flip(-1)])
    calls = []
    r = restore_pipeline(x, progress=lambda d, t: calls.append((d, t)))
    assert r.image.shape == x.shape and calls[-1][0] == calls[-1][1]
    # The per-image handling of the pipeline, with a denoiser that is exact per image. The built-in
    # network (the default when its weights ship) differs by ~2e-7 between batch sizes (oneDNN
    # convolution rounding, tested in tests/models/test_builtin.py), which deblurring amplifies to ~6e-5.
    one = restore_pipeline(x[1:], psf=gaussian_psf(1.0), denoise_method="wavelet").image
    batched = restore_pipeline(x, psf=gaussian_psf(1.0), denoise_method="wavelet").image
    assert torch.allclose(batched[1:], one, atol=1e-5)


def test_cli_on_a_two_file_folder(tmp_path, capsys):
    folder = tmp_path / "in"
    x = noisy(support.load_set("CBSD68", names=["102061"])[0][..., 100:164, 60:124], 10, 5)
    for i in range(2):
        write_image(folder / f"img{i}.png", x[0, :, :, i * 8:].permute(1, 2, 0).numpy().astype(np.float32), 8)
    for name in ("restore_pipeline", "smart_restore"):
        out = tmp_path / name
        assert main(["run", name, str(folder), "-o", str(out), "--quiet"]) == 0
        assert sorted(p.name for p in out.glob("*.png")) == ["img0.png", "img1.png"]
    assert main(["run", "restore_pipeline", str(folder), "-o", str(tmp_path / "x"), "--overrides", "blur.amount=1"]) == 2
    assert "unknown stage" in capsys.readouterr().err
