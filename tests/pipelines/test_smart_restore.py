"""Smart Restore: PSNR gains on degraded CBSD68 crops, clean images untouched, reasons reported."""

from __future__ import annotations

import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.errors import InvalidParameterError
from restorekit.params import run
from restorekit.pipelines.smart import smart_restore
from restorekit.quality.metrics import psnr

from .degradations import degraded_classes, noisy

T = ALL_THRESHOLDS["pipelines"]
NAMES = ["101085", "102061", "103070"]




def classes():
    x = torch.cat([im[..., 100:244, 60:204] for im in support.load_set("CBSD68", names=NAMES)])
    return x, degraded_classes(x)


def test_psnr_improves_on_every_degraded_class_and_report_names_it():
    x, cls = classes()
    for name, (d, degradation) in cls.items():
        r = smart_restore(d)
        gain = psnr(r.image, x) - psnr(d, x)
        assert (gain > T["smart_min_gain_db"]).all(), (name, gain)
        assert gain.mean() > T["smart_mean_gain_db"][name], (name, gain)
        assert all(degradation in p.degradations for p in r.plans), (name, [p.degradations for p in r.plans])
        assert f"found {degradation}" in r.report or f", {degradation}" in r.report


def test_clean_images_come_back_unchanged():
    x, _ = classes()
    r = smart_restore(x)
    assert (psnr(r.image, x) >= T["smart_clean_min_psnr_db"]).all()
    assert r.report.count("nothing to restore") == x.shape[0]


def test_strength_zero_and_checks():
    x = support.load_set("CBSD68", names=NAMES[:1])[0][..., :48, :40]
    r = smart_restore(x, strength=0.0)
    assert torch.equal(r.image, x)
    assert "strength 0" in r.report
    with pytest.raises(InvalidParameterError, match="strength"):
        smart_restore(x, strength=3.0)
    with pytest.raises(InvalidParameterError, match="model"):
        smart_restore(x, denoise_method="model")


def test_a_failing_stage_raises_its_error(monkeypatch):
    import dataclasses

    from restorekit.errors import AlgorithmError
    from restorekit.params import OPERATIONS, get_operation

    x, cls = classes()
    d = cls["noise"][0][:1]
    op = get_operation("wavelet_denoise")

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setitem(OPERATIONS, "wavelet_denoise", dataclasses.replace(op, func=broken))
    with pytest.raises(AlgorithmError, match="denoise stage") as info:
        smart_restore(d, denoise_method="wavelet")
    assert isinstance(info.value.__cause__, RuntimeError)


def test_node_defaults_through_run():
    x = support.load_set("CBSD68", names=NAMES[:1])[0][..., :64, :64]
    out = run("smart_restore", image=noisy(x, 20, 4))
    assert out["image"].shape == x.shape and "Smart Restore" in out["report"]
    assert "no model connected" in out["report"]


def test_runs_on_the_device_of_its_input(device):
    x, cls = classes()
    noisy_x = cls["noise"][0][:1]
    r = smart_restore(noisy_x.to(device))
    assert r.image.device.type == torch.device(device).type
    assert torch.isfinite(r.image).all() and psnr(r.image.cpu(), x[:1]) > psnr(noisy_x, x[:1])
