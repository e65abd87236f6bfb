"""Fitting works whatever autograd state the caller (ComfyUI: inference mode) left."""

from __future__ import annotations

import torch

from restorekit.learned.training import autocast_dtype, gradients_enabled, needs_grad_scaler, trainable_copy


def test_fit_inside_inference_mode_on_an_inference_tensor():
    with torch.inference_mode():
        target = torch.full((1, 1, 4, 4), 0.75)
        assert target.is_inference()
        with gradients_enabled():
            data = trainable_copy(target)
            assert not data.is_inference() and not data.requires_grad
            weight = torch.zeros((), requires_grad=True)
            optimiser = torch.optim.SGD([weight], lr=0.5)
            for _ in range(20):
                optimiser.zero_grad()
                loss = ((weight - data) ** 2).mean()
                loss.backward()
                optimiser.step()
        assert abs(weight.item() - 0.75) < 1e-3


def test_gradients_enabled_restores_the_callers_state():
    with torch.no_grad():
        with gradients_enabled():
            assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        assert not torch.is_grad_enabled()
    with torch.inference_mode():
        with gradients_enabled():
            assert not torch.is_inference_mode_enabled()
        assert torch.is_inference_mode_enabled()


def test_autocast_choice():
    assert autocast_dtype(torch.device("cpu")) is None
    assert autocast_dtype(torch.device("cuda"), allow_half=False) is None
    assert needs_grad_scaler(torch.float16) and not needs_grad_scaler(torch.bfloat16) and not needs_grad_scaler(None)
