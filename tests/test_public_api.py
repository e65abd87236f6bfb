"""The public Python API: every exported name resolves, and errors read as ``restorekit.<Error>``."""

import importlib

import pytest
import torch

import restorekit

PACKAGES = ["restorekit", "restorekit.denoise", "restorekit.deblur", "restorekit.enhance", "restorekit.sharpen", "restorekit.grain",
            "restorekit.quality", "restorekit.learned", "restorekit.models"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package):
    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_top_level_functions_are_the_core_ones():
    from restorekit.sharpen.unsharp import unsharp_mask

    assert restorekit.unsharp_mask is unsharp_mask
    x = torch.rand(1, 3, 16, 16)
    assert restorekit.run("unsharp_mask", image=x)["image"].shape == x.shape


def test_errors_are_named_after_the_package():
    # ComfyUI prints the error's module + class name: this reads "restorekit.InvalidImageError",
    # not the custom-node folder's path.
    for error in (restorekit.RestoreError, restorekit.InvalidImageError, restorekit.ModelLoadError):
        assert error.__module__ == "restorekit" and getattr(restorekit, error.__name__) is error
    with pytest.raises(restorekit.InvalidImageError) as caught:
        restorekit.unsharp_mask(torch.rand(1, 5, 4, 4))
    assert f"{type(caught.value).__module__}.{type(caught.value).__qualname__}" == "restorekit.InvalidImageError"
