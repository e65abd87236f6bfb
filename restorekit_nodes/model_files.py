"""Where ComfyUI keeps restoration weights: our own model folder, plus ``upscale_models``.

``models/restorekit`` is registered with ComfyUI's ``folder_paths`` (so ``extra_model_paths.yaml``
can point elsewhere too) and created when the pack loads; files already in ``models/upscale_models``
are offered as well, shown with an ``upscale_models/`` prefix. The ``restorekit`` folders are handed
to the core (:func:`restorekit.models.folders.set_model_dirs`), so its default download folder is
ComfyUI's. Without ComfyUI, a model file name is taken as a path.

The combo always starts with :data:`BUILTIN_CHOICE`, the denoiser shipped with restorekit. (Before it
existed, when no weights file was found, the combo offered :data:`NO_MODEL_FILES` instead of nothing:
ComfyUI's front end sends no value for an empty combo, and the server then answers with its
generic "Required input is missing" before the node runs; a workflow saved with that value still gets
the error of :func:`resolve_model_file`, which says where to put files and how to get them.)
"""

from __future__ import annotations

import difflib
import logging
import os

from ..restorekit.errors import InvalidParameterError, ModelLoadError, RestoreError
from ..restorekit.models.folders import set_model_dirs

log = logging.getLogger("restorekit")

MODEL_FOLDER = "restorekit"
UPSCALE_FOLDER = "upscale_models"
WEIGHT_EXTENSIONS = {".pth", ".pt", ".ckpt", ".safetensors", ".sft"}
NO_MODEL_FILES = "(no weights files found)"
"""The only option of the model combo while no weights file is found (never a real file name)."""
BUILTIN_CHOICE = "restorekit built-in denoiser"
"""The first option of the model combo: the weights shipped with restorekit (load_model knows the name)."""

_creation_tried: set[str] = set()


def _folder_paths():
    try:
        import folder_paths
    except ImportError:
        return None
    return folder_paths


def _create_folder(path: str) -> None:
    """Create ``path`` once per process; on failure (read-only install, permissions) log a warning."""
    if path in _creation_tried:
        return
    _creation_tried.add(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        log.warning("restorekit: could not create the model folder %s (%s); create it by hand, or map "
                    "'restorekit:' to a writable folder in extra_model_paths.yaml.", path, err)


def register_model_folder() -> None:
    """Make ``models/restorekit`` a ComfyUI model folder and create it (no-op outside ComfyUI).

    Also hands the ``restorekit`` folders to the core, most preferred first. Never raises for a
    folder that cannot be created (the pack must still load); that is logged as a warning.
    """
    fp = _folder_paths()
    if fp is None:
        return
    default = os.path.join(fp.models_dir, MODEL_FOLDER)
    _create_folder(default)
    paths, extensions = fp.folder_names_and_paths.get(MODEL_FOLDER, ([], set()))
    if default not in paths:
        paths = [*paths, default]
    fp.folder_names_and_paths[MODEL_FOLDER] = (paths, set(extensions) | WEIGHT_EXTENSIONS)
    set_model_dirs(paths)


def _file_names(fp) -> list[str]:
    names = list(fp.get_filename_list(MODEL_FOLDER))
    if UPSCALE_FOLDER in fp.folder_names_and_paths:
        names += [f"{UPSCALE_FOLDER}/{n}" for n in fp.get_filename_list(UPSCALE_FOLDER)]
    return names


def model_file_choices() -> list[str]:
    """The weights files a user can pick in the Load Restoration Model node.

    Outside ComfyUI: empty. Inside ComfyUI: :data:`BUILTIN_CHOICE` first, then the files found, so the
    model nodes work with no file at all.
    """
    fp = _folder_paths()
    if fp is None:
        return []
    register_model_folder()
    return [BUILTIN_CHOICE, *_file_names(fp)]


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


def missing_model_message() -> str:
    """How to get a weights file where the node finds it: the "Fix:" text of the missing-file errors."""
    folders = searched_folders()
    where = " or ".join(folders) if folders else "ComfyUI/models/restorekit"
    dest = folders[0] if folders else "ComfyUI/models/restorekit"
    return (
        f"put a weights file (.pth, .pt, .ckpt, .safetensors) into {where}, then refresh ComfyUI (press R) and "
        "choose it in Load Restoration Model. To download the official published weights, run "
        "`restorekit weights list` to see their names and "
        f'`restorekit weights fetch NAME --dest "{dest}"` to download and verify one (see docs/MODELS.md).'
    )


def missing_model_error(name: str | None, subject: str = "model_name") -> RestoreError:
    """The error for no chosen file (``name`` empty, None or :data:`NO_MODEL_FILES`) or a file not found."""
    folders = searched_folders()
    looked = f"the model folders ({', '.join(folders)})" if folders else "the model folders"
    fp = _folder_paths()
    names = _file_names(fp) if fp is not None else []
    if not name or not name.strip() or name == NO_MODEL_FILES:
        problem = "no weights file was chosen" + ("" if names else f", and none was found in {looked}") + "."
        return InvalidParameterError(subject, problem, missing_model_message())
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    similar = f" Similar files: {', '.join(close)}." if close else ""
    return ModelLoadError(f"model file '{name}'", f"was not found in {looked}.{similar}", missing_model_message())


def resolve_model_file(name: str) -> str:
    """Absolute path of a chosen model file; outside ComfyUI ``name`` itself (a path for the loader).

    Inside ComfyUI, an empty name, :data:`NO_MODEL_FILES`, or a name found in none of the model
    folders (and not an existing absolute path) raises :func:`missing_model_error`:
    an :class:`InvalidParameterError` or :class:`ModelLoadError` naming the folders searched and how
    to fetch weights.
    """
    fp = _folder_paths()
    if fp is None or not isinstance(name, str) or name == BUILTIN_CHOICE:
        return name
    register_model_folder()
    if not name.strip() or name == NO_MODEL_FILES:
        raise missing_model_error(name)
    folder, rest = MODEL_FOLDER, name
    if name.startswith(UPSCALE_FOLDER + "/") and UPSCALE_FOLDER in fp.folder_names_and_paths:
        folder, rest = UPSCALE_FOLDER, name[len(UPSCALE_FOLDER) + 1 :]
    found = fp.get_full_path(folder, rest)
    if found:
        return found
    if os.path.isabs(name) and os.path.isfile(name):  # a full path sent through the API
        return name
    raise missing_model_error(name)
