"""Where ComfyUI keeps restoration weights: our own model folder, plus ``upscale_models``.

``models/restorekit`` is registered with ComfyUI's ``folder_paths`` (so ``extra_model_paths.yaml``
can point elsewhere too); files already in ``models/upscale_models`` are offered as well, shown
with an ``upscale_models/`` prefix. Without ComfyUI, a model file name is taken as a path.
"""

from __future__ import annotations

import os

MODEL_FOLDER = "restorekit"
UPSCALE_FOLDER = "upscale_models"
WEIGHT_EXTENSIONS = {".pth", ".pt", ".ckpt", ".safetensors", ".sft"}


def _folder_paths():
    try:
        import folder_paths
    except ImportError:
        return None
    return folder_paths


def register_model_folder() -> None:
    """Make ``models/restorekit`` a ComfyUI model folder (no-op outside ComfyUI)."""
    fp = _folder_paths()
    if fp is None:
        return
    default = os.path.join(fp.models_dir, MODEL_FOLDER)
    paths, extensions = fp.folder_names_and_paths.get(MODEL_FOLDER, ([], set()))
    if default not in paths:
        paths = [*paths, default]
    fp.folder_names_and_paths[MODEL_FOLDER] = (paths, set(extensions) | WEIGHT_EXTENSIONS)


def model_file_choices() -> list[str]:
    """The weights files a user can pick in the Load Restoration Model node."""
    fp = _folder_paths()
    if fp is None:
        return []
    register_model_folder()
    names = list(fp.get_filename_list(MODEL_FOLDER))
    if UPSCALE_FOLDER in fp.folder_names_and_paths:
        names += [f"{UPSCALE_FOLDER}/{n}" for n in fp.get_filename_list(UPSCALE_FOLDER)]
    return names


def resolve_model_file(name: str) -> str:
    """Absolute path of a chosen model file; outside ComfyUI (or when not found) ``name`` itself.

    A name that is not found is passed on unchanged so the loader reports the missing file
    with the folders it looked in.
    """
    fp = _folder_paths()
    if fp is None or not isinstance(name, str) or not name:
        return name
    register_model_folder()
    folder, rest = MODEL_FOLDER, name
    if name.startswith(UPSCALE_FOLDER + "/") and UPSCALE_FOLDER in fp.folder_names_and_paths:
        folder, rest = UPSCALE_FOLDER, name[len(UPSCALE_FOLDER) + 1 :]
    found = fp.get_full_path(folder, rest)
    return found if found else name


def searched_folders() -> list[str]:
    """The folders Load Restoration Model looks in (for error messages)."""
    fp = _folder_paths()
    if fp is None:
        return []
    register_model_folder()
    folders = list(fp.get_folder_paths(MODEL_FOLDER))
    if UPSCALE_FOLDER in fp.folder_names_and_paths:
        folders += fp.get_folder_paths(UPSCALE_FOLDER)
    return folders
