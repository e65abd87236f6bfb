"""The command line, run in-process through restorekit.cli.main."""

from __future__ import annotations

import json

import numpy as np
import pytest

from restorekit.cli import main
from restorekit.io import read_image, write_image


@pytest.fixture
def noisy_files(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    base = np.linspace(0, 1, 40 * 32, dtype=np.float32).reshape(40, 32, 1).repeat(3, axis=2)
    for i, depth in enumerate((8, 16)):
        noisy = np.clip(base + rng.normal(0, 0.08, base.shape), 0, 1).astype(np.float32)
        write_image(folder / f"img{i}.png", noisy, depth)
    return folder


def test_list_and_info(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("wavelet_denoise", "nlm_denoise", "estimate_noise", "unsharp_mask", "clahe", "make_psf",
                 "richardson_lucy", "wiener_deconvolution", "quality_metrics", "compare"):
        assert name in out
    assert main(["info", "wavelet_denoise"]) == 0
    assert "0-255" in capsys.readouterr().out


def test_unknown_operation_is_a_clear_error(capsys):
    assert main(["info", "nope"]) == 2
    assert "restorekit list" in capsys.readouterr().err


def test_run_on_a_folder_keeps_bit_depth(noisy_files, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "wavelet_denoise", str(noisy_files), "-o", str(out), "--sigma", "20", "--quiet"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["img0.png", "img1.png"]
    assert read_image(out / "img0.png").bit_depth == 8
    assert read_image(out / "img1.png").bit_depth == 16
    before = read_image(noisy_files / "img0.png").pixels
    after = read_image(out / "img0.png").pixels
    assert np.abs(np.diff(after, axis=1)).mean() < np.abs(np.diff(before, axis=1)).mean()


def test_run_single_file_float_tiff_and_bad_parameter(noisy_files, tmp_path, capsys):
    target = tmp_path / "x.tif"
    assert main(["run", "unsharp_mask", str(noisy_files / "img1.png"), "-o", str(target), "--bit-depth", "32",
                 "--quiet"]) == 0
    assert read_image(target).bit_depth == 32
    assert main(["run", "wavelet_denoise", str(noisy_files / "img0.png"), "-o", str(target), "--sigma", "999"]) == 2
    assert "allowed range" in capsys.readouterr().err


def test_run_with_psf_and_numbers_as_json(noisy_files, tmp_path, capsys):
    out = tmp_path / "deblurred.png"
    assert main(["run", "wiener_deconvolution", str(noisy_files / "img0.png"), "-o", str(out),
                 "--psf", "gaussian,sigma=1.5", "--quiet"]) == 0
    assert out.is_file()
    capsys.readouterr()
    assert main(["run", "estimate_noise", str(noisy_files / "img0.png"), "-o", str(tmp_path), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    assert 15 < record["sigma"] < 26  # 0.08 * 255 = 20.4 grey levels


def test_compare_combines_inputs(noisy_files, tmp_path):
    out = tmp_path / "grid.png"
    assert main(["run", "compare", str(noisy_files / "img0.png"), str(noisy_files / "img1.png"), "-o", str(out),
                 "--labels", "a,b", "--quiet"]) == 0
    assert read_image(out).pixels.shape[1] > 2 * 32


@pytest.mark.slow
def test_demo_writes_outputs_and_improves_psnr(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path)]) == 0
    for name in ("clean.png", "degraded.png", "restored.png", "compare.png", "report.txt"):
        assert (tmp_path / name).is_file()
    report = (tmp_path / "report.txt").read_text()
    assert "PSNR degraded" in report


def test_make_psf_writes_a_kernel_that_psf_reads_back(noisy_files, tmp_path, capsys):
    import torch

    from restorekit.deblur.psf import motion_psf
    from restorekit.kinds import KINDS, Context
    from restorekit.params import get_operation

    assert main(["run", "make_psf", "-o", str(tmp_path / "motion.png"), "--shape", "motion", "--length", "9.5",
                 "--angle", "30"]) == 0
    kernel_file = tmp_path / "motion_psf.tif"
    assert kernel_file.is_file() and (tmp_path / "motion.png").is_file()
    psf_input = get_operation("richardson_lucy").param("psf")
    read_back = KINDS["psf"].from_text(psf_input, str(kernel_file), Context()).kernel  # as `--psf FILE` reads it
    expected = motion_psf(9.5, 30).kernel
    ph, pw = (expected.shape[0] - read_back.shape[0]) // 2, (expected.shape[1] - read_back.shape[1]) // 2
    assert torch.allclose(torch.nn.functional.pad(read_back, (pw, pw, ph, ph)), expected, atol=1e-6)
    out = tmp_path / "sharp.png"
    assert main(["run", "richardson_lucy", str(noisy_files / "img0.png"), "-o", str(out), "--psf", str(kernel_file),
                 "--iterations", "5", "--quiet"]) == 0
    assert out.is_file()
    assert main(["run", "make_psf", str(noisy_files / "img0.png"), "-o", str(out)]) == 2
    assert main(["run", "richardson_lucy", str(noisy_files / "img0.png"), "-o", str(out), "--psf", "nope.png"]) == 2
    assert "not found" in capsys.readouterr().err


def test_weights_subcommand_lists_the_catalogue(capsys):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "drunet" in out.lower() and "realesrgan" in out.lower()
    assert main(["weights", "fetch", "no-such-model", "--dest", "."]) == 2
    assert "not in the catalogue" in capsys.readouterr().err
