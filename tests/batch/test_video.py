"""Video frames in and out: exact count and order through lossless and lossy coding, atomic
encoding, per-shot noise estimates, per-frame seeds."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("av")

from restorekit.batch import video  # noqa: E402
from restorekit.errors import InvalidImageError, InvalidParameterError  # noqa: E402

W, H, FPS, N = 64, 48, 10, 100  # a 10-second clip
BITS = 7  # frame index in 7 blocks of 8x8 pixels along the top row (0 = dark, 1 = bright)


def _decode_index(frame: np.ndarray) -> int:
    return sum(1 << b for b in range(BITS) if frame[2:6, 8 * b + 2:8 * b + 6].mean() > 128)


def _scene(seed: int, level: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    tint = rng.uniform(0.6, 1.0, 3)
    return np.clip(level + 40 * np.sin(xx / (3 + seed)) * np.cos(yy / 5.0), 0, 255)[..., None] * tint


def _write_clip(path, codec="libx264", crf=18, cut=None, noise=(3.0, 3.0)):
    rng = np.random.default_rng(0)
    scenes = [_scene(1, 90.0), _scene(2, 170.0)]
    with video.VideoEncoder(path, FPS, W, H, codec=codec, crf=crf) as enc:
        for i in range(N):
            shot = 1 if cut is not None and i >= cut else 0
            base = scenes[shot]
            frame = np.clip(base + rng.normal(0, noise[shot], base.shape), 0, 255)
            for b in range(BITS):
                frame[:8, 8 * b:8 * b + 8] = 230 if (i >> b) & 1 else 25
            enc.write(frame.round().astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return {
        "mp4": _write_clip(folder / "lossy.mp4"),
        "mkv": _write_clip(folder / "lossless.mkv", codec="ffv1", crf=None),
        "cut": _write_clip(folder / "cut.mkv", codec="ffv1", crf=None, cut=50, noise=(2.0, 12.0)),
    }


def test_is_video_by_suffix():
    assert video.is_video("a/b.MP4") and video.is_video("x.mkv") and video.is_video("y.webm")
    assert not video.is_video("a.png") and not video.is_video("mp4")


@pytest.mark.parametrize("kind", ["mp4", "mkv"])
def test_probe_counts_every_frame(clips, kind):
    info = video.probe(clips[kind])
    assert (info.frames, info.width, info.height) == (N, W, H)
    assert info.fps == pytest.approx(FPS) and info.bit_depth == 8 and info.counted


def test_probe_counts_when_the_container_does_not(clips):
    info = video.probe(clips["mkv"], exact=False)  # Matroska stores no frame count
    assert info.container_frames == 0 and info.frames == N


@pytest.mark.parametrize("kind", ["mp4", "mkv"])
def test_frames_come_out_all_in_order(clips, kind):
    frames = list(video.iter_frames(clips[kind]))
    assert [i for i, _ in frames] == list(range(N))
    assert [_decode_index(f) for _, f in frames] == list(range(N))  # the pixels say which frame it is
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for _, f in frames)


def test_start_skips_the_first_frames(clips):
    frames = list(video.iter_frames(clips["mkv"], start=95))
    assert [i for i, _ in frames] == [95, 96, 97, 98, 99]
    assert [_decode_index(f) for _, f in frames] == [95, 96, 97, 98, 99]


def test_lossless_codec_round_trip_is_exact(clips, tmp_path):
    src = [f for _, f in video.iter_frames(clips["mkv"])]
    out = tmp_path / "again.mkv"
    with video.VideoEncoder(out, FPS, W, H, codec="ffv1", crf=None) as enc:
        for f in src:
            enc.write(f)
    again = [f for _, f in video.iter_frames(out)]
    assert len(again) == N and all(np.array_equal(a, b) for a, b in zip(src, again, strict=True))


def test_reencode_keeps_count_and_order(clips, tmp_path):
    out = tmp_path / "re.mp4"
    with video.VideoEncoder(out, video.probe(clips["mp4"]).rate, W, H) as enc:
        for _, f in video.iter_frames(clips["mp4"]):
            enc.write(f.astype(np.float32) / 255)  # float frames as the core gives them
    assert video.probe(out).frames == N
    assert [_decode_index(f) for _, f in video.iter_frames(out)] == list(range(N))
    assert not list(tmp_path.glob(".*part*"))  # the temporary file was renamed


def test_an_interrupted_encode_leaves_no_file(tmp_path):
    out = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError), video.VideoEncoder(out, FPS, W, H) as enc:
        enc.write(np.zeros((H, W, 3), np.uint8))
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_frame_writer_writes_16_bit_pngs(clips, tmp_path):
    from restorekit.io import read_array

    writer = video.FrameWriter(tmp_path / "frames")
    for i, f in video.iter_frames(clips["mkv"], start=98):
        writer.write(i, f)
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == ["frame_000098.png", "frame_000099.png"]
    arr, depth = read_array(writer.path(99))
    assert depth == 16 and arr.dtype == np.uint16 and _decode_index((arr // 257).astype(np.uint8)) == 99


def test_bad_videos_and_settings_are_refused(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(InvalidImageError, match="cannot be read as a video"):
        video.probe(bad)
    with pytest.raises(InvalidImageError, match="no such"):
        list(video.iter_frames(tmp_path / "missing.mkv"))
    with pytest.raises(InvalidParameterError, match="even"):
        video.VideoEncoder(tmp_path / "odd.mp4", FPS, 63, 48)
    with pytest.raises(InvalidParameterError, match="pattern"):
        video.FrameWriter(tmp_path, pattern="frame.png")
    with pytest.raises(InvalidImageError), video.VideoEncoder(tmp_path / "x.mkv", FPS, W, H, codec="ffv1") as enc:
        enc.write(np.zeros((10, 10, 3), np.uint8))


def test_shots_split_at_the_hard_cut_with_one_sigma_each(clips):
    plan = video.analyse_shots(clips["cut"])
    assert plan.cuts == [0, 50] and plan.frames == N
    first, second = plan.shots
    assert all(plan.sigma(i) == first.sigma for i in range(50))
    assert all(plan.sigma(i) == second.sigma for i in range(50, N))
    # noise of std 2 and 12 grey levels (the estimate also sees the code blocks' edges)
    assert first.sigma * 255 < 5 and 9 < second.sigma * 255 < 16
    assert video.analyse_shots(clips["mkv"]).cuts == [0]  # no cut in a clip of one scene


def test_shot_sigma_is_the_median_per_shot():
    assert video.shot_sigma([1, 2, 9, 5, 5, 6], [0, 3]) == [2, 2, 2, 5, 5, 5]
    with pytest.raises(InvalidParameterError):
        video.shot_sigma([1, 2], [5])


def test_frame_seed_differs_per_frame_and_repeats_per_run():
    seeds = [video.frame_seed(7, i) for i in range(5)]
    assert len(set(seeds)) == 5 and seeds == [video.frame_seed(7, i) for i in range(5)]
    assert 0 <= video.frame_seed(2**31 - 1, 10) < 2**31
