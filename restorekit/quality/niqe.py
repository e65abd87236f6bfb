"""NIQE — Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik, 2013), and fitting its model.

NIQE is "completely blind": it fits a multivariate Gaussian (MVG) to 36 natural-scene-statistics
features of 96 x 96 px patches of the image (18 per scale, at full and half resolution) and
returns the distance to the MVG of pristine natural images,

    D = sqrt((μ_p - μ_d)ᵀ ((Σ_p + Σ_d) / 2)⁺ (μ_p - μ_d)),

unitless, 0 for an image statistically like the pristine set and larger the more distorted
(sharp photographs typically score 3–6). The pristine model shipped with restorekit is the
published one (``modelparameters.mat`` of the LIVE release, the same numbers as MATLAB's ``niqe``
default and BasicSR's ``niqe_pris_params.npz``); :func:`fit_niqe_model` fits one on your own
pristine images, as MATLAB's ``fitniqe`` does, and :class:`NiqeModel` saves/loads it (.npz or
.safetensors). Nothing is ever downloaded.

Details that move the numbers follow the reference code: MATLAB ``rgb2gray`` weights, values on
the 0–255 scale, the image cropped to whole patches, MSCN with a 7 x 7 (σ = 7/6 px) Gaussian
window and replicated edges, AGGD moment matching by table look-up, bicubic antialiased
``imresize(0.5)`` for the second scale, patch features with NaNs ignored (``nanmean``/``nancov``)
and a pseudo-inverse. Input values are not rounded to 8-bit levels (MATLAB rounds when it reads
``uint8``), so 8-bit colour images can differ from MATLAB in the last digits.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch

from ..errors import InvalidImageError, InvalidParameterError
from ..image import check_image
from .nr_features import SHIFTS, aggd_features, gamma_ratio, imresize_half, matlab_gray, mscn, work_dtype

FEATURES = 36
DEFAULT_PATCH = 96


@dataclass(frozen=True)
class NiqeModel:
    """A NIQE pristine model: feature mean ``mu`` ``[36]``, covariance ``cov`` ``[36, 36]`` (float64), patch size in px."""

    mu: torch.Tensor
    cov: torch.Tensor
    patch_size: int = DEFAULT_PATCH

    def __post_init__(self) -> None:
        mu = torch.as_tensor(self.mu, dtype=torch.float64).reshape(-1).cpu()
        cov = torch.as_tensor(self.cov, dtype=torch.float64).cpu()
        if mu.shape != (FEATURES,) or cov.shape != (FEATURES, FEATURES):
            raise InvalidParameterError(
                "model",
                f"needs a mean of {FEATURES} features and a {FEATURES}x{FEATURES} covariance, got "
                f"{tuple(mu.shape)} and {tuple(cov.shape)}.",
                "build it with fit_niqe_model() or NiqeModel.load() from a file that fit_niqe_model saved.",
            )
        if not (torch.isfinite(mu).all() and torch.isfinite(cov).all()):
            raise InvalidParameterError("model", "contains NaN or Inf.", "refit it on images with texture.")
        _check_patch(self.patch_size)
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "cov", cov)
        object.__setattr__(self, "patch_size", int(self.patch_size))

    @classmethod
    def pristine(cls) -> NiqeModel:
        """The published pristine model (LIVE's NIQE release), shipped in ``restorekit/quality/data``."""
        return _pristine()

    def save(self, path: str | os.PathLike) -> None:
        """Write the model to ``path``: ``.safetensors`` as safetensors, anything else as ``.npz``."""
        path = os.fspath(path)
        if path.endswith(".safetensors"):
            from safetensors.torch import save_file

            save_file(
                {"mu": self.mu.contiguous(), "cov": self.cov.contiguous()},
                path,
                metadata={"kind": "restorekit.niqe", "patch_size": str(self.patch_size)},
            )
        else:
            with open(path, "wb") as fh:
                np.savez(fh, mu=self.mu.numpy(), cov=self.cov.numpy(), patch_size=np.int64(self.patch_size))

    @classmethod
    def load(cls, path: str | os.PathLike) -> NiqeModel:
        """Read a model written by :meth:`save` (``.npz`` or ``.safetensors``); no pickle is ever loaded."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise InvalidParameterError(
                "model", f"file {path!r} does not exist.", "give the path of a saved NiqeModel."
            )
        if path.endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(path, framework="pt") as fh:
                meta = fh.metadata() or {}
                mu, cov = fh.get_tensor("mu"), fh.get_tensor("cov")
            return cls(mu, cov, int(meta.get("patch_size", DEFAULT_PATCH)))
        with np.load(path, allow_pickle=False) as data:
            patch = int(data["patch_size"]) if "patch_size" in data else DEFAULT_PATCH
            return cls(torch.from_numpy(data["mu"]), torch.from_numpy(data["cov"]), patch)


def _check_patch(patch_size: int) -> None:
    if (
        isinstance(patch_size, bool)
        or not isinstance(patch_size, (int, np.integer))
        or patch_size < 8
        or patch_size % 2
    ):
        raise InvalidParameterError(
            "patch_size",
            f"must be an even integer of at least 8 px, got {patch_size!r}.",
            "use 96 (the published value).",
        )


_PRISTINE: list[NiqeModel] = []


def _pristine() -> NiqeModel:
    if not _PRISTINE:
        with resources.files(__package__).joinpath("data/niqe_pristine.npz").open("rb") as fh:
            with np.load(fh, allow_pickle=False) as data:
                _PRISTINE.append(
                    NiqeModel(torch.from_numpy(data["mu"]), torch.from_numpy(data["cov"]), int(data["patch_size"]))
                )
    return _PRISTINE[0]


def _patch_features(z: torch.Tensor, p: int) -> torch.Tensor:
    """18 features of each non-overlapping ``p x p`` patch of MSCN ``z`` ``[B, 1, H, W]`` → ``[B, N, 18]``."""
    b, _, h, w = z.shape
    nh, nw = h // p, w // p
    # Patches in MATLAB's column-major block order (down the columns first); order does not change the MVG.
    blocks = z[:, 0, : nh * p, : nw * p].reshape(b, nh, p, nw, p).permute(0, 3, 1, 2, 4).reshape(b, nh * nw, p, p)
    alpha, left, right = aggd_features(blocks.reshape(b, nh * nw, p * p))
    scale = gamma_ratio(alpha, 1, 3).sqrt()
    feats = [alpha, (left + right) * scale / 2]
    for shift in SHIFTS:
        prod = (blocks * torch.roll(blocks, shifts=shift, dims=(-2, -1))).reshape(b, nh * nw, p * p)
        a, lft, rgt = aggd_features(prod)
        s = gamma_ratio(a, 1, 3).sqrt()
        bl, br = lft * s, rgt * s
        feats += [a, (br - bl) * gamma_ratio(a, 2, 1), bl, br]
    return torch.stack(feats, dim=-1)


def _gray255(x: torch.Tensor) -> torch.Tensor:
    return matlab_gray(x.to(work_dtype(x))) * 255.0


def _features(g: torch.Tensor, p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch features ``[B, N, 36]`` and patch sharpness (mean local σ at full scale) ``[B, N]`` of gray ``g``."""
    b, _, h, w = g.shape
    g = g[..., : (h // p) * p, : (w // p) * p]
    z1, sigma = mscn(g, padding="replicate")
    f1 = _patch_features(z1, p)
    z2, _ = mscn(imresize_half(g), padding="replicate")
    f2 = _patch_features(z2, p // 2)
    nh, nw = h // p, w // p
    sharp = sigma[:, 0].reshape(b, nh, p, nw, p).mean(dim=(2, 4)).transpose(1, 2).reshape(b, nh * nw)
    return torch.cat([f1, f2], dim=-1), sharp


def _effective_patch(h: int, w: int, patch_size: int) -> int:
    p = min(patch_size, h - h % 2, w - w % 2)
    if p < 16:
        raise InvalidImageError(
            "image",
            f"is {w}x{h} px; NIQE needs at least 16x16 px (it measures 96 px patches).",
            "measure a larger image (NIQE is meant for images of 96x96 px and more).",
        )
    return p


def _mvg(f: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``nanmean`` (per feature) and ``nancov`` (complete rows, unbiased) of ``f`` ``[B, N, 36]``; ``valid`` ``[B, N]``."""
    finite = torch.isfinite(f)
    zero = torch.zeros((), dtype=f.dtype, device=f.device)
    mu = torch.where(finite, f, zero).sum(1) / finite.sum(1)
    rows = valid.to(f.dtype)[..., None]
    n = rows.sum(1, keepdim=True)
    fc = torch.where(valid[..., None], f, zero)
    mean_c = fc.sum(1, keepdim=True) / n.clamp_min(1)
    d = (fc - mean_c) * rows
    cov = d.transpose(1, 2) @ d / (n - 1).clamp_min(1)
    return mu, cov


def niqe(x: torch.Tensor, *, model: NiqeModel | None = None) -> torch.Tensor:
    """NIQE of each image of ``x`` ``[B, C, H, W]`` (float in [0, 1], C = 1 or 3): a ``[B]`` tensor, unitless, ≥ 0.

    Lower is better (closer to the statistics of pristine natural images). ``model`` is the
    pristine :class:`NiqeModel` (default: the published one); its ``patch_size`` (96 px) is the
    patch side. Images smaller than one patch are measured on one patch of the largest even side
    that fits (at least 16 px); such small images are outside what NIQE was designed for. An image
    without any textured patch (flat) gets NaN, as MATLAB's ``niqe`` does. Computed in float32
    (float64 for float64 input); the covariance and its pseudo-inverse in float64 on the same device.
    """
    check_image(x, "image")
    if model is None:
        model = _pristine()
    elif not isinstance(model, NiqeModel):
        raise InvalidParameterError(
            "model", f"must be a NiqeModel, got {type(model).__name__}.", "use NiqeModel.load(path)."
        )
    h, w = x.shape[-2:]
    p = _effective_patch(h, w, model.patch_size)
    feats, _ = _features(_gray255(x), p)
    valid = torch.isfinite(feats).all(-1)
    f64 = feats.to(torch.float64)
    mu_d, cov_d = _mvg(f64, valid)
    mu_p = model.mu.to(device=x.device)
    cov_p = model.cov.to(device=x.device)
    diff = (mu_p - mu_d)[..., None]
    inv = torch.linalg.pinv((cov_p + cov_d) / 2, hermitian=True)
    q = (diff.transpose(1, 2) @ inv @ diff)[:, 0, 0].clamp_min(0).sqrt()
    q = torch.where(valid.any(1), q, torch.full_like(q, math.nan))
    return q.to(work_dtype(x))


def fit_niqe_model(
    images: torch.Tensor | Sequence[torch.Tensor],
    *,
    patch_size: int = DEFAULT_PATCH,
    sharpness_threshold: float = 0.75,
) -> NiqeModel:
    """Fit a NIQE pristine model on your own pristine (undistorted) images.

    ``images``: one batch ``[B, C, H, W]`` or a sequence of such batches / ``[C, H, W]`` images of
    any sizes (float in [0, 1], C = 1 or 3; each at least ``patch_size`` px on both sides).
    ``patch_size`` (px, even, default 96) is the patch side, and ``sharpness_threshold`` (0–1,
    default 0.75) keeps, per image, the patches whose sharpness (mean local contrast σ) is
    above that fraction of the image's sharpest patch, as in the reference ``estimatemodelparam``.
    Returns the MVG (mean and covariance of the 36 features over all kept patches, NaN patches
    dropped) as a :class:`NiqeModel` that :func:`niqe` takes as ``model``.
    """
    _check_patch(patch_size)
    if (
        isinstance(sharpness_threshold, bool)
        or not isinstance(sharpness_threshold, (int, float))
        or not 0.0 <= sharpness_threshold <= 1.0
    ):
        raise InvalidParameterError(
            "sharpness_threshold",
            f"must be a number in [0, 1], got {sharpness_threshold!r}.",
            "use 0.75 (the published value).",
        )
    batches = [images] if isinstance(images, torch.Tensor) else list(images)
    if not batches:
        raise InvalidParameterError("images", "is empty.", "give at least one pristine image.")
    kept: list[torch.Tensor] = []
    for i, batch in enumerate(batches):
        if not isinstance(batch, torch.Tensor):
            raise InvalidParameterError(
                "images", f"item {i} is a {type(batch).__name__}, not a tensor.", "give tensors."
            )
        if batch.dim() == 3:
            batch = batch[None]
        check_image(batch, f"images[{i}]")
        h, w = batch.shape[-2:]
        if h < patch_size or w < patch_size:
            raise InvalidImageError(
                f"images[{i}]",
                f"is {w}x{h} px, smaller than one {patch_size} px patch.",
                "use larger images or a smaller patch_size.",
            )
        feats, sharp = _features(_gray255(batch), patch_size)
        keep = sharp > sharpness_threshold * sharp.amax(1, keepdim=True)
        keep &= torch.isfinite(feats).all(-1) & (sharp > 0)
        kept.append(feats[keep].to(torch.float64).cpu())
    f = torch.cat(kept)
    if f.shape[0] < 2:
        raise InvalidImageError(
            "images",
            f"gave {f.shape[0]} usable patch(es); a covariance needs at least 2 (really, hundreds).",
            "give more and larger pristine images with texture.",
        )
    return NiqeModel(f.mean(0), torch.cov(f.T), patch_size)
