"""Benchmark: Restore With Model throughput, tiled vs untiled, fp32 vs bf16, and a seam check.

Networks are the real architecture classes (spandrel / spandrel_extra_arches) with random weights (each
class's own initialisation, seed 0; all-zero parameters drawn too, see ``build``), built at their standard
published sizes (``--full-size``, the default on CUDA) or tiny (the CPU default; small configurations that
spandrel's detection still recognises), saved to a safetensors weights file and loaded through restorekit's
loader, then run by ``restore_with_model`` exactly as the node runs them. Random weights do not change the
cost of a forward pass.

  conv:        DRUNet (KAIR drunet_color: nc 64-128-256-512, nb 4, 32.6 M parameters)
               NAFNet (SIDD width 64: enc 2-2-4-8, middle 12, dec 2-2-2-2, 116 M)
  transformer: SwinIR (colour denoising SwinIR-M: embed 180, 6x6 blocks, window 8, mlp 2, 11.5 M)
               Restormer (dim 48, blocks 4-6-6-8, refinement 4, heads 1-2-4-8, 26 M)
               SCUNet (config 4x7, dim 64, 18 M)

For each model, image size and precision it times: the whole image in one call ("untiled"; falls back to
tiles if it does not fit, which the table shows), fixed tiles (``--tile``, ``--overlap``), and the automatic
choice (tile 0). It prints ms per image, images/s, megapixels/s and peak GPU memory, then a seam check per
model: max |tiled - untiled| and the seam visibility (restorekit.tiling.seam_visibility; ~0 = no line stands
out, a hard cut gives ~1) of fp32 tiles against the fp32 untiled result, and max |bf16 - fp32|.

  python bench/bench_models.py                                   # CPU quick: tiny models, 256x256 and 384x512
  python bench/bench_models.py --device cuda                     # H100: DRUNet + SwinIR at 1080p and 4K
  python bench/bench_models.py --device cuda --models drunet nafnet swinir restormer scunet --repeat 5
"""

from __future__ import annotations

import argparse
import importlib
import logging
import tempfile
from pathlib import Path

import common
import torch
import torch.nn.functional as F

from restorekit.models import load_model
from restorekit.models.restore import restore_with_model
from restorekit.tiling import seam_visibility

SIZES = {"1080p": (1080, 1920), "4k": (2160, 3840), "720p": (720, 1280), "512": (512, 512), "256": (256, 256),
         "384x512": (384, 512)}


# name: (kind, module, class, published configuration, tiny configuration)
ARCHS: dict[str, tuple[str, str, str, dict, dict]] = {
    "drunet": ("conv", "spandrel.architectures.DRUNet", "DRUNet",
               dict(in_nc=4, out_nc=3, nc=[64, 128, 256, 512], nb=4),
               dict(in_nc=4, out_nc=3, nc=[8, 16, 32, 64], nb=2)),
    "nafnet": ("conv", "spandrel.architectures.NAFNet", "NAFNet",
               dict(img_channel=3, width=64, middle_blk_num=12, enc_blk_nums=[2, 2, 4, 8], dec_blk_nums=[2, 2, 2, 2]),
               dict(img_channel=3, width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])),
    "swinir": ("transformer", "spandrel.architectures.SwinIR", "SwinIR",
               dict(img_size=128, in_chans=3, embed_dim=180, depths=[6] * 6, num_heads=[6] * 6, window_size=8,
                    mlp_ratio=2.0, upscale=1, img_range=1.0, upsampler="", resi_connection="1conv"),
               dict(in_chans=3, embed_dim=12, depths=[1], num_heads=[2], window_size=4, mlp_ratio=2.0, img_size=32,
                    upscale=1, resi_connection="1conv")),
    "restormer": ("transformer", "spandrel_extra_arches.architectures.Restormer", "Restormer",
                  dict(dim=48, num_blocks=[4, 6, 6, 8], num_refinement_blocks=4, heads=[1, 2, 4, 8],
                       ffn_expansion_factor=2.66, bias=False, LayerNorm_type="WithBias"),
                  dict(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1, heads=[1, 1, 2, 2])),
    "scunet": ("transformer", "spandrel.architectures.SCUNet", "SCUNet",
               dict(in_nc=3, config=[4, 4, 4, 4, 4, 4, 4], dim=64),
               dict(in_nc=3, config=[1, 1, 1, 1, 1, 1, 1], dim=64)),
}
KIND = {name: spec[0] for name, spec in ARCHS.items()}


