"""Video files as frames for batch work: probe, decode in exact order, write frames, re-encode, shots.

Decoding and encoding go through PyAV (FFmpeg), an optional dependency (``pip install
restorekit[video]``), imported on first use so that folder batches work without it.

- :func:`probe` reads a clip's frame count, rate and size. Containers often store no frame count
  (Matroska, WebM) or a wrong one (edited or cut MP4s), so by default the count comes from
  demuxing: every non-empty, non-discarded packet of the video stream is one frame. Nothing is
  decoded, so this costs one read of the file.
- :func:`iter_frames` yields ``(index, frame)`` in presentation order, indices 0, 1, 2, … as the
  decoder outputs them: each decoded frame once, none dropped or repeated (no frame-rate
  conversion happens). Frames are ``H×W×3`` RGB, ``uint8`` for 8-bit sources and ``uint16``
  (full 0–65535 range) for sources of more than 8 bits per sample (10-bit HEVC, ProRes, …).
- :class:`FrameWriter` writes frames as numbered 16-bit (or 8-bit) PNG/TIFF files, each atomically
  (:func:`restorekit.io.write_array`), and :class:`VideoEncoder` re-encodes frames into a video
  that appears under its name only when complete (written to a temporary file renamed at close).
- Temporal consistency: restoring each frame with its own blind noise estimate makes the result
  flicker, since the estimate jitters from frame to frame. :func:`analyse_shots` splits a clip into
  shots at hard cuts (large mean absolute difference and histogram distance between consecutive
  downscaled frames) and gives one noise sigma per shot, the median of the frames' estimates
  (:func:`restorekit.quality.estimate_sigma`); :func:`shot_sigma` does the same from given
  per-frame estimates and cut positions. :func:`frame_seed` gives each frame its own seed derived
  from the recipe's seed and the frame index, so a rerun (or a resumed run) gives every frame the
  same noise/grain it had before.

Colour: YUV sources are converted to RGB with the matrix the stream is tagged with (BT.601 when
untagged, as FFmpeg does), and RGB frames are encoded the same way, so a decode/encode round trip
does not shift colours.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

from ..errors import InvalidImageError, InvalidParameterError, MissingDependencyError
from ..io.files import _UMASK, _fsync_folder, quantize, to_unit, write_array

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
#: The largest seed the operations accept (``seed_param``); per-frame seeds wrap around below it.
SEED_LIMIT = 2**31
#: Side of the luma thumbnails compared for scene cuts, pixels.
_THUMB = 32
_HIST_BINS = 32
#: Codecs that take a constant-rate-factor option, and the pixel format each codec gets by default.
_CRF_CODECS = ("libx264", "libx264rgb", "libx265", "libvpx-vp9")
_DEFAULT_PIX_FMT = {
    ("libx264", 8): "yuv420p",
    ("libx264", 16): "yuv420p10le",
    ("libx264rgb", 8): "rgb24",
    ("libx265", 8): "yuv420p",
    ("libx265", 16): "yuv420p10le",
    ("libvpx-vp9", 8): "yuv420p",
    ("libvpx-vp9", 16): "yuv420p10le",
    ("ffv1", 8): "bgr0",
    ("ffv1", 16): "gbrp16le",
    ("png", 8): "rgb24",
    ("png", 16): "rgb48be",
    ("mpeg4", 8): "yuv420p",
}


def _av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise MissingDependencyError(
            "video", "reading and writing videos needs PyAV, which is not installed.", "pip install restorekit[video]"
        ) from exc
    return av


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a video file, by its suffix (.mp4 .mov .mkv .avi .webm .m4v, any case)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` found: ``frames`` (exact count), ``fps`` (frames per second), size in pixels.

    ``rate`` is the frame rate as a fraction (30000/1001 rather than 29.97); ``bit_depth`` is 8 or 16,
    the sample type :func:`iter_frames` yields (16 for sources of more than 8 bits);
    ``container_frames`` is the count stored in the container (0 when absent), ``counted`` whether
    ``frames`` comes from demuxing.
    """

    frames: int
    fps: float
    width: int
    height: int
    rate: Fraction = Fraction(0)
    bit_depth: int = 8
    codec: str = ""
    pix_fmt: str = ""
    container_frames: int = 0
    counted: bool = False


