"""Benchmark: every enhancement and sharpening operation at 1080p, against its targets and peers, same run.

Each operation runs at its node defaults (a few also with a named setting, e.g. Detail Sharpen's
CAS) on a 1920x1080 RGB float32 image made from a CBSD68 photo (bicubic upsampling), with the
tensor already on the device. Times are the median of --repeat calls after a warm-up, in
milliseconds, of the core call only (inputs converted once beforehand, as a node does before it
computes); CUDA is synchronised before the clock is read. The target column is the issue's
(H100: 2.7 ms for every operation, which is kornia's CLAHE time; 1 ms for CLAHE; 0.3 ms for CAS
and unsharp mask), ratio = ours / target. Peers, where installed, run in the same process on the
same image: kornia's CLAHE on the device, OpenCV's CLAHE and Gaussian unsharp mask on the CPU.
On the CPU the figure that matters is the ratio to the OpenCV / scikit-image equivalent (target
within 2x).

    python bench/bench_enhance_speed.py [--device cpu|cuda] [--repeat 20] [--size 1080x1920]
"""

from __future__ import annotations

import argparse
from typing import Any

import common
import numpy as np
import torch

from restorekit.kinds import Context, convert_inputs
from restorekit.params import all_operations, get_operation

#: (label, operation, settings, target ms on the H100)
CASES: list[tuple[str, str, dict[str, Any], float]] = [
    ("unsharp mask", "unsharp_mask", {}, 0.3),
    ("CLAHE", "clahe", {}, 1.0),
    ("Auto CLAHE", "auto_clahe", {}, 2.7),
    ("Homomorphic", "homomorphic_filter", {}, 2.7),
    ("Phase-preserving", "phase_preserving_enhance", {}, 2.7),
    ("Multiscale detail", "multiscale_detail", {}, 2.7),
    ("Adaptive frequency", "adaptive_frequency_filter", {}, 2.7),
    ("Frequency bands", "frequency_bands", {}, 2.7),
    ("Retinex", "retinex", {}, 2.7),
    ("Colour enhance", "color_enhance", {}, 2.7),
    ("Adaptive enhance", "adaptive_enhance", {}, 2.7),
    ("Smart sharpen", "smart_sharpen", {}, 2.7),
    ("Detail sharpen", "detail_sharpen", {}, 2.7),
    ("Detail sharpen, CAS", "detail_sharpen", {"method": "cas"}, 0.3),
]


def _image(size: tuple[int, int]) -> torch.Tensor:
    x = common.load_image(common.image_paths("CBSD68")[0], gray=False)
    return torch.nn.functional.interpolate(x, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def _peers(x: torch.Tensor, device: torch.device, repeat: int) -> dict[str, float | None]:
    """Peer timings (ms): kornia CLAHE on the device, OpenCV CLAHE and unsharp mask on the CPU."""
    out: dict[str, float | None] = {"kornia CLAHE": None, "OpenCV CLAHE": None, "OpenCV unsharp": None}
    if common.have_modules("kornia"):
        import kornia

        xd = x.to(device)
        out["kornia CLAHE"] = common.time_repeats(
            lambda: kornia.enhance.equalize_clahe(xd, clip_limit=2.0, grid_size=(8, 8)), device, repeat
        ).median_ms
    if common.have_modules("cv2"):
        import cv2

        img = np.ascontiguousarray((x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        engine = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))

        def clahe_cv():
            lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
            lab[:, :, 0] = engine.apply(lab[:, :, 0])
            return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)

        arr = np.ascontiguousarray(x[0].permute(1, 2, 0).numpy())

        def unsharp_cv():
            blur = cv2.GaussianBlur(arr, (0, 0), sigmaX=1.0, borderType=cv2.BORDER_REFLECT)
            return np.clip(cv2.addWeighted(arr, 2.0, blur, -1.0, 0.0), 0.0, 1.0)

        out["OpenCV CLAHE"] = common.time_repeats(clahe_cv, None, repeat).median_ms
        out["OpenCV unsharp"] = common.time_repeats(unsharp_cv, None, repeat).median_ms
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_device_argument(parser, default="auto")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--size", default="1080x1920", help="HxW")
    args = parser.parse_args()
    device = common.get_device(args.device)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    x = _image(size)
    print(f"device: {common.device_name(device)}; image {size[1]}x{size[0]} RGB float32")
    peers = _peers(x, device, args.repeat)
    known = {op.name for op in all_operations()}
    rows = []
    for label, name, settings, target in CASES:
        if name not in known:
            rows.append([label, "not registered", "", "", ""])
            continue
        op = get_operation(name)
        core, _ = convert_inputs(op, {"image": x.to(device), **settings}, Context(device=device), "python")
        t = common.time_repeats(lambda op=op, core=core: op.call(core), device, args.repeat)
        peer = ""
        if name == "clahe" and peers["kornia CLAHE"] is not None:
            peer = f"kornia {common.fmt(peers['kornia CLAHE'], '.2f')} ms = {common.fmt_ratio(t.median_ms, peers['kornia CLAHE'])}"
        if name == "clahe" and peers["OpenCV CLAHE"] is not None:
            peer += f" OpenCV {common.fmt(peers['OpenCV CLAHE'], '.2f')} ms = {common.fmt_ratio(t.median_ms, peers['OpenCV CLAHE'])}"
        if name == "unsharp_mask" and peers["OpenCV unsharp"] is not None:
            peer = f"OpenCV {common.fmt(peers['OpenCV unsharp'], '.2f')} ms = {common.fmt_ratio(t.median_ms, peers['OpenCV unsharp'])}"
        ratio = common.fmt_ratio(t.median_ms, target) if device.type == "cuda" else ""
        rows.append([label, common.fmt(t.median_ms, ".3f"), f"{target:g}" if device.type == "cuda" else "", ratio, peer])
    common.print_table(["operation", "ours ms", "target ms", "ours/target", "peer (same run)"], rows)


if __name__ == "__main__":
    main()
