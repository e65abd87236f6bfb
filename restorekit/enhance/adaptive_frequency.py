"""Adaptive frequency filter: a short-time Fourier (block) Wiener filter driven by the noise level.

The image is cut into overlapping blocks of ``block`` x ``block`` pixels, half a block apart,
each weighted by the window ``w(n) = sin(pi (n + 1/2) / block)`` along both axes. Because
``w(n)^2 + w(n + block/2)^2 = 1``, weighting each filtered block by ``w`` again and summing the
overlaps gives back the image exactly when every gain is 1 (a tight frame). Each block's
spectrum ``Y(k)`` is filtered with a gain from the local signal and the noise:

- The noise power of a coefficient is ``P_n = sigma^2 sum w^2 = sigma^2 block^2 / 4`` for white
  noise of standard deviation ``sigma`` (estimated per image and channel by
  :func:`restorekit.quality.noise.estimate_sigma` unless given).
- Pass 1 (empirical Wiener / spectral subtraction): ``G1 = max(|Y|^2 - beta P_n, 0) / |Y|^2``.
- Pass 2 (Wiener with a pilot): the pass-1 image is transformed again and its coefficients
  ``S`` give ``G2 = |S|^2 / (|S|^2 + P_n)``, applied to the original ``Y``. The pilot averages
  the overlapping blocks, so ``G2`` is less noisy than ``G1`` (fewer isolated "musical" dots).
- Detail boost (``detail_gain`` > 1): coefficients whose local signal-to-noise ratio
  ``snr = |S|^2 / P_n`` is high get up to ``detail_gain`` times more, ``G *= 1 + (detail_gain - 1)
  snr / (snr + 10)``: detail well above the noise is sharpened, noise-dominated coefficients are not.

Colour images are filtered in an orthonormal opponent space (luminance and two colour
differences), where white RGB noise stays white with the same sigma while the picture's energy
concentrates in luminance; each channel is filtered with its own sigma.

Block DC terms have gain 1, so flat areas keep their level; the mean brightness of each image
and channel is then restored by a constant shift (with clipping taken into account), so the
drift is far below 1/255. Blocks come from ``unfold`` and go back with ``fold`` (overlap-add) and
their FFTs are one batched ``rfft2``: no Python loop over blocks. Borders are mirror-padded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from ..quality.noise import estimate_sigma
from .spectral import brightness, drift_grey, mirror_pad, restore_mean

#: Block sides allowed (even, so that half-block hops tile exactly).
MIN_BLOCK, MAX_BLOCK = 4, 128
#: Number of filtering passes: 1 = empirical Wiener only, 2 = Wiener with a pilot estimate.
PASSES = (1, 2)
#: Orthonormal opponent colour transform (rows: luminance, red-blue, green-magenta).
_OPPONENT = torch.tensor(
    [[1 / math.sqrt(3)] * 3, [1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)],
     [1 / math.sqrt(6), -2 / math.sqrt(6), 1 / math.sqrt(6)]],
    dtype=torch.float64,
)
#: SNR (signal power / noise power) at which the detail boost reaches half its amount.
_DETAIL_SNR_HALF = 10.0


@dataclass(frozen=True)
class AdaptiveFrequencyInfo:
    """What :func:`adaptive_frequency_filter` did; per-image lists have one entry per image."""

    sigma: list[float]  # noise sigma used, 0-1 units, mean over (opponent) channels
    sigma_estimated: bool
    kept_fraction: list[float]  # mean gain over all block coefficients (1 = nothing removed)
    drift: list[float]  # mean-brightness change, 0-255 grey levels (max over channels)


def _number(v: object) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def _check(sigma, block, strength, detail_gain, oversubtract, passes) -> None:
    if sigma is not None and (not _number(sigma) or not 0 <= sigma <= 1):
        raise InvalidParameterError("sigma", f"expected None (estimate) or a number in [0, 1], got {sigma!r}.",
                                    "give e.g. 15/255, or None to estimate it (0 in the UI).")
    if isinstance(block, bool) or not isinstance(block, int) or block % 2 or not MIN_BLOCK <= block <= MAX_BLOCK:
        raise InvalidParameterError(
            "block", f"expected an even number of pixels in [{MIN_BLOCK}, {MAX_BLOCK}], got {block!r}.", "give e.g. 16.")
    if not _number(strength) or not 0 <= strength <= 4:
        raise InvalidParameterError("strength", f"expected a number in [0, 4], got {strength!r}.",
                                    "give e.g. 1.0 (multiplies the noise power).")
    if not _number(detail_gain) or not 1 <= detail_gain <= 4:
        raise InvalidParameterError("detail_gain", f"expected a number in [1, 4], got {detail_gain!r}.",
                                    "give 1 (no boost) or e.g. 1.5.")
    if not _number(oversubtract) or not 0 <= oversubtract <= 10:
        raise InvalidParameterError("oversubtract", f"expected a number in [0, 10], got {oversubtract!r}.",
                                    "give e.g. 2.")
    if passes not in PASSES or isinstance(passes, bool):
        raise InvalidParameterError("passes", f"expected 1 or 2, got {passes!r}.", "give 2 (better) or 1 (faster).")


def _window(block: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``[block, block]`` separable sine window whose squares, shifted by half a block, sum to 1."""
    n = torch.arange(block, device=device, dtype=dtype)
    w = torch.sin(math.pi * (n + 0.5) / block)
    return w.view(-1, 1) * w.view(1, -1)