def _unreadable(path: Path, exc: BaseException | str) -> InvalidImageError:
    return InvalidImageError(
        str(path),
        f"cannot be read as a video ({exc}).",
        "check that the file is a complete video (an interrupted download or copy is cut short); "
        "`ffmpeg -i IN -c copy OUT.mkv` re-muxes a damaged container, or export the frames as images.",
    )


@contextlib.contextmanager
def _open_video(path: str | os.PathLike[str]) -> Iterator[tuple[Any, Any]]:
    """The opened container and its first video stream; errors become :class:`InvalidImageError`."""
    av = _av()
    path = Path(path)
    if not path.is_file():
        raise InvalidImageError(str(path), "no such video file.", "check the path.")
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    try:
        if not container.streams.video:
            raise InvalidImageError(str(path), "the file holds no video stream.", "give a file with video in it.")
        yield container, container.streams.video[0]
    finally:
        container.close()


def _rate(stream: Any) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return Fraction(0)


def _deep(pix_fmt: Any) -> bool:
    """Whether a PyAV video format has more than 8 bits in any component."""
    try:
        return max(c.bits for c in pix_fmt.components) > 8
    except (AttributeError, ValueError):
        return False


def _count_packets(container: Any, stream: Any) -> int:
    count = 0
    for packet in container.demux(stream):
        # The demuxer ends with an empty flush packet; discarded packets (before an MP4 edit list's
        # start) are decoded for reference only and never output as frames.
        if packet.size and not packet.is_discard:
            count += 1
    return count


def probe(path: str | os.PathLike[str], *, exact: bool = True) -> VideoInfo:
    """Frame count, frame rate, size and sample depth of the first video stream of ``path``.

    ``exact=True`` (default) counts the frames by demuxing the whole file (no decoding); with
    ``exact=False`` the container's stored count is used when it has one (faster, may be wrong
    for edited files), else the packets are counted as well.
    """
    av = _av()
    with _open_video(path) as (container, stream):
        ctx = stream.codec_context
        stored = int(stream.frames or 0)
        deep = _deep(ctx.format) if ctx.format is not None else False
        try:
            counted = exact or stored <= 0
            frames = _count_packets(container, stream) if counted else stored
        except av.FFmpegError as exc:
            raise _unreadable(Path(path), exc) from exc
        rate = _rate(stream)
        return VideoInfo(
            frames=frames,
            fps=float(rate),
            width=int(ctx.width),
            height=int(ctx.height),
            rate=rate,
            bit_depth=16 if deep else 8,
            codec=ctx.name or "",
            pix_fmt=ctx.format.name if ctx.format is not None else "",
            container_frames=stored,
            counted=counted,
        )


