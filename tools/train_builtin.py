"""Train the built-in denoiser (``restorekit/models/builtin_net.py``) and export its shipped weights.

The run is reproducible and resumable: the image list is sorted, every random draw comes from
generators seeded by (seed, step), and a checkpoint (model, optimiser, step, running loss) is
written every few minutes and at the end, so training can span several GPU sessions:

    python tools/train_builtin.py --data .train --minutes 7 --checkpoint .ckpt/builtin.pt \
        --export restorekit/models/weights/builtin_denoiser.safetensors

What it trains on
    clean patches of 128×128 from the folders given by ``--data`` (``CBSD432``: the 432 colour
    Berkeley images; ``Train400``: 400 gray 180×180 crops of the same collection, from DnCNN),
    random flips/rotations; gray images are repeated to three channels and 10 % of the colour
    patches are turned gray so that one network serves both. Noise: additive white Gaussian with
    σ drawn uniformly in [0, 75]/255 per patch, given to the network as a constant noise map.
    Loss: L1 on the denoised patch. Adam, learning rate ``--lr`` with a 500-step warm-up and a cosine
    decay to 1 % over ``--total-steps``; bf16 autocast on CUDA.

Only torch is needed (image decoding by torchvision.io, or Pillow); the architecture module is
loaded from its file so that the rest of the package (and its dependencies) is not imported.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def load_net_module():
    """Import ``restorekit/models/builtin_net.py`` on its own (no package ``__init__``)."""
    path = ROOT / "restorekit" / "models" / "builtin_net.py"
    spec = importlib.util.spec_from_file_location("builtin_net", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_image(path: Path) -> torch.Tensor:
    """An image file as a uint8 tensor [C, H, W] (C = 1 or 3)."""
    try:
        from torchvision.io import ImageReadMode, decode_image, read_file

        img = decode_image(read_file(str(path)), mode=ImageReadMode.UNCHANGED)
    except ImportError:
        import numpy as np
        from PIL import Image

        with Image.open(path) as im:
            arr = np.asarray(im.convert("L" if im.mode in ("L", "I;16") else "RGB"))
        img = torch.from_numpy(arr.copy())
        img = img[None] if img.ndim == 2 else img.permute(2, 0, 1)
    if img.shape[0] == 4:
        img = img[:3]
    if img.shape[0] == 2:
        img = img[:1]
    return img.contiguous()


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)


class PatchSampler:
    """Random clean patches [B, 3, P, P] in [0, 1] on the device, and which of them are gray [B, 1, 1, 1]."""

    def __init__(self, colour: list[torch.Tensor], gray: list[torch.Tensor], patch: int, device: torch.device,
                 gray_share: float, gray_convert: float) -> None:
        self.colour = [t.to(device) for t in colour if min(t.shape[-2:]) >= patch]
        self.gray = [t.to(device) for t in gray if min(t.shape[-2:]) >= patch]
        self.patch = patch
        self.gray_share = gray_share if self.gray else 0.0
        self.gray_convert = gray_convert
        self.luma = torch.tensor([0.299, 0.587, 0.114], device=device).view(1, 3, 1, 1)

    def sample(self, batch: int, rng: random.Random) -> torch.Tensor:
        p = self.patch
        crops, was_gray = [], []
        for _ in range(batch):
            pool = self.gray if (self.gray and rng.random() < self.gray_share) else self.colour
            img = pool[rng.randrange(len(pool))]
            top = rng.randrange(img.shape[-2] - p + 1)
            left = rng.randrange(img.shape[-1] - p + 1)
            crop = img[:, top:top + p, left:left + p]
            k = rng.randrange(8)
            if k & 4:
                crop = crop.flip(-1)
            crop = torch.rot90(crop, k & 3, dims=(-2, -1))
            was_gray.append(crop.shape[0] == 1)
            crops.append(crop.expand(3, p, p) if crop.shape[0] == 1 else crop)
        x = torch.stack(crops).float().div_(255.0)
        convert = [g or rng.random() < self.gray_convert for g in was_gray]
        convert = torch.tensor(convert, device=x.device).view(-1, 1, 1, 1)
        gray = (x * self.luma).sum(1, keepdim=True).expand_as(x)
        return torch.where(convert, gray, x), convert


def learning_rate(step: int, base: float, total: int, warmup: int = 500) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * t)))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = F.mse_loss(a.clamp(0, 1), b).item()
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


@torch.no_grad()
def validate(net, images: list[torch.Tensor], device, sigmas=(15, 25, 50), seed: int = 0) -> dict[str, float]:
    """Mean PSNR (dB) on the validation images per σ (gray and colour reported apart)."""
    net.eval()
    out: dict[str, float] = {}
    for sigma in sigmas:
        g = torch.Generator(device="cpu").manual_seed(seed + sigma)
        scores: dict[str, list[float]] = {"gray": [], "colour": []}
        for img in images:
            x = img.to(device).float().div(255.0)[None]
            noise = torch.randn(x.shape, generator=g).to(device) * (sigma / 255.0)
            y = x + noise
            kind = "gray" if x.shape[1] == 1 else "colour"
            y3 = y.expand(1, 3, *y.shape[-2:]) if kind == "gray" else y
            smap = torch.full((1, 1, 1, 1), sigma / 255.0, device=device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                d = net(y3, smap).float()
            if kind == "gray":
                d = d.mean(1, keepdim=True)
            scores[kind].append(psnr(d, x))
        for kind, vals in scores.items():
            if vals:
                out[f"{kind}_s{sigma}"] = round(sum(vals) / len(vals), 3)
    net.train()
    return out


def save_checkpoint(path: Path, net, opt, step: int, log: list[dict], args: argparse.Namespace) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Adam moments in bf16 keep the checkpoint small enough to travel to the GPU machine.
    state = opt.state_dict()
    # state_dict() shares the per-parameter dicts with the live optimiser: copy before converting.
    state["state"] = {
        k: {n: (t.to(torch.bfloat16) if n in ("exp_avg", "exp_avg_sq") else t) for n, t in v.items()}
        for k, v in state["state"].items()
    }
    tmp = path.with_suffix(".tmp")
    torch.save({"model": net.state_dict(), "opt": state, "step": step, "log": log,
                "config": {"total_steps": args.total_steps, "lr": args.lr, "batch": args.batch,
                           "patch": args.patch, "seed": args.seed}}, tmp)
    tmp.replace(path)


def export(path: Path, net, step: int, log: list[dict], data_note: str) -> Path:
    """Write the shipped weights: float16 tensors plus metadata the loader checks."""
    mod = load_net_module()
    meta = {
        "format": "restorekit-builtin-denoiser",
        "version": "1",
        "config": json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in mod.BUILTIN_CONFIG.items()}),
        "training": json.dumps({"steps": step, "data": data_note, "script": "tools/train_builtin.py",
                                "last_validation": next((e["val"] for e in reversed(log) if "val" in e), {})}),
    }
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    try:
        from safetensors.torch import save_file
    except ImportError:  # the GPU machine may lack safetensors: keep a torch file, convert with --convert
        path = path.with_suffix(".pt")
        torch.save({"tensors": tensors, "metadata": meta}, tmp)
    else:
        save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / ".train", help="folder with CBSD432/, Train400/, val/")
    ap.add_argument("--checkpoint", type=Path, default=ROOT / ".ckpt" / "builtin.pt")
    ap.add_argument("--resume-from", type=Path, default=None, help="checkpoint to start from if --checkpoint is absent")
    ap.add_argument("--export", type=Path, default=None, help="write the float16 safetensors here at the end")
    ap.add_argument("--log", type=Path, default=None, help="append JSON lines of the training log here")
    ap.add_argument("--minutes", type=float, default=7.0, help="wall-clock budget of this run")
    ap.add_argument("--total-steps", type=int, default=0,
                    help="length of the schedule; 0 = from the speed of steps 20-120 and --plan-minutes")
    ap.add_argument("--plan-minutes", type=float, default=16.0, help="training time all runs together (for 0 steps)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--sigma-max", type=float, default=75.0)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--compile", action="store_true", help="torch.compile the network")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    if args.log:
        args.log.parent.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    mod = load_net_module()
    net = mod.BuiltinDenoiserNet().to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(0.9, 0.99))
    step, log = 0, []
    source = args.checkpoint if args.checkpoint.exists() else args.resume_from
    if source is not None and source.exists():
        ck = torch.load(source, map_location=device, weights_only=True)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        for s in opt.state.values():
            for key in ("exp_avg", "exp_avg_sq"):
                if key in s:
                    s[key] = s[key].float()
        step, log = int(ck["step"]), list(ck["log"])
        args.total_steps = int(ck["config"]["total_steps"])
        print(f"resumed from {source} at step {step}", flush=True)

    colour = [read_image(p) for p in list_images(args.data / "CBSD432")]
    gray = [read_image(p) for p in list_images(args.data / "Train400")]
    val = [read_image(p) for p in list_images(args.data / "val")]
    data_note = f"CBSD432 ({len(colour)} colour images), Train400 ({len(gray)} gray images)"
    print(f"data: {data_note}; validation {len(val)} images; load {time.perf_counter() - t_start:.1f}s", flush=True)
    sampler = PatchSampler(colour, gray, args.patch, device, gray_share=0.25, gray_convert=0.10)
    model = torch.compile(net) if args.compile else net

    deadline = t_start + args.minutes * 60.0
    last_ckpt = time.perf_counter()
    running, t_log, steps_log = 0.0, time.perf_counter(), 0
    net.train()
    planning = args.total_steps <= 0
    if planning:
        args.total_steps = 10**9
    while step < args.total_steps and time.perf_counter() < deadline:
        if planning and step == 20:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_plan = time.perf_counter()
        if planning and step == 120:
            if device.type == "cuda":
                torch.cuda.synchronize()
            rate = 100 / (time.perf_counter() - t_plan)
            args.total_steps = max(1000, int(rate * args.plan_minutes * 60 * 0.97))
            planning = False
            print(f"{rate:.1f} steps/s: schedule of {args.total_steps} steps", flush=True)
        rng = random.Random(args.seed * 1_000_003 + step)
        gen = torch.Generator(device=device).manual_seed(args.seed + step)
        clean, is_gray = sampler.sample(args.batch, rng)
        clean = clean.contiguous(memory_format=torch.channels_last)
        sigma = torch.rand(args.batch, 1, 1, 1, device=device, generator=gen) * (args.sigma_max / 255.0)
        noise = torch.randn(clean.shape, device=device, generator=gen)
        # A gray image repeated to three channels carries the same noise in each of them.
        noise = torch.where(is_gray, noise[:, :1].expand_as(noise), noise)
        noisy = clean + noise * sigma
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, args.lr, args.total_steps)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = model(noisy, sigma)
        loss = F.l1_loss(out.float(), clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        steps_log += 1
        if step % 100 == 0:
            running = loss.item()
        if step % 1000 == 0 or step == args.total_steps:
            now = time.perf_counter()
            entry = {"step": step, "loss": round(running, 5), "lr": learning_rate(step, args.lr, args.total_steps),
                     "steps_per_s": round(steps_log / (now - t_log), 2)}
            if step % 4000 == 0 or step == args.total_steps:
                entry["val"] = validate(net, val, device)
            log.append(entry)
            print(json.dumps(entry), flush=True)
            if args.log:
                with args.log.open("a") as fh:
                    fh.write(json.dumps(entry) + "\n")
            t_log, steps_log = time.perf_counter(), 0
        if time.perf_counter() - last_ckpt > 120:
            save_checkpoint(args.checkpoint, net, opt, step, log, args)
            last_ckpt = time.perf_counter()

    final = {"step": step, "val": validate(net, val, device), "elapsed_s": round(time.perf_counter() - t_start, 1)}
    log.append(final)
    print(json.dumps(final), flush=True)
    if args.log:
        with args.log.open("a") as fh:
            fh.write(json.dumps(final) + "\n")
    save_checkpoint(args.checkpoint, net, opt, step, log, args)
    if args.export:
        written = export(args.export, net, step, log, data_note)
        print(f"exported {written} ({written.stat().st_size / 1e6:.2f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
