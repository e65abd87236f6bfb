"""Where the official weights of each supported network family are published, and a verified downloader.

The catalogue (:data:`CATALOGUE`) lists, per entry, the file the authors publish, its official URL
(the authors' GitHub releases; Google Drive where that is the only place they publish), its
licence, the noise range it was trained for, and its SHA-256 when a public source states one
(see ``docs/MODELS.md`` for the sources). ``None`` means no published checksum was found; such a
file is only installed when the caller says so explicitly (``allow_unverified=True`` /
``--allow-unverified``), and then its computed SHA-256 is reported so the user can pin it.

:func:`fetch_weights` streams the file with :mod:`urllib` into a temporary file in the
destination folder, checks the size and the SHA-256, and only then renames it into place
(atomically), so a half-downloaded or corrupted file never carries the real name. Nothing is
downloaded at import time.

The default destination is :func:`restorekit.models.folders.default_model_dir` (the folders the host
application configured, else ``RESTOREKIT_MODEL_DIR``, else ``~/.cache/restorekit/models``). The
``restorekit weights list|fetch`` commands are in :mod:`restorekit.cli_weights`.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import InvalidParameterError, ModelLoadError
from ..progress import ProgressCallback, report
from .folders import ENV_MODEL_DIR, default_model_dir

log = logging.getLogger("restorekit")

__all__ = [
    "CATALOGUE", "ENV_MODEL_DIR", "WeightsDownloadError", "WeightsEntry", "default_model_dir", "fetch_weights",
    "file_sha256", "find_weights", "list_weights",
]

WEIGHT_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")
USER_AGENT = f"restorekit/{__version__}"
CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60.0

Opener = Callable[..., Any]


class WeightsDownloadError(ModelLoadError):
    """Downloading or verifying a published weights file failed (network, HTTP status, checksum)."""


@dataclass(frozen=True)
class WeightsEntry:
    """One published weights file.

    ``name`` is the catalogue key used by ``restorekit weights fetch NAME``; ``file_name`` is the
    name the file is saved under (the authors' own name, which spandrel and ComfyUI show).
    ``channels`` is 1 (gray) or 3 (RGB); ``scale`` the output/input size ratio. ``noise`` says the
    noise levels (σ on the 0–255 scale) the network was trained for and whether it takes a noise
    level input. ``sha256`` is the checksum stated by a public source (``sha256_source``), or None.
    ``size`` is the byte size stated by that source, when it states one. ``homepage`` is the
    official page that links the file.
    """

    name: str
    family: str
    purpose: str
    file_name: str
    url: str
    licence: str
    channels: int
    scale: int
    noise: str
    homepage: str
    sha256: str | None = None
    size: int | None = None
    sha256_source: str | None = None
    notes: str = ""

    @property
    def verified(self) -> bool:
        """True when a published SHA-256 exists to check the download against."""
        return self.sha256 is not None

    @property
    def noise_conditional(self) -> bool:
        """True for networks that take the noise level as an input (FFDNet, FDnCNN, DRUNet)."""
        return self.family in ("FFDNet", "FDnCNN", "DRUNet")


# ---- the catalogue ----------------------------------------------------------------------

_KAIR = "https://github.com/cszn/KAIR/releases/download/v1.0/"
_KAIR_PAGE = "https://github.com/cszn/KAIR/releases/tag/v1.0"
_SWINIR = "https://github.com/JingyunLiang/SwinIR/releases/download/v0.0/"
_SWINIR_PAGE = "https://github.com/JingyunLiang/SwinIR/releases/tag/v0.0"
_RESTORMER = "https://github.com/swz30/Restormer/releases/download/v1.0/"
_RESTORMER_PAGE = "https://github.com/swz30/Restormer/releases/tag/v1.0"
_ESRGAN = "https://github.com/xinntao/Real-ESRGAN/releases/download/"
_ESRGAN_PAGE = "https://github.com/xinntao/Real-ESRGAN/releases"
_DRIVE = "https://drive.usercontent.google.com/download?export=download&confirm=t&id="

_OMDB = "OpenModelDB (github.com/OpenModelDB/open-model-database, data/models/{})"
_PINNED_DRUNET = ("pinned identically by at least four independent public projects found through code search "
                  "(see docs/MODELS.md)")
_PINNED_SCUNET_PSNR = ("AmerZuher/Super-Image-Quality-Enhancer backend/src/siqe/ai/manifest.py (with the size), and "
                       "pinned identically by two other independent public projects (see docs/MODELS.md)")
_PINNED_SCUNET_GAN = "pinned identically by three independent public projects found through code search (see docs/MODELS.md)"

_KAIR_LICENCE = "MIT (KAIR)"
_SCUNET_LICENCE = "Apache-2.0 (SCUNet code); weights published in KAIR v1.0 (MIT)"
_SWINIR_LICENCE = "Apache-2.0"
_RESTORMER_LICENCE = "Academic Public License (non-commercial use only)"
_NAFNET_LICENCE = "MIT"
_ESRGAN_LICENCE = "BSD-3-Clause"


def _kair(name: str, family: str, purpose: str, file_name: str, channels: int, noise: str, **kw: Any) -> WeightsEntry:
    return WeightsEntry(name, family, purpose, file_name, _KAIR + file_name, kw.pop("licence", _KAIR_LICENCE),
                        channels, 1, noise, _KAIR_PAGE, **kw)


def _swinir(name: str, purpose: str, file_name: str, channels: int, scale: int, noise: str, **kw: Any) -> WeightsEntry:
    return WeightsEntry(name, "SwinIR", purpose, file_name, _SWINIR + file_name, _SWINIR_LICENCE,
                        channels, scale, noise, _SWINIR_PAGE, **kw)


def _restormer(name: str, purpose: str, file_name: str, channels: int, noise: str, **kw: Any) -> WeightsEntry:
    return WeightsEntry(name, "Restormer", purpose, file_name, _RESTORMER + file_name, _RESTORMER_LICENCE,
                        channels, 1, noise, _RESTORMER_PAGE, **kw)


CATALOGUE: tuple[WeightsEntry, ...] = (
    # DnCNN (KAIR conversions of the original MatConvNet models)
    _kair("dncnn-color-blind", "DnCNN", "denoise", "dncnn_color_blind.pth", 3,
          "blind, AWGN σ 0–55 (CDnCNN-B); no noise input",
          notes="20 conv layers; one model for all noise levels in its training range."),
    _kair("dncnn-gray-blind", "DnCNN", "denoise", "dncnn_gray_blind.pth", 1,
          "blind, AWGN σ 0–55 (DnCNN-B); no noise input"),
    _kair("dncnn-gray-15", "DnCNN", "denoise", "dncnn_15.pth", 1, "AWGN σ = 15 only (DnCNN-S)"),
    _kair("dncnn-gray-25", "DnCNN", "denoise", "dncnn_25.pth", 1, "AWGN σ = 25 only (DnCNN-S)"),
    _kair("dncnn-gray-50", "DnCNN", "denoise", "dncnn_50.pth", 1, "AWGN σ = 50 only (DnCNN-S)"),
    # FDnCNN: DnCNN with a noise-level map as an extra input channel
    _kair("fdncnn-gray", "FDnCNN", "denoise", "fdncnn_gray.pth", 1,
          "noise-conditional, σ 0–75 (noise-level map input)"),
    _kair("fdncnn-color", "FDnCNN", "denoise", "fdncnn_color.pth", 3,
          "noise-conditional, σ 0–75 (noise-level map input)"),
    # FFDNet
    _kair("ffdnet-gray", "FFDNet", "denoise", "ffdnet_gray.pth", 1,
          "noise-conditional, σ 0–75 (noise-level map input)"),
    _kair("ffdnet-color", "FFDNet", "denoise", "ffdnet_color.pth", 3,
          "noise-conditional, σ 0–75 (noise-level map input)"),
    # DRUNet (DPIR)
    _kair("drunet-gray", "DRUNet", "denoise", "drunet_gray.pth", 1,
          "noise-conditional, σ 0–50 (noise-level map input)",
          notes="The DPIR plug-and-play prior; input sides are padded to a multiple of 8."),
    _kair("drunet-color", "DRUNet", "denoise", "drunet_color.pth", 3,
          "noise-conditional, σ 0–50 (noise-level map input)",
          sha256="479abe3c5327dfd10ff54a80ec7d4098ca80752a5c9492cdff31cee430bec4b4",
          sha256_source=_PINNED_DRUNET,
          notes="The DPIR plug-and-play prior; input sides are padded to a multiple of 8."),
    # SCUNet
    _kair("scunet-color-real-psnr", "SCUNet", "denoise", "scunet_color_real_psnr.pth", 3,
          "blind, real camera noise (synthetic degradation pipeline); no noise input",
          licence=_SCUNET_LICENCE,
          sha256="fa78899ba2caec9d235a900e91d96c689da71c42029230c2028b00f09f809c2e", size=71982841,
          sha256_source=_PINNED_SCUNET_PSNR, notes="Fidelity (PSNR) version: the safe choice for photographs."),
    _kair("scunet-color-real-gan", "SCUNet", "denoise", "scunet_color_real_gan.pth", 3,
          "blind, real camera noise; no noise input",
          licence=_SCUNET_LICENCE,
          sha256="892c83f812c59173273b74f4f34a14ecaf57a2fdb68df056664589beb55c966e",
          sha256_source=_PINNED_SCUNET_GAN, notes="Perceptual (GAN) version: sharper, may invent texture."),
    _kair("scunet-color-15", "SCUNet", "denoise", "scunet_color_15.pth", 3, "AWGN σ = 15 only",
          licence=_SCUNET_LICENCE),
    _kair("scunet-color-25", "SCUNet", "denoise", "scunet_color_25.pth", 3, "AWGN σ = 25 only",
          licence=_SCUNET_LICENCE),
    _kair("scunet-color-50", "SCUNet", "denoise", "scunet_color_50.pth", 3, "AWGN σ = 50 only",
          licence=_SCUNET_LICENCE),
    _kair("scunet-gray-25", "SCUNet", "denoise", "scunet_gray_25.pth", 1, "AWGN σ = 25 only",
          licence=_SCUNET_LICENCE),
    # NAFNet: the authors publish on Google Drive (and Baidu) only
    WeightsEntry("nafnet-sidd-width64", "NAFNet", "denoise", "NAFNet-SIDD-width64.pth",
                 _DRIVE + "14Fht1QQJ2gMlk4N1ERCRuElg8JfjrWWR", _NAFNET_LICENCE, 3, 1,
                 "blind, real smartphone noise (SIDD sRGB); no noise input",
                 "https://github.com/megvii-research/NAFNet/blob/main/docs/SIDD.md",
                 notes="Published on Google Drive only (file id 14Fht1QQJ2gMlk4N1ERCRuElg8JfjrWWR); "
                       "about 464 MB."),
    WeightsEntry("nafnet-gopro-width64", "NAFNet", "deblur", "NAFNet-GoPro-width64.pth",
                 _DRIVE + "1S0PVRbyTakYY9a82kujgZLbMihfNBLfC", _NAFNET_LICENCE, 3, 1,
                 "motion deblurring (GoPro); no noise input",
                 "https://github.com/megvii-research/NAFNet/blob/main/docs/GoPro.md",
                 notes="Published on Google Drive only (file id 1S0PVRbyTakYY9a82kujgZLbMihfNBLfC); "
                       "about 272 MB. The authors evaluate it with test-time local statistics (TLC)."),
    # SwinIR
    _swinir("swinir-color-dn-15", "denoise", "005_colorDN_DFWB_s128w8_SwinIR-M_noise15.pth", 3, 1,
            "AWGN σ = 15 only"),
    _swinir("swinir-color-dn-25", "denoise", "005_colorDN_DFWB_s128w8_SwinIR-M_noise25.pth", 3, 1,
            "AWGN σ = 25 only"),
    _swinir("swinir-color-dn-50", "denoise", "005_colorDN_DFWB_s128w8_SwinIR-M_noise50.pth", 3, 1,
            "AWGN σ = 50 only"),
    _swinir("swinir-gray-dn-15", "denoise", "004_grayDN_DFWB_s128w8_SwinIR-M_noise15.pth", 1, 1,
            "AWGN σ = 15 only"),
    _swinir("swinir-gray-dn-25", "denoise", "004_grayDN_DFWB_s128w8_SwinIR-M_noise25.pth", 1, 1,
            "AWGN σ = 25 only"),
    _swinir("swinir-gray-dn-50", "denoise", "004_grayDN_DFWB_s128w8_SwinIR-M_noise50.pth", 1, 1,
            "AWGN σ = 50 only"),
    _swinir("swinir-l-realsr-x4-gan", "sr", "003_realSR_BSRGAN_DFOWMFC_s64w8_SwinIR-L_x4_GAN.pth", 3, 4,
            "real-world degradations (BSRGAN model: noise, blur, JPEG); no noise input",
            sha256="99adfa91350a84c99e946c1eb3d8fce34bc28f57d807b09dc8fe40a316328c0a", size=142473939,
            sha256_source=_OMDB.format("4x-realSR-BSRGAN-DFOWMFC-s64w8-SwinIR-L-x4-GAN.json")),
    _swinir("swinir-m-realsr-x4-gan", "sr", "003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4_GAN.pth", 3, 4,
            "real-world degradations (BSRGAN model); no noise input",
            sha256="b9afb61e65e04eb7f8aba5095d070bbe9af28df76acd0c9405aeb33b814bcfc6", size=67129861,
            sha256_source=_OMDB.format("4x-realSR-BSRGAN-DFO-s64w8-SwinIR-M-x4-GAN.json")),
    _swinir("swinir-m-realsr-x2-gan", "sr", "003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x2_GAN.pth", 3, 2,
            "real-world degradations (BSRGAN model); no noise input",
            sha256="f397408977a3e07eb06afb7238d453a12ef35ebab7328a54241f307860dbe342", size=66974517,
            sha256_source=_OMDB.format("2x-realSR-BSRGAN-DFO-s64w8-SwinIR-M-x2-GAN.json")),
    # Restormer (loaded through spandrel_extra_arches; non-commercial licence)
    _restormer("restormer-real-denoise", "denoise", "real_denoising.pth", 3,
               "blind, real camera noise (SIDD); no noise input",
               notes="Needs the optional spandrel_extra_arches package."),
    _restormer("restormer-color-denoise-blind", "denoise", "gaussian_color_denoising_blind.pth", 3,
               "blind, AWGN σ 0–50; no noise input",
               notes="Needs the optional spandrel_extra_arches package."),
    _restormer("restormer-motion-deblur", "deblur", "motion_deblurring.pth", 3,
               "motion deblurring (GoPro); no noise input",
               notes="Needs the optional spandrel_extra_arches package."),
    _restormer("restormer-defocus-deblur", "deblur", "single_image_defocus_deblurring.pth", 3,
               "single-image defocus deblurring (DPDD); no noise input",
               notes="Needs the optional spandrel_extra_arches package."),
    # Real-ESRGAN
    WeightsEntry("realesrgan-x4plus", "Real-ESRGAN", "sr", "RealESRGAN_x4plus.pth",
                 _ESRGAN + "v0.1.0/RealESRGAN_x4plus.pth", _ESRGAN_LICENCE, 3, 4,
                 "real-world degradations (noise, blur, JPEG) removed while upscaling; no noise input",
                 _ESRGAN_PAGE, sha256="4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
                 size=67040989, sha256_source=_OMDB.format("4x-realesrgan-x4plus.json")),
    WeightsEntry("realesrgan-x2plus", "Real-ESRGAN", "sr", "RealESRGAN_x2plus.pth",
                 _ESRGAN + "v0.2.1/RealESRGAN_x2plus.pth", _ESRGAN_LICENCE, 3, 2,
                 "real-world degradations removed while upscaling; no noise input",
                 _ESRGAN_PAGE, sha256="49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
                 size=67061725, sha256_source=_OMDB.format("2x-realesrgan-x2plus.json")),
    WeightsEntry("realesr-general-x4v3", "Real-ESRGAN", "sr", "realesr-general-x4v3.pth",
                 _ESRGAN + "v0.2.5.0/realesr-general-x4v3.pth", _ESRGAN_LICENCE, 3, 4,
                 "real-world degradations; small and fast (SRVGG 'compact'); no noise input",
                 _ESRGAN_PAGE, sha256="8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
                 size=4885111, sha256_source=_OMDB.format("4x-realesr-general-x4v3.json")),
)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


# ---- look-up ----------------------------------------------------------------------------

def list_weights(family: str | None = None) -> tuple[WeightsEntry, ...]:
    """The catalogue entries, optionally only those of one ``family`` (case-insensitive, e.g. "drunet")."""
    if family is None:
        return CATALOGUE
    families = sorted({e.family for e in CATALOGUE})
    match = [e for e in CATALOGUE if e.family.lower() == family.strip().lower()]
    if not match:
        raise InvalidParameterError("family", f"no weights of family {family!r} are catalogued.",
                                    f"choose one of: {', '.join(families)}.")
    return tuple(match)


def find_weights(name: str) -> WeightsEntry:
    """The catalogue entry called ``name`` (case-insensitive; its file name is accepted too).

    Raises :class:`InvalidParameterError` naming the closest catalogue names when nothing matches.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError("weights name", "no name was given.", "run `restorekit weights list`.")
    key = name.strip().lower()
    for entry in CATALOGUE:
        if key in (entry.name, entry.file_name.lower()):
            return entry
    names = [e.name for e in CATALOGUE]
    # Names containing what was typed (a family, "x4plus") first, then spelling neighbours.
    close = [n for n in names if key in n] + difflib.get_close_matches(key, names, n=4, cutoff=0.5)
    close = list(dict.fromkeys(close))[:6]
    fix = f"did you mean {', '.join(close)}? " if close else ""
    raise InvalidParameterError("weights name", f"{name!r} is not in the catalogue.",
                                fix + "Run `restorekit weights list` to see every name.")


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file, as 64 lowercase hex digits (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- download ---------------------------------------------------------------------------

def _looks_like_web_page(head: bytes) -> bool:
    text = head.lstrip()[:64].lower()
    return text.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body"))


def _content_length(response: Any) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _download(entry: WeightsEntry, handle: Any, opener: Opener, progress: ProgressCallback | None) -> tuple[str, int]:
    """Stream ``entry.url`` into the open binary ``handle``; return (sha256 hex, bytes written)."""
    request = urllib.request.Request(entry.url, headers={"User-Agent": USER_AGENT})
    subject = f"weights {entry.name}"
    try:
        response = opener(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise WeightsDownloadError(
                subject, f"the server answered 404 Not Found for {entry.url}.",
                f"the file may have moved; check {entry.homepage} and download it by hand into the model folder.",
            ) from err
        raise WeightsDownloadError(subject, f"the server answered HTTP {err.code} ({err.reason}) for {entry.url}.",
                                   "try again later, or download it by hand from " + entry.homepage) from err
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise WeightsDownloadError(subject, f"could not connect to download {entry.url}: {reason}.",
                                   "check the network connection (or proxy) and try again.") from err
    digest = hashlib.sha256()
    written = 0
    with response:
        expected_length = _content_length(response)
        total = expected_length or entry.size or 0
        report(progress, 0, total)
        try:
            while True:
                block = response.read(CHUNK_BYTES)
                if not block:
                    break
                if written == 0 and _looks_like_web_page(block):
                    raise WeightsDownloadError(
                        subject, f"{entry.url} returned a web page instead of a weights file "
                                 "(a sign-in, consent or virus-scan page, e.g. from Google Drive).",
                        f"open {entry.homepage} in a browser, download {entry.file_name} and put it into the model folder.",
                    )
                handle.write(block)
                digest.update(block)
                written += len(block)
                report(progress, written, max(total, written))
        except (urllib.error.URLError, OSError) as err:
            raise WeightsDownloadError(subject, f"the download of {entry.url} broke off after {written} bytes: {err}.",
                                       "try again; the partial file was deleted.") from err
    if expected_length is not None and written != expected_length:
        raise WeightsDownloadError(subject, f"received {written} bytes but the server announced {expected_length}.",
                                   "try again; the partial file was deleted.")
    return digest.hexdigest(), written


def fetch_weights(
    name: str | WeightsEntry,
    dest_dir: str | Path | None = None,
    *,
    force: bool = False,
    allow_unverified: bool = False,
    progress: ProgressCallback | None = None,
    opener: Opener | None = None,
) -> Path:
    """Download the catalogue entry ``name`` into ``dest_dir`` and return the file's path.

    ``dest_dir`` defaults to :func:`default_model_dir`. The file is streamed to a temporary file
    in ``dest_dir``, its size and SHA-256 are checked, and only then is it renamed to
    ``entry.file_name`` (an atomic replace); on any failure the temporary file is removed. A file
    already present is kept when its SHA-256 matches (no download) unless ``force`` is set.
    Entries without a published SHA-256 are refused unless ``allow_unverified`` is set; their
    computed SHA-256 is then logged (and printed by the CLI). ``progress(done_bytes, total_bytes)``
    is called while downloading. ``opener(request, timeout=...)`` replaces
    :func:`urllib.request.urlopen` (used by the tests).

    Raises :class:`InvalidParameterError` (unknown name, unverified entry without permission,
    existing file with another checksum) or :class:`WeightsDownloadError` (network failure,
    HTTP error, truncated download, checksum mismatch).
    """
    entry = name if isinstance(name, WeightsEntry) else find_weights(name)
    subject = f"weights {entry.name}"
    if entry.sha256 is None and not allow_unverified:
        raise InvalidParameterError(
            subject, "no published SHA-256 is known for this file, so the download cannot be verified.",
            "pass --allow-unverified (allow_unverified=True) to install it anyway; its computed SHA-256 is shown "
            "so you can compare it with another source.",
        )
    dest = Path(default_model_dir() if dest_dir is None else dest_dir).expanduser()
    if dest.exists() and not dest.is_dir():
        raise InvalidParameterError("--dest", f"{dest} exists and is not a folder.", "give a folder.")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / entry.file_name
    if target.exists() and not force:
        if entry.sha256 is None:
            log.info("%s: %s is already present (no published SHA-256 to check it against).", entry.name, target)
            return target
        actual = file_sha256(target)
        if actual == entry.sha256:
            log.info("%s: %s is already present and verified.", entry.name, target)
            return target
        raise InvalidParameterError(
            subject, f"{target} already exists but its SHA-256 is {actual}, not the published {entry.sha256}.",
            "pass --force (force=True) to download it again and replace it, or remove the file.",
        )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{entry.file_name}.", suffix=".part", dir=dest)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            actual, written = _download(entry, handle, opener or urllib.request.urlopen, progress)
        if entry.size is not None and written != entry.size:
            raise WeightsDownloadError(
                subject, f"the download has {written} bytes, expected {entry.size}; the file was deleted.",
                f"the file at {entry.url} may have changed; check {entry.homepage}.",
            )
        if entry.sha256 is not None and actual != entry.sha256:
            raise WeightsDownloadError(
                subject, f"checksum mismatch: expected SHA-256 {entry.sha256}, got {actual}; the downloaded file "
                         "was deleted.",
                f"try again; if it keeps failing, the file at {entry.url} has changed; check {entry.homepage}.",
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    if entry.sha256 is None:
        log.warning("%s: installed %s WITHOUT verification; its SHA-256 is %s.", entry.name, target, actual)
    else:
        log.info("%s: installed %s (SHA-256 verified).", entry.name, target)
    return target
