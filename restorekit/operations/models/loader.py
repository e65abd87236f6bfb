"""Load Restoration Model: a pretrained network from a weights file."""

from __future__ import annotations

from ...params import Output, Param, operation


@operation(
    "load_restoration_model",
    display_name="Load Restoration Model",
    category="models",
    description=(
        "Loads a pretrained restoration network (DnCNN, FFDNet, DRUNet, SCUNet, NAFNet, SwinIR, Restormer, "
        "Real-ESRGAN and the other architectures spandrel knows) from a .pth/.pt/.ckpt/.safetensors file. The "
        "architecture is detected from the weights; files are read safely (no code execution), and a missing, "
        "corrupt or unrecognised file is an error, never a randomly initialised network."
    ),
    inputs=[
        Param("model_name", "model_file", "",
              help="The weights file: in ComfyUI a file in models/restorekit or models/upscale_models; on the "
              "command line a path."),
    ],
    outputs=[
        Output("model", "model", "The loaded model, for Restore With Model."),
        Output("info", "string", "Architecture, purpose, scale, channels, precision support and noise conditioning."),
    ],
    gpu=False,
)
def run_load_restoration_model(model_name):
    from ...models.loader import load_model  # imported lazily: spandrel is only needed when models are used

    model = load_model(model_name, device="cpu")
    return {"model": model, "info": model.summary()}
