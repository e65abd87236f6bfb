"""Benchmark: CLAHE and Unsharp Mask against OpenCV and scikit-image, same images, same run.

CLAHE (clip limit 2, 8x8 tiles, 256 bins) on 8-bit Set12 images and on 4K (3840x2160) images
made by bicubic upsampling of a Set12 image (gray) and a CBSD68 image (RGB), quantised to 8 bits
so that every method sees the same data:
  ours      restorekit.enhance.clahe (torch, --device)
  OpenCV    cv2.createCLAHE(2.0, (8, 8)).apply on uint8 (RGB: on the L of cv2's 8-bit Lab)
  skimage   skimage.exposure.equalize_adapthist(kernel_size = size / 8, clip_limit = 2 / 256),
            the same settings in scikit-image's units (RGB: it equalises HSV V)
and reports the mean / max absolute difference to OpenCV in grey levels (ours rounded to 8 bits).
For RGB, "ours" is the lab mode (compared with OpenCV's Lab L) and the skimage column compares
with our hsv mode (the same colour handling as scikit-image).

Unsharp Mask (threshold 0, every channel) against skimage.filters.unsharp_mask and OpenCV
(GaussianBlur with BORDER_REFLECT + addWeighted); "ours luma" is the default luminance-only mode.

Times are the median of --repeat runs after one warm-up, in milliseconds, for the core call only
(the tensor is already on the device; CUDA is synchronised before the clock is read). The
reference libraries run on the CPU of the same machine. Missing libraries show as n/a.

    python bench/bench_enhance.py [--device cpu|cuda] [--full] [--repeat 5]
"""

from __future__ import annotations

import argparse

import common
import numpy as np
import torch

from restorekit.enhance.clahe import clahe
from restorekit.image import to_numpy
from restorekit.sharpen.unsharp import unsharp_mask

try:
    import cv2
except ImportError:  # pragma: no cover - reported as n/a
    cv2 = None
try:
    from skimage.exposure import equalize_adapthist
    from skimage.filters import unsharp_mask as sk_unsharp_mask
except ImportError:  # pragma: no cover
    equalize_adapthist = sk_unsharp_mask = None

QUICK_SET12 = ["01", "05", "08", "12"]
SIZE_4K = (2160, 3840)


def timed(fn, device: torch.device | None, repeat: int):
    """Median wall time (ms) of ``fn()`` over ``repeat`` runs after a warm-up, and its last result."""
    t = common.time_repeats(fn, device, repeat)
    return t.median_ms, t.result


def u8(x: torch.Tensor) -> np.ndarray:
    """Image 0 of a core batch as uint8 ``[H, W]`` (gray) or ``[H, W, 3]`` (RGB)."""
    arr = np.rint(to_numpy(x)[0] * 255).astype(np.uint8)
    return arr[:, :, 0] if arr.shape[2] == 1 else arr


