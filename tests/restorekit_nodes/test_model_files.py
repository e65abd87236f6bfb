"""Model folder registration and file resolution, with a stand-in for ComfyUI's folder_paths."""

from __future__ import annotations

import os
import sys
import types

import pytest
from pack import load_pack

from restorekit.errors import InvalidParameterError
from restorekit.params import Param


@pytest.fixture
def nodes():
    return load_pack()


@pytest.fixture
def fake_folder_paths(tmp_path, monkeypatch):
    """A minimal folder_paths module with models/upscale_models holding one file each."""
    models = tmp_path / "models"
    (models / "restorekit").mkdir(parents=True)
    (models / "upscale_models").mkdir()
    (models / "restorekit" / "drunet_color.pth").write_bytes(b"x")
    (models / "upscale_models" / "RealESRGAN_x4plus.pth").write_bytes(b"x")
    module = types.ModuleType("folder_paths")
    module.models_dir = str(models)
    module.folder_names_and_paths = {"upscale_models": ([str(models / "upscale_models")], {".pth"})}

    def get_filename_list(folder):
        paths, exts = module.folder_names_and_paths[folder]
        return sorted(f for p in paths if os.path.isdir(p) for f in os.listdir(p) if os.path.splitext(f)[1] in exts)

    def get_full_path(folder, name):
        for p in module.folder_names_and_paths[folder][0]:
            if os.path.isfile(os.path.join(p, name)):
                return os.path.join(p, name)
        return None

    module.get_filename_list = get_filename_list
    module.get_full_path = get_full_path
    module.get_folder_paths = lambda folder: list(module.folder_names_and_paths[folder][0])
    monkeypatch.setitem(sys.modules, "folder_paths", module)
    return module


def test_choices_empty_and_names_kept_without_comfy(nodes, monkeypatch):
    monkeypatch.setitem(sys.modules, "folder_paths", None)
    files = sys.modules[nodes.__name__ + ".restorekit_nodes.model_files"]
    assert files.model_file_choices() == []
    assert files.resolve_model_file("/some/path.pth") == "/some/path.pth"


def test_folder_registered_and_both_folders_listed(nodes, fake_folder_paths):
    files = sys.modules[nodes.__name__ + ".restorekit_nodes.model_files"]
    choices = files.model_file_choices()
    assert choices == ["drunet_color.pth", "upscale_models/RealESRGAN_x4plus.pth"]
    assert ".safetensors" in fake_folder_paths.folder_names_and_paths["restorekit"][1]
    resolved = files.resolve_model_file("upscale_models/RealESRGAN_x4plus.pth")
    assert os.path.isabs(resolved) and resolved.endswith(os.path.join("upscale_models", "RealESRGAN_x4plus.pth"))
    assert files.resolve_model_file("drunet_color.pth").endswith(os.path.join("restorekit", "drunet_color.pth"))
    assert files.resolve_model_file("missing.pth") == "missing.pth"
    assert len(files.searched_folders()) == 2


def test_model_file_parameter_rejects_empty_choice():
    p = Param("model_name", "model_file", "", help="weights")
    assert p.to_core("/x/y.pth") == "/x/y.pth"
    with pytest.raises(InvalidParameterError, match="no weights file"):
        p.to_core("")