def build(name: str, full: bool) -> torch.nn.Module:
    """Model family ``name`` at its published (``full``) or tiny configuration, random weights (seed 0), eval mode.

    Parameters the class initialises to all zeros (NAFNet's per-block beta / gamma scales) are drawn
    from N(0, 0.02) too: left at zero they turn those blocks into identities, and the seam check
    would not see them.
    """
    _, module_name, class_name, full_kw, tiny_kw = ARCHS[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    torch.manual_seed(0)
    module = cls(**(full_kw if full else tiny_kw))
    with torch.no_grad():
        for p in module.parameters():
            if p.numel() and bool((p == 0).all()):
                p.normal_(0, 0.02)
    return module.eval()


def make_model(name: str, full: bool, folder: Path, device: torch.device):
    """Build, save as ``folder/<name>.safetensors`` and load it back through restorekit's loader."""
    from safetensors.torch import save_file

    module = build(name, full)
    path = folder / f"{name}.safetensors"
    save_file({k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}, str(path))
    del module
    return load_model(path, device=device)


def test_image(h: int, w: int, device: torch.device) -> torch.Tensor:
    """A smooth random scene plus noise of std 25/255, [1,3,h,w] on ``device``."""
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, max(2, h // 32), max(2, w // 32), generator=g)
    smooth = F.interpolate(base, size=(h, w), mode="bicubic", align_corners=False)
    noise = torch.randn(1, 3, h, w, generator=g) * (25 / 255)
    return (smooth + noise).clamp(0, 1).to(device)


def timed(model, x, *, tile: int, overlap: int, precision: str, repeat: int) -> dict:
    """One warm-up, then ``repeat`` timed runs of ``restore_with_model``: best and median seconds, peak GiB."""
    t = common.time_repeats(
        lambda: restore_with_model(model, x, tile=tile, overlap=overlap, precision=precision, return_info=True),
        x.device,
        repeat,
        memory=True,
    )
    y, info = t.result
    return {"y": y, "info": info, "s": t.best, "median": t.median, "peak_gib": t.peak_gib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(parser)
    parser.add_argument("--models", nargs="+", default=["drunet", "swinir"], choices=sorted(KIND))
    parser.add_argument("--sizes", nargs="+", default=None, choices=sorted(SIZES),
                        help="default: 1080p 4k on CUDA, 256 384x512 on CPU")
    parser.add_argument("--precisions", nargs="+", default=None, choices=("fp32", "bf16", "fp16"),
                        help="default: fp32 bf16 on CUDA, fp32 on CPU")
    parser.add_argument("--tile", type=int, default=None, help="default: 512 on CUDA, 128 on CPU")
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per case (best is reported)")
    parser.add_argument("--full-size", action="store_true", help="standard published model sizes (default on CUDA)")
    parser.add_argument("--tiny", action="store_true", help="tiny models (default on CPU)")
    parser.add_argument("--no-auto", action="store_true", help="skip the automatic tile choice")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls/convolutions in fp32 runs")
    args = parser.parse_args()

    device = common.get_device(args.device)
    cuda = device.type == "cuda"
    full = args.full_size or (cuda and not args.tiny)
    sizes = args.sizes or (["1080p", "4k"] if cuda else ["256", "384x512"])
    precisions = args.precisions or (["fp32", "bf16"] if cuda else ["fp32"])
    repeat = args.repeat or (3 if cuda else 1)
    args.tile = args.tile or (512 if cuda else 128)
    if not cuda:
        torch.set_num_threads(min(2, torch.get_num_threads()))
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    logging.basicConfig(level=logging.WARNING, format="  [log] %(message)s")

    print(f"# Restore With Model throughput on {common.device_name(device)}; torch {torch.__version__}; models "
          f"{'published sizes' if full else 'tiny'}; TF32 {'on' if args.tf32 else 'off'}; best of {repeat}; "
          f"tile {args.tile} overlap {args.overlap}")
    header = (f"{'model':10s} {'kind':11s} {'size':8s} {'prec':5s} {'mode':8s} {'tiling used':22s} "
              f"{'ms/img':>9s} {'img/s':>7s} {'MP/s':>7s} {'peak GiB':>8s}")
    seams = []
    with tempfile.TemporaryDirectory() as tmp:
        for mname in args.models:
            model = make_model(mname, full, Path(tmp), device)
            print(f"\n## {mname}: {model.architecture}, {sum(p.numel() for p in model.module.parameters()) / 1e6:.1f} M parameters, "
                  f"bf16 {model.supports_bfloat16}, fp16 {model.supports_half}, tiling {model.tiling}")
            print(header)
            for size in sizes:
                h, w = SIZES[size]
                x = test_image(h, w, device)
                results = {}
                for prec in precisions:
                    if (prec == "fp16" and not model.supports_half) or (prec == "bf16" and not model.supports_bfloat16):
                        print(f"{mname:10s} {KIND[mname]:11s} {size:8s} {prec:5s} (not supported by the model)")
                        continue
                    modes = [("untiled", max(h, w)), ("tiled", args.tile)] + ([] if args.no_auto else [("auto", 0)])
                    for mode, tile in modes:
                        try:
                            r = timed(model, x, tile=tile, overlap=args.overlap, precision=prec, repeat=repeat)
                        except Exception as error:  # noqa: BLE001 - report and go on with the next case
                            print(f"{mname:10s} {KIND[mname]:11s} {size:8s} {prec:5s} {mode:8s} FAILED: "
                                  f"{str(error).splitlines()[0][:100]}")
                            if cuda:
                                torch.cuda.empty_cache()
                            continue
                        info = r["info"]
                        used = "whole image" if info.tile == 0 else f"{info.tile}px x{info.tiles}"
                        if info.oom_retries:
                            used += f" (OOM x{info.oom_retries})"
                        mp = h * w / 1e6
                        print(f"{mname:10s} {KIND[mname]:11s} {size:8s} {prec:5s} {mode:8s} {used:22s} "
                              f"{1000 * r['s']:9.1f} {1 / r['s']:7.2f} {mp / r['s']:7.1f} {r['peak_gib']:8.2f}")
                        results[(prec, mode)] = r["y"]
                        del r
                    if cuda:
                        torch.cuda.empty_cache()
                ref = results.get(("fp32", "untiled"))
                tiled = results.get(("fp32", "tiled"))
                bf = results.get(("bf16", "untiled"))
                if ref is not None and tiled is not None:
                    seams.append((mname, size, float((tiled - ref).abs().max()), seam_visibility(tiled, ref),
                                  float((bf - ref).abs().max()) if bf is not None else float("nan")))
                del results, ref, tiled, bf, x
            del model
            if cuda:
                torch.cuda.empty_cache()

    print("\n## seam check (fp32 tiles vs fp32 whole image; random weights)")
    print(f"{'model':10s} {'kind':11s} {'size':8s} {'max|tiled-untiled|':>19s} {'seam visibility':>16s} "
          f"{'max|bf16-fp32|':>15s}")
    for mname, size, dmax, vis, dbf in seams:
        print(f"{mname:10s} {KIND[mname]:11s} {size:8s} {dmax:19.2e} {vis:16.4f} {dbf:15.2e}")


if __name__ == "__main__":
    common.run(main)
