"""What the nodes need from ComfyUI: devices, the progress bar, interruption.

Imported lazily so the pack imports (and its tests run) where ComfyUI is absent.
"""

from __future__ import annotations

import torch

from ..restorekit.io.folders import set_input_dir, set_output_dir
from ..restorekit.progress import ProgressCallback


def comfy_available() -> bool:
    try:
        import comfy.model_management  # noqa: F401
        import comfy.utils  # noqa: F401
    except ImportError:
        return False
    return True


def devices() -> tuple[torch.device | None, torch.device | None]:
    """(compute device, output device): ComfyUI's choice when present, else None (= keep)."""
    if not comfy_available():
        return None, None
    import comfy.model_management as mm

    return mm.get_torch_device(), mm.intermediate_device()


def progress_callback() -> ProgressCallback | None:
    """A callback that moves ComfyUI's progress bar and raises if the user interrupted."""
    if not comfy_available():
        return None
    import comfy.model_management as mm
    import comfy.utils

    mm.throw_exception_if_processing_interrupted()
    state: dict[str, comfy.utils.ProgressBar] = {}

    def callback(done: int, total: int) -> None:
        mm.throw_exception_if_processing_interrupted()
        bar = state.get("bar")
        if bar is None or bar.total != total:
            bar = state["bar"] = comfy.utils.ProgressBar(total)
        bar.update_absolute(done, total)

    return callback


def hand_over_folders() -> None:
    """Give the core ComfyUI's input and output folders (file nodes resolve names against them)."""
    try:
        import folder_paths
    except ImportError:
        return
    set_input_dir(folder_paths.get_input_directory())
    set_output_dir(folder_paths.get_output_directory())
