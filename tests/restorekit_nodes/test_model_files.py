"""Model folder registration and file resolution, with a stand-in for ComfyUI's folder_paths."""

from __future__ import annotations

import importlib
import os
import sys
import types

import pytest
from pack import PACK_MODULE, load_pack, v1_classes

from restorekit.errors import InvalidParameterError
from restorekit.params import Param


@pytest.fixture
def nodes():
    return load_pack()


@pytest.fixture
def files(nodes):
    return sys.modules[nodes.__name__ + ".restorekit_nodes.model_files"]


@pytest.fixture
def core_folders(nodes, monkeypatch):
    """The pack's copy of restorekit.models.folders, its configured folders restored afterwards."""
    module = sys.modules[nodes.__name__ + ".restorekit.models.folders"]
    monkeypatch.setattr(module, "_model_dirs", ())
    return module


def _errors(nodes):
    """The pack's copy of restorekit.errors (the classes its code raises)."""
    return sys.modules[nodes.__name__ + ".restorekit.errors"]


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


def test_choices_empty_and_names_kept_without_comfy(files, monkeypatch):
    monkeypatch.setitem(sys.modules, "folder_paths", None)
    assert files.model_file_choices() == []
    assert files.resolve_model_file("/some/path.pth") == "/some/path.pth"
    assert files.resolve_model_file("") == ""  # the core's Param.to_core reports it
    files.register_model_folder()  # no-op


def test_folder_registered_and_both_folders_listed(files, fake_folder_paths, core_folders):
    choices = files.model_file_choices()
    assert choices == [files.BUILTIN_CHOICE, "drunet_color.pth", "upscale_models/RealESRGAN_x4plus.pth"]
    assert ".safetensors" in fake_folder_paths.folder_names_and_paths["restorekit"][1]
    resolved = files.resolve_model_file("upscale_models/RealESRGAN_x4plus.pth")
    assert os.path.isabs(resolved) and resolved.endswith(os.path.join("upscale_models", "RealESRGAN_x4plus.pth"))
    assert files.resolve_model_file("drunet_color.pth").endswith(os.path.join("restorekit", "drunet_color.pth"))
    assert len(files.searched_folders()) == 2


def test_model_folders_are_handed_to_the_core(files, fake_folder_paths, core_folders, tmp_path):
    """The first restorekit folder (extra_model_paths.yaml's, else models/restorekit) is the download default."""
    files.register_model_folder()
    default = tmp_path / "models" / "restorekit"
    assert core_folders.model_dirs() == (default,)
    assert core_folders.default_model_dir() == default
    fake_folder_paths.folder_names_and_paths["restorekit"] = ([str(tmp_path / "elsewhere")], {".pth"})
    files.register_model_folder()
    assert core_folders.model_dirs() == (tmp_path / "elsewhere", default)
    assert core_folders.default_model_dir() == tmp_path / "elsewhere"
    weights = importlib.import_module(PACK_MODULE + ".restorekit.models.weights")
    assert weights.default_model_dir() == tmp_path / "elsewhere"


def test_model_folder_is_created_when_the_pack_loads(files, fake_folder_paths, core_folders, tmp_path):
    models = tmp_path / "fresh" / "models"
    models.mkdir(parents=True)
    fake_folder_paths.models_dir = str(models)
    files.register_model_folder()
    assert (models / "restorekit").is_dir()
    files.register_model_folder()  # again: no error


def test_unwritable_model_folder_only_warns(files, fake_folder_paths, core_folders, tmp_path, caplog):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    fake_folder_paths.models_dir = str(blocker / "models")  # cannot be created: a file is in the way
    with caplog.at_level("WARNING", logger="restorekit"):
        files.register_model_folder()  # must not raise: the pack has to load
    assert str(blocker / "models" / "restorekit") in caplog.text
    assert not (blocker / "models").exists()


@pytest.fixture
def empty_folder_paths(fake_folder_paths, tmp_path):
    for sub in ("restorekit", "upscale_models"):
        for f in (tmp_path / "models" / sub).iterdir():
            f.unlink()
    return fake_folder_paths


def _assert_explains_where_and_how(message: str, tmp_path) -> None:
    assert str(tmp_path / "models" / "restorekit") in message  # where to put files
    assert str(tmp_path / "models" / "upscale_models") in message
    assert "restorekit weights list" in message  # how to get them
    assert f'restorekit weights fetch NAME --dest "{tmp_path / "models" / "restorekit"}"' in message
    assert "http" not in message


def test_empty_folders_offer_the_builtin_and_explain_a_placeholder(nodes, files, empty_folder_paths, core_folders,
                                                                   tmp_path):
    assert files.model_file_choices() == [files.BUILTIN_CHOICE]
    assert files.resolve_model_file(files.BUILTIN_CHOICE) == files.BUILTIN_CHOICE  # the loader knows the name
    for value in (files.NO_MODEL_FILES, "", "  "):
        with pytest.raises(_errors(nodes).InvalidParameterError) as info:
            files.resolve_model_file(value)
        message = str(info.value)
        assert message.startswith("model_name: no weights file was chosen, and none was found")
        _assert_explains_where_and_how(message, tmp_path)


def test_file_not_found_explains(nodes, files, fake_folder_paths, core_folders, tmp_path):
    with pytest.raises(_errors(nodes).ModelLoadError) as info:
        files.resolve_model_file("drunet_colour.pth")
    message = str(info.value)
    assert "model file 'drunet_colour.pth': was not found" in message
    assert "Similar files: drunet_color.pth" in message
    _assert_explains_where_and_how(message, tmp_path)
    existing = tmp_path / "models" / "restorekit" / "drunet_color.pth"
    assert files.resolve_model_file(str(existing)) == str(existing)  # a full path sent through the API


def test_load_node_with_no_files_offers_the_builtin_and_a_stale_placeholder_explains(
    nodes, empty_folder_paths, core_folders, tmp_path
):
    cls = v1_classes()["RK_LoadRestorationModel"]
    choices = cls.INPUT_TYPES()["required"]["model_name"][0]
    module = sys.modules[nodes.__name__ + ".restorekit_nodes.model_files"]
    assert choices == [module.BUILTIN_CHOICE]
    with pytest.raises(_errors(nodes).InvalidParameterError) as info:  # a workflow saved with the old placeholder
        getattr(cls(), cls.FUNCTION)(model_name=module.NO_MODEL_FILES)
    _assert_explains_where_and_how(str(info.value), tmp_path)


def test_model_file_parameter_rejects_empty_choice():
    p = Param("model_name", "model_file", "", help="weights")
    assert p.to_core("/x/y.pth") == "/x/y.pth"
    with pytest.raises(InvalidParameterError, match="no weights file"):
        p.to_core("")