class _Stft:
    """Windowed overlapping blocks of a padded plane batch ``[N, 1, Hp, Wp]`` and their inverse.

    Blocks stay in ``unfold``'s layout ``[N, block, block, L]`` (L blocks last) and are
    transformed over dims 1 and 2, which saves a transposed copy of the (four times oversampled)
    block data each way.
    """

    def __init__(self, shape: tuple[int, int], block: int, window: torch.Tensor) -> None:
        self.shape, self.block, self.hop = shape, block, block // 2
        self.window = window.view(1, block, block, 1)

    def forward(self, xp: torch.Tensor) -> torch.Tensor:
        """Block spectra ``[N, block, block // 2 + 1, L]``."""
        cols = F.unfold(xp, self.block, stride=self.hop)  # [N, block^2, L]
        blocks = cols.view(xp.shape[0], self.block, self.block, -1)
        return torch.fft.rfft2(blocks * self.window, dim=(1, 2))

    def inverse(self, spectra: torch.Tensor) -> torch.Tensor:
        """Overlap-add of the windowed inverse blocks: ``[N, 1, Hp, Wp]``."""
        blocks = torch.fft.irfft2(spectra, s=(self.block, self.block), dim=(1, 2)) * self.window
        return F.fold(blocks.reshape(blocks.shape[0], self.block * self.block, -1), self.shape, self.block,
                      stride=self.hop)