def iter_frames(path: str | os.PathLike[str], start: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, frame)`` for every frame of the first video stream, in presentation order.

    ``frame`` is ``[H, W, 3]`` RGB: ``uint8``, or ``uint16`` on the full 0–65535 scale when the
    source has more than 8 bits per sample. ``start`` skips the frames before that index (they
    are still decoded, since a frame can depend on earlier ones, but not converted).
    A file that stops decoding midway raises :class:`InvalidImageError` after the last good frame.
    """
    if start < 0:
        raise InvalidParameterError("start", f"must be >= 0, got {start}.", "give a frame index (0 = first frame).")
    av = _av()
    with _open_video(path) as (container, stream):
        stream.thread_type = "AUTO"
        target = None
        index = 0
        try:
            for frame in container.decode(stream):
                if target is None:
                    target = "rgb48le" if _deep(frame.format) else "rgb24"
                if index >= start:
                    yield index, frame.to_ndarray(format=target)
                index += 1
        except av.FFmpegError as exc:
            raise _unreadable(Path(path), f"decoding stopped after frame {index}: {exc}") from exc


# ---- writing ----------------------------------------------------------------------------------


def _as_samples(frame: np.ndarray, bit_depth: int, name: str = "frame") -> np.ndarray:
    """``frame`` ([H, W, C]: uint8, uint16, or float in [0, 1]) as ``bit_depth``-bit integer samples."""
    arr = np.asarray(frame)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidImageError(name, f"unsupported frame layout {arr.shape}.", "give [height, width, 3] RGB samples.")
    target = np.uint8 if bit_depth == 8 else np.uint16
    if arr.dtype == target:
        return arr
    if arr.dtype in (np.uint8, np.uint16):
        arr = to_unit(arr)
    elif not np.issubdtype(arr.dtype, np.floating):
        raise InvalidImageError(name, f"unsupported sample type {arr.dtype}.", "give uint8, uint16 or float frames.")
    return quantize(arr, bit_depth)


class FrameWriter:
    """Writes frames as numbered image files in ``out_dir``: ``pattern.format(index)``, each atomically.

    ``bit_depth`` 16 (default; PNG and TIFF store it) or 8. Frames may be ``uint8``/``uint16``
    samples (rescaled when their depth differs) or float arrays in [0, 1].
    """

    def __init__(self, out_dir: str | os.PathLike[str], pattern: str = "frame_{:06d}.png", bit_depth: int = 16) -> None:
        if bit_depth not in (8, 16):
            raise InvalidParameterError("bit_depth", f"must be 8 or 16, got {bit_depth!r}.", "use 16 for restoration.")
        try:
            name = pattern.format(0)
        except (IndexError, KeyError, ValueError) as exc:
            raise InvalidParameterError(
                "pattern", f"{pattern!r} is not a format string for one index ({exc}).", 'use e.g. "frame_{:06d}.png".'
            ) from exc
        if name == pattern.format(1):
            raise InvalidParameterError("pattern", f"{pattern!r} has no place for the index.", 'use "frame_{:06d}.png".')
        suffix = Path(name).suffix.lower()
        if suffix not in (".png", ".tif", ".tiff") and not (bit_depth == 8 and suffix in (".bmp", ".jpg", ".jpeg")):
            raise InvalidParameterError(
                "pattern", f"{suffix or 'no suffix'} frames cannot hold {bit_depth}-bit samples.", "end it in .png or .tif."
            )
        self.out_dir = Path(out_dir)
        self.pattern = pattern
        self.bit_depth = bit_depth

    def path(self, index: int) -> Path:
        """The file frame ``index`` is written to."""
        return self.out_dir / self.pattern.format(index)

    def write(self, index: int, frame: np.ndarray) -> Path:
        """Write frame ``index`` (atomically: a whole file or none under its name); returns its path."""
        return write_array(self.path(index), _as_samples(frame, self.bit_depth))


class VideoEncoder:
    """Encodes RGB frames, in the order given, into the video file ``path``; use as a context manager.

    ``fps`` frames per second (a float or a :class:`~fractions.Fraction` such as 30000/1001);
    ``width``/``height`` in pixels; ``codec`` an FFmpeg encoder (``libx264`` default; ``ffv1`` or
    ``libx264rgb`` with ``crf=0`` are lossless); ``crf`` the constant rate factor of x264/x265/VP9
    (0 lossless … 51, 18 looks transparent); ``bit_depth`` 8 or 16 (16: 10-bit 4:2:0 or 16-bit RGB,
    depending on the codec); ``pix_fmt`` overrides the codec's default pixel format; ``options``
    extra encoder options. The video is written to a hidden temporary file next to ``path`` and
    renamed to ``path`` on a clean exit only, so an interruption leaves no partial video there.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float | Fraction,
        width: int,
        height: int,
        codec: str = "libx264",
        crf: int | None = 18,
        *,
        bit_depth: int = 8,
        pix_fmt: str | None = None,
        options: dict[str, str] | None = None,
    ) -> None:
        av = _av()
        self.path = Path(path)
        if self.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise InvalidParameterError(
                "output", f"{self.path.suffix or 'no suffix'} is not a video suffix.", f"use one of {', '.join(VIDEO_SUFFIXES)}."
            )
        rate = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
        if rate <= 0:
            raise InvalidParameterError("fps", f"must be > 0, got {fps!r}.", "give the source's frame rate (probe(path).fps).")
        if width < 1 or height < 1:
            raise InvalidParameterError("size", f"{width}x{height} is empty.", "give the frames' width and height.")
        if bit_depth not in (8, 16):
            raise InvalidParameterError("bit_depth", f"must be 8 or 16, got {bit_depth!r}.", "use 8 (or 16 for 10-bit video).")
        if codec not in av.codecs_available:
            raise InvalidParameterError("codec", f"{codec!r} is not an encoder of this FFmpeg.", "use libx264 or ffv1.")
        pix_fmt = pix_fmt or _DEFAULT_PIX_FMT.get((codec, bit_depth))
        if pix_fmt is None:
            raise InvalidParameterError(
                "pix_fmt", f"no default pixel format for {codec} at {bit_depth} bits.", "pass pix_fmt (e.g. 'yuv420p')."
            )
        if ("420" in pix_fmt or "422" in pix_fmt) and (width % 2 or (height % 2 and "420" in pix_fmt)):
            raise InvalidParameterError(
                "size",
                f"{pix_fmt} video needs an even width and height, got {width}x{height}.",
                "crop or pad the frames by one pixel, or use codec='ffv1' (RGB, any size).",
            )
        opts = {str(k): str(v) for k, v in (options or {}).items()}
        if crf is not None and codec in _CRF_CODECS:
            if not 0 <= crf <= 63:
                raise InvalidParameterError("crf", f"must be in 0..51 (63 for VP9), got {crf}.", "use 18 (0 = lossless).")
            opts.setdefault("crf", str(crf))
            if codec == "libvpx-vp9":
                opts.setdefault("b", "0")  # constant quality needs the bitrate target off
                if crf == 0:
                    opts.setdefault("lossless", "1")
            if codec == "libx265":
                opts.setdefault("x265-params", "log-level=error" + (":lossless=1" if crf == 0 else ""))
        self.fps = float(rate)
        self.rate = rate
        self.width, self.height = int(width), int(height)
        self.codec, self.pix_fmt, self.bit_depth = codec, pix_fmt, bit_depth
        self.frames = 0
        self._options = opts
        self._container: Any = None
        self._stream: Any = None
        self._tmp: Path | None = None

    def __enter__(self) -> VideoEncoder:
        av = _av()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Same folder (so the rename is atomic) and same suffix (FFmpeg picks the container by name).
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.", suffix=f".part{self.path.suffix}")
        os.close(fd)
        self._tmp = Path(tmp)
        try:
            self._container = av.open(tmp, "w")
            stream = self._container.add_stream(self.codec, rate=self.rate, options=self._options)
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, self.pix_fmt
            stream.codec_context.time_base = 1 / self.rate
            self._stream = stream
        except BaseException:
            self._abort()
            raise
        return self

    def write(self, frame: np.ndarray) -> None:
        """Encode the next frame: ``[H, W, 3]`` RGB, ``uint8``/``uint16`` or float in [0, 1]."""
        if self._stream is None:
            raise InvalidParameterError("encoder", "is not open.", "use it as `with VideoEncoder(...) as enc:`.")
        av = _av()
        arr = np.asarray(frame)
        if arr.ndim != 3 or arr.shape[:2] != (self.height, self.width) or arr.shape[2] != 3:
            raise InvalidImageError(
                f"frame {self.frames}",
                f"has shape {arr.shape}, the video is {self.height}x{self.width} RGB.",
                "give every frame the size the encoder was opened with, as [height, width, 3].",
            )
        samples = _as_samples(arr, self.bit_depth, f"frame {self.frames}")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(samples), format="rgb24" if self.bit_depth == 8 else "rgb48le")
        vf.pts = self.frames
        vf.time_base = 1 / self.rate
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            self._abort()
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
            with open(self._tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            # mkstemp makes the file private to its owner; give it the permissions open() would.
            os.chmod(self._tmp, 0o666 & ~_UMASK)
            os.replace(self._tmp, self.path)
        except BaseException:
            self._abort()
            raise
        _fsync_folder(self.path.parent)

    def _abort(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)


# ---- temporal consistency -----------------------------------------------------------------------


def frame_tensor(frame: np.ndarray) -> torch.Tensor:
    """A decoded frame (H×W×3 uint8/uint16) as a [1, 3, H, W] float32 tensor in [0, 1] on the CPU."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(to_unit(np.asarray(frame)))).permute(2, 0, 1)[None]


def frame_seed(seed: int, index: int) -> int:
    """The seed of frame ``index`` for a recipe seed ``seed``: ``(seed + index) mod 2**31``.

    Every frame gets its own seed (grain and noise differ from frame to frame, as on film) and the
    same one on every run, so a resumed or re-run batch reproduces the frames already written.
    """
    return (int(seed) + int(index)) % SEED_LIMIT


def frame_signature(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A cheap description of a frame for cut detection: a 32×32 luma thumbnail in [0, 1] (area
    averages, float32) and its 32-bin luma histogram normalised to sum 1."""
    unit = to_unit(np.asarray(frame))
    luma = unit.mean(axis=2) if unit.ndim == 3 else unit
    h, w = luma.shape
    # Area average over a fixed grid: cell edges rounded so any size (even smaller than 32) works.
    rows = np.minimum((np.arange(h) * _THUMB) // h, _THUMB - 1)
    cols = np.minimum((np.arange(w) * _THUMB) // w, _THUMB - 1)
    sums = np.zeros((_THUMB, _THUMB), np.float64)
    np.add.at(sums, (rows[:, None], cols[None, :]), luma)
    counts = np.zeros((_THUMB, _THUMB), np.float64)
    np.add.at(counts, (rows[:, None], cols[None, :]), 1.0)
    thumb = (sums / np.maximum(counts, 1)).astype(np.float32)
    hist = np.bincount(np.minimum((luma * _HIST_BINS).astype(np.int64), _HIST_BINS - 1).ravel(), minlength=_HIST_BINS)
    return thumb, (hist / max(hist.sum(), 1)).astype(np.float32)


def detect_cuts(
    signatures: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    cut_threshold: float = 0.25,
    diff_threshold: float = 0.08,
) -> list[int]:
    """Start indices of the shots (always ``[0, …]``) from :func:`frame_signature` results.

    Between frames ``i - 1`` and ``i`` two cheap measures are taken: the histogram distance ``h``
    (half the L1 distance of the normalised luma histograms: 0 = same, 1 = disjoint) and the mean
    absolute difference ``d`` of the luma thumbnails (in [0, 1]). A cut is where both are large
    (``h > cut_threshold`` and ``d > diff_threshold``), or where the picture changed so much that
    ``d > 3 * diff_threshold`` on its own. Requiring both keeps fades and flat, narrow-histogram
    scenes (``h`` large, ``d`` small) and fast pans (``d`` large, ``h`` small) inside their shot;
    a missed cut between two look-alike shots only shares one noise estimate between them.
    """
    for name, value in (("cut_threshold", cut_threshold), ("diff_threshold", diff_threshold)):
        if not 0.0 < value <= 1.0:
            raise InvalidParameterError(name, f"must be in (0, 1], got {value!r}.", "use the default (0.25 / 0.08).")
    if len(signatures) == 0:
        return []
    thumbs = np.stack([s[0] for s in signatures])
    hists = np.stack([s[1] for s in signatures])
    diff = np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2))
    hist_dist = 0.5 * np.abs(np.diff(hists, axis=0)).sum(axis=1)
    cuts = np.flatnonzero(((hist_dist > cut_threshold) & (diff > diff_threshold)) | (diff > 3 * diff_threshold)) + 1
    return [0, *cuts.tolist()]


def shot_sigma(frame_sigmas: Sequence[float], cuts: Sequence[int]) -> list[float]:
    """One noise sigma per frame, constant within each shot: the median of the shot's per-frame
    estimates. ``cuts`` are shot start indices (as :func:`detect_cuts` gives; 0 may be left out);
    sigmas in whatever units they are given (the core's [0, 1] from :func:`analyse_shots`)."""
    sig = np.asarray(frame_sigmas, dtype=np.float64)
    n = len(sig)
    starts = sorted({0, *(int(c) for c in cuts)})
    if n and (starts[-1] >= n or starts[0] < 0):
        raise InvalidParameterError("cuts", f"must be frame indices in 0..{n - 1}, got {list(cuts)}.", "use detect_cuts().")
    out = np.empty(n, np.float64)
    for a, b in zip(starts, [*starts[1:], n], strict=True):
        out[a:b] = np.median(sig[a:b]) if b > a else 0.0
    return out.tolist()


@dataclass(frozen=True)
class Shot:
    """Frames ``start`` to ``stop - 1`` of a clip and their common noise ``sigma`` ([0, 1] units)."""

    start: int
    stop: int
    sigma: float


@dataclass(frozen=True)
class ShotPlan:
    """The shots of a clip (:func:`analyse_shots`) and the per-frame measurements they come from."""

    shots: list[Shot]
    frame_sigmas: list[float] = field(default_factory=list)

    @property
    def cuts(self) -> list[int]:
        """Start index of every shot."""
        return [s.start for s in self.shots]

    def shot_of(self, index: int) -> Shot:
        """The shot frame ``index`` belongs to."""
        starts = self.cuts
        pos = int(np.searchsorted(starts, index, side="right")) - 1
        if not self.shots or pos < 0 or index >= self.shots[-1].stop:
            raise InvalidParameterError("index", f"frame {index} is outside the clip.", f"use 0..{self.frames - 1}.")
        return self.shots[pos]

    def sigma(self, index: int) -> float:
        """The noise sigma ([0, 1] units; ×255 for the 0–255 scale of the parameters) of frame ``index``."""
        return self.shot_of(index).sigma

    @property
    def frames(self) -> int:
        """Number of frames analysed."""
        return self.shots[-1].stop if self.shots else 0


def analyse_shots(
    frames: str | os.PathLike[str] | Iterable[tuple[int, np.ndarray]],
    *,
    cut_threshold: float = 0.25,
    diff_threshold: float = 0.08,
) -> ShotPlan:
    """Split a clip (a video path, or ``(index, frame)`` pairs as :func:`iter_frames` gives) into
    shots at hard cuts (:func:`detect_cuts`) and estimate one noise sigma per shot: the median of
    the frames' blind estimates (:func:`restorekit.quality.estimate_sigma`, mean over channels,
    [0, 1] units). One pass over the frames; only the small signatures are kept."""

    from ..quality.noise import estimate_sigma

    source = iter_frames(frames) if isinstance(frames, (str, os.PathLike)) else frames
    signatures: list[tuple[np.ndarray, np.ndarray]] = []
    sigmas: list[float] = []
    for _, frame in source:
        signatures.append(frame_signature(frame))
        x = frame_tensor(frame)
        sigmas.append(float(estimate_sigma(x).mean()))
    cuts = detect_cuts(signatures, cut_threshold=cut_threshold, diff_threshold=diff_threshold)
    per_frame = shot_sigma(sigmas, cuts)
    stops = [*cuts[1:], len(sigmas)]
    shots = [Shot(a, b, per_frame[a]) for a, b in zip(cuts, stops, strict=True)]
    return ShotPlan(shots=shots, frame_sigmas=sigmas)