def upsample_8bit(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    big = torch.nn.functional.interpolate(x, size=size, mode="bicubic", align_corners=False).clamp(0, 1)
    return (big * 255).round() / 255


def fmt(v, spec: str = ".1f") -> str:
    return common.fmt(v, spec)


def clahe_images(full: bool, big: tuple[int, int]) -> list[tuple[str, torch.Tensor]]:
    paths = common.image_paths("Set12")
    if not full:
        paths = [p for p in paths if p.stem in QUICK_SET12]
    images = [(f"Set12/{p.stem}", common.load_image(p, gray=True)) for p in paths]
    gray = common.load_image(common.image_paths("Set12")[8], gray=True)
    rgb = common.load_image(common.image_paths("CBSD68")[0], gray=False)
    label = "4K" if big == SIZE_4K else f"{big[1]}x{big[0]}"
    images.append((f"{label} gray", upsample_8bit(gray, big)))
    images.append((f"{label} RGB", upsample_8bit(rgb, big)))
    return images


def bench_clahe(device: torch.device, full: bool, repeat: int, big: tuple[int, int] = SIZE_4K) -> None:
    print("\nCLAHE  clip limit 2, 8x8 tiles, 256 bins; |d| in grey levels, vs OpenCV")
    rows = []
    for name, x in clahe_images(full, big):
        h, w = x.shape[-2:]
        xd = x.to(device)
        rgb = x.shape[1] == 3
        t_ours, y = timed(lambda xd=xd, rgb=rgb: clahe(xd, clip_limit=2.0, tiles=8, color_space="lab"), device, repeat)
        ours8 = u8(y.cpu()).astype(np.float64)
        img = u8(x)
        t_cv = t_sk = d_mean = d_max = d_sk = None
        if cv2 is not None:
            engine = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
            if rgb:

                def run_cv(img=img, engine=engine):
                    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
                    lab[:, :, 0] = engine.apply(lab[:, :, 0])
                    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
            else:

                def run_cv(img=img, engine=engine):
                    return engine.apply(img)

            t_cv, ref = timed(run_cv, None, repeat)
            diff = np.abs(ours8 - ref.astype(np.float64))
            d_mean, d_max = float(diff.mean()), float(diff.max())
        if equalize_adapthist is not None:
            kernel = (max(h // 8, 1), max(w // 8, 1))
            t_sk, sk = timed(
                lambda img=img, kernel=kernel: equalize_adapthist(
                    img, kernel_size=kernel, clip_limit=2 / 256, nbins=256
                ),
                None,
                max(1, repeat // 2) if h * w > 4e6 else repeat,
            )
            sk8 = np.rint(sk * 255)
            if rgb:  # compare with our hsv mode (scikit-image equalises HSV V)
                other = u8(clahe(xd, clip_limit=2.0, tiles=8, color_space="hsv").cpu()).astype(np.float64)
            elif cv2 is not None:
                other = ref.astype(np.float64)
            else:
                other = ours8
            d_sk = float(np.abs(sk8 - other).mean())
        rows.append(
            [
                name,
                f"{w}x{h}",
                fmt(t_ours),
                fmt(t_cv),
                fmt(t_sk),
                common.fmt_ratio(t_ours, t_cv, suffix=""),
                fmt(d_mean, ".3f"),
                fmt(d_max, ".0f"),
                fmt(d_sk, ".2f"),
            ]
        )
    common.print_table(
        [
            "image",
            "size",
            "ours ms",
            "OpenCV ms",
            "skimage ms",
            "ours/OpenCV",
            "mean|d| OpenCV",
            "max|d|",
            "mean|d| skimage*",
        ],
        rows,
    )
    print("* skimage vs OpenCV for gray; vs our hsv mode for RGB (same colour handling); qualitative only.")


def bench_unsharp(device: torch.device, full: bool, repeat: int, big: tuple[int, int] = SIZE_4K) -> None:
    print("\nUnsharp Mask  amount 1, threshold 0, every channel; max|d| in [0, 1] units vs skimage")
    gray = common.load_image(common.image_paths("Set12")[8], gray=True)
    rgb = common.load_image(common.image_paths("CBSD68")[0], gray=False)
    label = "4K" if big == SIZE_4K else f"{big[1]}x{big[0]}"
    images = [("Set12/09", gray), (f"{label} gray", upsample_8bit(gray, big)), (f"{label} RGB", upsample_8bit(rgb, big))]
    radii = (1.0, 3.0, 20.0) if full else (1.0, 5.0)
    rows = []
    for name, x in images:
        h, w = x.shape[-2:]
        xd = x.to(device)
        arr = to_numpy(x)[0]
        arr = arr[:, :, 0] if arr.shape[2] == 1 else arr
        for radius in radii:
            t_ours, y = timed(
                lambda xd=xd, r=radius: unsharp_mask(xd, radius=r, amount=1.0, luminance_only=False), device, repeat
            )
            t_luma = None
            if x.shape[1] == 3:
                t_luma, _ = timed(lambda xd=xd, r=radius: unsharp_mask(xd, radius=r, amount=1.0), device, repeat)
            ours = to_numpy(y.cpu())[0]
            ours = ours[:, :, 0] if ours.shape[2] == 1 else ours
            t_sk = t_cv = d_sk = d_cv = None
            ref = None
            if sk_unsharp_mask is not None:
                axis = 2 if arr.ndim == 3 else None
                t_sk, ref = timed(
                    lambda arr=arr, r=radius, axis=axis: sk_unsharp_mask(arr, radius=r, amount=1.0, channel_axis=axis),
                    None,
                    max(1, repeat // 2) if h * w > 4e6 else repeat,
                )
                d_sk = float(np.abs(ours - ref).max())
            if cv2 is not None:

                def run_cv(arr=arr, r=radius):
                    blur = cv2.GaussianBlur(arr, (0, 0), sigmaX=r, borderType=cv2.BORDER_REFLECT)
                    return np.clip(cv2.addWeighted(arr, 2.0, blur, -1.0, 0.0), 0.0, 1.0)

                t_cv, cv_out = timed(run_cv, None, repeat)
                if ref is not None:
                    d_cv = float(np.abs(cv_out - ref).max())
            rows.append(
                [
                    name,
                    f"{w}x{h}",
                    f"{radius:g}",
                    fmt(t_ours),
                    fmt(t_luma),
                    fmt(t_sk),
                    fmt(t_cv),
                    common.fmt_ratio(t_ours, t_cv, suffix=""),
                    fmt(d_sk, ".1e"),
                    fmt(d_cv, ".1e"),
                ]
            )
    common.print_table(
        [
            "image",
            "size",
            "radius",
            "ours ms",
            "ours luma ms",
            "skimage ms",
            "OpenCV ms",
            "ours/OpenCV",
            "max|d| ours",
            "max|d| OpenCV",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(parser)
    parser.add_argument("--full", action="store_true", help="all of Set12 and more radii")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--only", choices=("clahe", "unsharp"), default=None)
    parser.add_argument("--big-size", type=int, nargs=2, metavar=("H", "W"), default=list(SIZE_4K),
                        help="size of the upsampled large images (default 4K: 2160 3840)")
    args = parser.parse_args()
    device = common.get_device(args.device)
    big = tuple(args.big_size)
    print(
        f"device: {common.device_name(device)}; torch {torch.__version__}; "
        f"OpenCV {cv2.__version__ if cv2 else 'n/a'}"
        f" ({cv2.getNumThreads() if cv2 else 0} threads); scikit-image "
        f"{__import__('skimage').__version__ if equalize_adapthist else 'n/a'}"
    )
    with torch.inference_mode():
        if args.only in (None, "clahe"):
            bench_clahe(device, args.full, args.repeat, big)
        if args.only in (None, "unsharp"):
            bench_unsharp(device, args.full, args.repeat, big)


if __name__ == "__main__":
    common.run(main)