def adaptive_frequency_filter(
    x: torch.Tensor,
    *,
    sigma: float | None = None,
    block: int = 16,
    strength: float = 1.0,
    detail_gain: float = 1.0,
    passes: int = 2,
    oversubtract: float = 2.0,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, AdaptiveFrequencyInfo]:
    """Block-STFT Wiener filtering of ``x`` ``[B, C, H, W]`` (C = 1 or 3, values in [0, 1]).

    Each channel is filtered with its own noise level (see the module docstring for the gains);
    RGB in an orthonormal opponent colour space (luminance, red-blue, green-magenta).

    Args:
        sigma: standard deviation of white noise in [0, 1] units (the UI's 0-255 divided by
            255); ``None`` = estimate it per image and channel; 0 = no noise (only the detail
            boost acts; with ``detail_gain`` 1 the image comes back unchanged to float precision).
        block: block side in pixels, even, 4-128 (16 default); the frequency resolution of the filter.
        strength: multiplies the noise power (0-4): below 1 keeps more, above 1 removes more.
        detail_gain: 1-4, gain on coefficients far above the noise (1 = no boost).
        passes: 2 = Wiener with a pilot estimate (better), 1 = empirical Wiener only (faster).
        oversubtract: ``beta`` of pass 1 (0-10); higher makes a cleaner pilot.
        return_info: also return an :class:`AdaptiveFrequencyInfo`.
        progress: optional callback ``(done, total)`` in passes.

    Returns:
        The filtered batch in [0, 1], same shape, dtype and device (and the info if asked).
    """
    check_image(x, "image")
    _check(sigma, block, strength, detail_gain, oversubtract, passes)
    b, c, h, w = x.shape
    report(progress, 0, passes)
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.to(work)
    # RGB is filtered in an orthonormal opponent space: white noise stays white with the same sigma,
    # while the picture concentrates in the first (luminance) channel, so the chroma channels are
    # mostly noise and are cleaned much more (as CBM3D does).
    m = _OPPONENT.to(device=x.device, dtype=work) if c == 3 else None
    xo = torch.einsum("ij,bjhw->bihw", m, xf) if m is not None else xf
    if sigma is None:
        sig = estimate_sigma(xo).to(work)  # [B, C], per opponent channel
    else:
        sig = torch.full((b, c), float(sigma), device=x.device, dtype=work)
    noise_power = (float(strength) * sig * sig * (block * block / 4.0)).reshape(b * c, 1, 1, 1)

    # Pad by half a block on each side (every pixel then lies in four blocks), then up to a whole
    # number of hops.
    hop = block // 2
    hp = max(h + 2 * hop, block)
    wp = max(w + 2 * hop, block)
    hp += -(hp - block) % hop
    wp += -(wp - block) % hop
    planes = xo.reshape(b * c, 1, h, w)
    xp = mirror_pad(planes, hop, hp - h - hop, hop, wp - w - hop)
    stft = _Stft((hp, wp), block, _window(block, x.device, work))
    spectra = stft.forward(xp)
    power = spectra.abs().square()
    has_noise = noise_power > 0

    if passes == 1:
        gain = torch.where(has_noise, (power - oversubtract * noise_power).clamp(min=0) / power.clamp(min=1e-30), 1.0)
        pilot_power = power * gain * gain
    else:
        g1 = torch.where(has_noise, (power - oversubtract * noise_power).clamp(min=0) / power.clamp(min=1e-30), 1.0)
        pilot = stft.forward(stft.inverse(spectra * g1))
        report(progress, 1, passes)
        pilot_power = pilot.abs().square()
        gain = torch.where(has_noise, pilot_power / (pilot_power + noise_power).clamp(min=1e-30), 1.0)
    if detail_gain > 1:
        snr = pilot_power / noise_power.clamp(min=1e-30)  # no noise: everything counts as detail
        gain = gain * (1.0 + (detail_gain - 1.0) * snr / (snr + _DETAIL_SNR_HALF))
    gain[:, 0, 0, :] = 1.0  # block means pass unchanged: flat areas keep their level exactly
    filtered = stft.inverse(spectra * gain)[..., hop : hop + h, hop : hop + w].reshape(b, c, h, w)
    if m is not None:
        filtered = torch.einsum("ji,bjhw->bihw", m, filtered)  # orthonormal: the inverse is the transpose
    out = restore_mean(filtered, brightness(xf, True), per_channel=True, multiplicative=False)
    report(progress, passes, passes)
    result = out.to(x.dtype)
    if not return_info:
        return result
    info = AdaptiveFrequencyInfo(
        sigma=sig.mean(dim=1).tolist(),
        sigma_estimated=sigma is None,
        kept_fraction=gain.clamp(max=1).reshape(b, -1).mean(dim=1).tolist(),
        drift=drift_grey(out, xf, True).tolist(),
    )
    return result, info
