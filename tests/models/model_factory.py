"""Small real architectures with random weights, saved as weights files, for loader/restore tests.

Every builder constructs the network from its real class (spandrel's, spandrel_extra_arches', or
restorekit's own FFDNet) in a small configuration that spandrel's detection still recognises, with
weights drawn from a fixed seed, in eval mode.

Usage from a test in tests/models/ (pytest runs with --import-mode=importlib, so add the folder)::

    import sys, pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import model_factory

    module = model_factory.build("DRUNet")                         # torch module, eval mode
    path = model_factory.save(module, tmp_path / "drunet.pth")     # or .safetensors
    path = model_factory.make_file("FFDNet", tmp_path, "safetensors")

CASES maps a case name to a Case(arch, builder, conditional, scale, channels, extra): ``arch`` is the
architecture id the loader must report; ``conditional`` whether the model takes a noise map;
``extra`` whether it needs spandrel_extra_arches (callers skip those when it is missing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class Case:
    arch: str
    builder: Callable[[], nn.Module]
    conditional: bool = False
    scale: int = 1
    channels: int = 3
    extra: bool = False
    purpose: str = "restore"


def _dncnn(**kw):
    from spandrel.architectures.DnCNN import DnCNN

    return DnCNN(**kw)


def _ffdnet(**kw):
    from restorekit.models.architectures import FFDNet

    return FFDNet(**kw)


def _ffdnet_ipol(**kw):
    from restorekit.models.architectures import FFDNetIPOL

    return FFDNetIPOL(**kw)


def _drunet(**kw):
    from spandrel.architectures.DRUNet import DRUNet

    return DRUNet(**kw)


def _scunet(**kw):
    from spandrel.architectures.SCUNet import SCUNet

    return SCUNet(**kw)


def _nafnet(**kw):
    from spandrel.architectures.NAFNet import NAFNet

    return NAFNet(**kw)


def _swinir(**kw):
    from spandrel.architectures.SwinIR import SwinIR

    return SwinIR(**kw)


def _restormer(**kw):
    from spandrel_extra_arches.architectures.Restormer import Restormer

    return Restormer(**kw)


def _rrdbnet(**kw):
    from spandrel.architectures.ESRGAN import ESRGAN

    return ESRGAN(**kw)


def _compact(**kw):
    from spandrel.architectures.Compact import Compact

    return Compact(**kw)


def _span(**kw):
    from spandrel.architectures.SPAN import SPAN

    return SPAN(**kw)


CASES: dict[str, Case] = {
    "DnCNN": Case("DnCNN", lambda: _dncnn(in_nc=1, out_nc=1, nc=16, nb=8, act_mode="R"), channels=1,
                  purpose="denoise"),
    "DnCNN-BR": Case("DnCNN", lambda: _dncnn(in_nc=3, out_nc=3, nc=16, nb=6, act_mode="BR"), purpose="denoise"),
    "FDnCNN": Case("DnCNN", lambda: _dncnn(in_nc=4, out_nc=3, nc=16, nb=8, act_mode="R", mode="FDnCNN"),
                   conditional=True, purpose="denoise"),
    "FDnCNN-gray": Case("DnCNN", lambda: _dncnn(in_nc=2, out_nc=1, nc=16, nb=8, act_mode="R", mode="FDnCNN"),
                        conditional=True, channels=1, purpose="denoise"),
    "FFDNet": Case("FFDNet", lambda: _ffdnet(in_nc=3, out_nc=3, nc=16, nb=5), conditional=True, purpose="denoise"),
    "FFDNet-gray": Case("FFDNet", lambda: _ffdnet(in_nc=1, out_nc=1, nc=16, nb=8), conditional=True, channels=1,
                        purpose="denoise"),
    "FFDNetIPOL": Case("FFDNetIPOL", lambda: _ffdnet_ipol(in_nc=3, nc=16, layers=5), conditional=True,
                       purpose="denoise"),
    "DRUNet": Case("DRUNet", lambda: _drunet(in_nc=4, out_nc=3, nc=[8, 16, 32, 64], nb=2), conditional=True,
                   purpose="denoise"),
    "SCUNet": Case("SCUNet", lambda: _scunet(in_nc=3, config=[1, 1, 1, 1, 1, 1, 1], dim=64), purpose="denoise"),
    "NAFNet": Case("NAFNet", lambda: _nafnet(img_channel=3, width=8, middle_blk_num=1, enc_blk_nums=[1, 1],
                                             dec_blk_nums=[1, 1])),
    "SwinIR": Case("SwinIR", lambda: _swinir(in_chans=3, embed_dim=12, depths=[1], num_heads=[2], window_size=4,
                                             mlp_ratio=2.0, img_size=32, upscale=1, resi_connection="1conv")),
    "SwinIR-x2": Case("SwinIR", lambda: _swinir(in_chans=3, embed_dim=12, depths=[1], num_heads=[2], window_size=4,
                                                mlp_ratio=2.0, img_size=32, upscale=2,
                                                upsampler="pixelshuffledirect"), scale=2, purpose="sr"),
    "Restormer": Case("Restormer", lambda: _restormer(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1,
                                                      heads=[1, 1, 2, 2]), extra=True),
    "RealESRGAN-x4": Case("ESRGAN", lambda: _rrdbnet(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=4),
                          scale=4, purpose="sr"),
    "ESRGAN-1x": Case("ESRGAN", lambda: _rrdbnet(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=1)),
    "Compact-x2": Case("Compact", lambda: _compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2),
                       scale=2, purpose="sr"),
    "SPAN-x2": Case("SPAN", lambda: _span(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2), scale=2,
                    purpose="sr"),
}


def extra_arches_available() -> bool:
    try:
        import spandrel_extra_arches  # noqa: F401
    except ImportError:
        return False
    return True


def build(name: str, *, seed: int = 0) -> nn.Module:
    """The network of case ``name`` with random weights (fixed seed), in eval mode.

    Batch-norm running statistics are randomised too, so that they are real weights to load.
    """
    torch.manual_seed(seed)
    module = CASES[name].builder()
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
            # zero-initialised parameters (NAFNet's beta/gamma, ...) get random values so that a
            # parameter left at its initial value could never pass for a loaded one
        for p in module.parameters():
            if p.numel() and bool((p == 0).all()):
                p.normal_(0, 0.02)
    return module.eval()


def save(module: nn.Module, path: str | Path, *, wrap: str | None = None) -> Path:
    """Save ``module``'s state dict to ``path`` (.pth/.pt/.ckpt via torch.save, .safetensors via safetensors).

    wrap: put the state dict under this key (e.g. "params_ema", "state_dict") like training tools do.
    """
    path = Path(path)
    sd = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(sd, str(path))
    else:
        torch.save({wrap: sd} if wrap else sd, path)
    return path


def make_file(name: str, folder: str | Path, fmt: str = "pth", *, seed: int = 0) -> Path:
    """Build case ``name`` and save it as ``folder/<name>.<fmt>``; returns the path."""
    return save(build(name, seed=seed), Path(folder) / f"{name}.{fmt}")


def reference_forward(name: str, module: nn.Module, x: torch.Tensor, sigma: float = 15 / 255) -> torch.Tensor:
    """What the module itself computes for ``x`` (noise-conditional ones at noise level ``sigma``)."""
    case = CASES[name]
    with torch.no_grad():
        if not case.conditional:
            return module(x)
        if case.arch in ("FFDNet", "FFDNetIPOL"):
            return module(x, sigma)
        noise = torch.full_like(x[:, :1], sigma)
        return module(torch.cat([x, noise], dim=1))
