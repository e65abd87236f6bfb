"""The weights catalogue and the verified downloader, against a local HTTP server (never the internet)."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.server
import io
import re
import threading
import urllib.error
from pathlib import Path

import pytest

from restorekit import cli_weights
from restorekit.errors import InvalidParameterError, RestoreError
from restorekit.models import folders, weights
from restorekit.models.weights import WeightsDownloadError, WeightsEntry, fetch_weights, find_weights

PAYLOAD = b"PK\x03\x04" + bytes(range(256)) * 1200  # 307 204 bytes, starts like a zip (.pth) file
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local HTTP server in a thread, serving files from ``tmp_path / "srv"``; yields (base_url, folder)."""
    folder = tmp_path / "srv"
    folder.mkdir()
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    def handler(*args, **kwargs):
        return _QuietHandler(*args, directory=str(folder), **kwargs)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _add_entry(monkeypatch, url: str, sha256: str | None, *, size: int | None = None,
               file_name: str = "test_model.pth", name: str = "test-model") -> WeightsEntry:
    """Put a test entry (pointing at the local server) into the catalogue."""
    entry = dataclasses.replace(find_weights("drunet-color"), name=name, file_name=file_name, url=url,
                                sha256=sha256, size=size, homepage="http://127.0.0.1/page")
    monkeypatch.setattr(weights, "CATALOGUE", weights.CATALOGUE + (entry,))
    return entry


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _no_network(*args, **kwargs):
    raise AssertionError("no download expected")


# ---- downloads --------------------------------------------------------------------------

def test_fetch_downloads_verifies_and_installs(server, tmp_path, monkeypatch):
    base, srv = server
    (srv / "model.pth").write_bytes(PAYLOAD)
    _add_entry(monkeypatch, f"{base}/model.pth", PAYLOAD_SHA, size=len(PAYLOAD))
    dest = tmp_path / "models" / "restorekit"  # created on demand
    calls = []
    path = fetch_weights("test-model", dest, progress=lambda d, t: calls.append((d, t)))
    assert path == dest / "test_model.pth"
    assert path.read_bytes() == PAYLOAD
    assert _files(dest) == ["test_model.pth"]  # no temporary file left behind
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert all(d1 <= d2 for (d1, _), (d2, _) in zip(calls, calls[1:], strict=False))


def test_fetch_accepts_an_entry_and_the_file_name(server, tmp_path, monkeypatch):
    base, srv = server
    (srv / "model.pth").write_bytes(PAYLOAD)
    entry = _add_entry(monkeypatch, f"{base}/model.pth", PAYLOAD_SHA)
    assert fetch_weights(entry, tmp_path / "a").read_bytes() == PAYLOAD
    assert fetch_weights("TEST_MODEL.PTH", tmp_path / "b").read_bytes() == PAYLOAD


def test_already_present_and_verified_is_not_downloaded_again(server, tmp_path, monkeypatch):
    base, srv = server
    (srv / "model.pth").write_bytes(PAYLOAD)
    _add_entry(monkeypatch, f"{base}/model.pth", PAYLOAD_SHA)
    first = fetch_weights("test-model", tmp_path)
    mtime = first.stat().st_mtime_ns
    (srv / "model.pth").unlink()  # a second download would now fail with 404
    second = fetch_weights("test-model", tmp_path, opener=_no_network)
    assert second == first and second.stat().st_mtime_ns == mtime


def test_present_file_with_another_checksum_needs_force(server, tmp_path, monkeypatch):
    base, srv = server
    (srv / "model.pth").write_bytes(PAYLOAD)
    _add_entry(monkeypatch, f"{base}/model.pth", PAYLOAD_SHA)
    (tmp_path / "test_model.pth").write_bytes(b"PK old, different weights")
    with pytest.raises(InvalidParameterError, match="force"):
        fetch_weights("test-model", tmp_path, opener=_no_network)
    assert (tmp_path / "test_model.pth").read_bytes() == b"PK old, different weights"  # user's file untouched
    path = fetch_weights("test-model", tmp_path, force=True)
    assert path.read_bytes() == PAYLOAD
    assert _files(tmp_path) == ["srv", "test_model.pth"]


def test_checksum_mismatch_deletes_the_download(server, tmp_path, monkeypatch):
    base, srv = server
    (srv / "model.pth").write_bytes(PAYLOAD + b"tampered")
    _add_entry(monkeypatch, f"{base}/model.pth", PAYLOAD_SHA)
    dest = tmp_path / "dest"
    with pytest.raises(WeightsDownloadError) as info:
        fetch_weights("test-model", dest)
    message = str(info.value)
    assert PAYLOAD_SHA in message
    assert hashlib.sha256(PAYLOAD + b"tampered").hexdigest() in message
    assert "deleted" in message
    assert isinstance(info.value, RestoreError)
    assert _files(dest) == []


def test_force_with_a_bad_download_keeps_the_old_file(server, tmp_path, monkeypatch):
    base, srv = server
    (srv / "model.pth").write_bytes(PAYLOAD + b"tampered")
    _add_entry(monkeypatch, f"{base}/model.pth", PAYLOAD_SHA)
    (tmp_path / "test_model.pth").write_bytes(b"PK keep me")
    with pytest.raises(WeightsDownloadError, match="mismatch"):
        fetch_weights("test-model", tmp_path, force=True)
    assert (tmp_path / "test_model.pth").read_bytes() == b"PK keep me"
    assert _files(tmp_path) == ["srv", "test_model.pth"]


def test_size_mismatch_is_an_error(server, tmp_path, monkeypatch):
    base, srv = server
    (srv / "model.pth").write_bytes(PAYLOAD)
    _add_entry(monkeypatch, f"{base}/model.pth", PAYLOAD_SHA, size=len(PAYLOAD) + 1)
    with pytest.raises(WeightsDownloadError, match="bytes"):
        fetch_weights("test-model", tmp_path / "d")
    assert _files(tmp_path / "d") == []


def test_404_is_a_clear_error(server, tmp_path, monkeypatch):
    base, _ = server
    _add_entry(monkeypatch, f"{base}/missing.pth", PAYLOAD_SHA)
    with pytest.raises(WeightsDownloadError, match="404"):
        fetch_weights("test-model", tmp_path / "d")
    assert _files(tmp_path / "d") == []


def test_network_failure_is_a_clear_error(tmp_path, monkeypatch):
    _add_entry(monkeypatch, "http://127.0.0.1:9/none.pth", PAYLOAD_SHA)

    def refuse(request, timeout):
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    with pytest.raises(WeightsDownloadError, match="could not connect"):
        fetch_weights("test-model", tmp_path, opener=refuse)
    assert _files(tmp_path) == []


class _FakeResponse(io.BytesIO):
    def __init__(self, data: bytes, length: int | None, fail_after: int | None = None):
        super().__init__(data)
        self.headers = {"Content-Length": str(length)} if length is not None else {}
        self.fail_after = fail_after

    def read(self, n=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError(104, "Connection reset by peer")
        return super().read(n)


def test_truncated_download_is_an_error(tmp_path, monkeypatch):
    _add_entry(monkeypatch, "http://127.0.0.1/model.pth", PAYLOAD_SHA)
    short = PAYLOAD[: len(PAYLOAD) // 2]
    with pytest.raises(WeightsDownloadError, match="announced"):
        fetch_weights("test-model", tmp_path, opener=lambda r, timeout: _FakeResponse(short, len(PAYLOAD)))
    assert _files(tmp_path) == []


def test_connection_dropped_mid_download(tmp_path, monkeypatch):
    _add_entry(monkeypatch, "http://127.0.0.1/model.pth", PAYLOAD_SHA)
    opener = lambda r, timeout: _FakeResponse(PAYLOAD, len(PAYLOAD), fail_after=weights.CHUNK_BYTES // 4)  # noqa: E731
    monkeypatch.setattr(weights, "CHUNK_BYTES", weights.CHUNK_BYTES // 4)
    with pytest.raises(WeightsDownloadError, match="broke off"):
        fetch_weights("test-model", tmp_path, opener=opener)
    assert _files(tmp_path) == []


def test_unverified_entry_is_refused_without_the_flag(server, tmp_path, monkeypatch, caplog):
    base, srv = server
    (srv / "model.pth").write_bytes(PAYLOAD)
    _add_entry(monkeypatch, f"{base}/model.pth", None)
    dest = tmp_path / "dest"
    with pytest.raises(InvalidParameterError, match="allow-unverified"):
        fetch_weights("test-model", dest, opener=_no_network)
    assert not dest.exists()
    with caplog.at_level("WARNING", logger="restorekit"):
        path = fetch_weights("test-model", dest, allow_unverified=True)
    assert path.read_bytes() == PAYLOAD
    assert PAYLOAD_SHA in caplog.text  # the computed checksum is reported


def test_web_page_instead_of_weights_is_refused(server, tmp_path, monkeypatch):
    base, srv = server
    (srv / "drive.html").write_bytes(b"\n<!DOCTYPE html><html><body>Google Drive can't scan this file</body></html>")
    _add_entry(monkeypatch, f"{base}/drive.html", None)
    with pytest.raises(WeightsDownloadError, match="web page"):
        fetch_weights("test-model", tmp_path / "d", allow_unverified=True)
    assert _files(tmp_path / "d") == []


def test_dest_that_is_a_file_is_rejected(tmp_path, monkeypatch):
    _add_entry(monkeypatch, "http://127.0.0.1/model.pth", PAYLOAD_SHA)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(InvalidParameterError, match="not a folder"):
        fetch_weights("test-model", not_a_dir, opener=_no_network)


# ---- look-up ----------------------------------------------------------------------------

def test_find_weights_is_case_insensitive_and_takes_file_names():
    assert find_weights("DRUNet-Color").file_name == "drunet_color.pth"
    assert find_weights("RealESRGAN_x4plus.pth").name == "realesrgan-x4plus"


@pytest.mark.parametrize(("typo", "suggestion"), [
    ("drunet-colour", "drunet-color"),
    ("realesrgan-x4", "realesrgan-x4plus"),
    ("scunet", "scunet-color-real-psnr"),
])
def test_unknown_name_suggests_close_matches(typo, suggestion):
    with pytest.raises(InvalidParameterError) as info:
        find_weights(typo)
    assert suggestion in str(info.value)
    assert "restorekit weights list" in str(info.value)


def test_empty_name_is_rejected():
    with pytest.raises(InvalidParameterError):
        find_weights("  ")


def test_list_weights_by_family():
    assert {e.family for e in weights.list_weights("drunet")} == {"DRUNet"}
    assert len(weights.list_weights()) == len(weights.CATALOGUE)
    with pytest.raises(InvalidParameterError, match="DRUNet"):
        weights.list_weights("nosuchnet")


# ---- the catalogue ----------------------------------------------------------------------

REQUIRED_FAMILIES = {"DnCNN", "FDnCNN", "FFDNet", "DRUNet", "SCUNet", "NAFNet", "SwinIR", "Restormer", "Real-ESRGAN"}


def test_catalogue_is_consistent():
    entries = weights.CATALOGUE
    names = [e.name for e in entries]
    assert len(names) == len(set(names))
    assert len({e.file_name for e in entries}) == len(entries)
    assert REQUIRED_FAMILIES <= {e.family for e in entries}
    for e in entries:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", e.name), e.name
        assert e.url.startswith("https://"), e.url
        assert e.homepage.startswith("https://"), e.homepage
        assert e.file_name.endswith((".pth", ".safetensors", ".ckpt")), e.file_name
        assert e.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", e.sha256), e.name
        assert (e.sha256 is None) == (e.sha256_source is None), e.name  # every checksum names its source
        assert e.size is None or (e.size > 0 and e.sha256 is not None), e.name
        assert e.licence.strip() and e.noise.strip() and e.purpose in ("denoise", "deblur", "sr", "restore")
        assert e.channels in (1, 3) and e.scale in (1, 2, 4)
        if "github.com" in e.url:
            assert e.url.endswith("/" + e.file_name), e.name
    assert {e.family for e in entries if e.noise_conditional} == {"FFDNet", "FDnCNN", "DRUNet"}
    assert sum(e.verified for e in entries) >= 9


def test_entries_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        weights.CATALOGUE[0].url = "https://example.invalid/x.pth"


# ---- default folder ----------------------------------------------------------------------

@pytest.fixture
def no_model_dirs(monkeypatch):
    """No folders configured by a host application (restored afterwards)."""
    monkeypatch.setattr(folders, "_model_dirs", ())


def test_default_model_dir_env_and_home(monkeypatch, tmp_path, no_model_dirs):
    monkeypatch.setenv("RESTOREKIT_MODEL_DIR", str(tmp_path / "mine"))
    assert weights.default_model_dir() == tmp_path / "mine"
    monkeypatch.delenv("RESTOREKIT_MODEL_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert weights.default_model_dir() == tmp_path / ".cache" / "restorekit" / "models"


def test_default_model_dir_from_the_host_application(monkeypatch, tmp_path, no_model_dirs):
    """Folders set by the host (the ComfyUI pack) come first, before the environment variable."""
    monkeypatch.setenv("RESTOREKIT_MODEL_DIR", str(tmp_path / "ignored"))
    folders.set_model_dirs([tmp_path / "elsewhere", str(tmp_path / "ComfyUI" / "models" / "restorekit"), ""])
    assert folders.model_dirs() == (tmp_path / "elsewhere", tmp_path / "ComfyUI" / "models" / "restorekit")
    assert weights.default_model_dir() == tmp_path / "elsewhere"
    folders.set_model_dirs(str(tmp_path / "one"))  # a single folder is accepted too
    assert weights.default_model_dir() == tmp_path / "one"
    folders.set_model_dirs([])  # cleared: back to the environment variable
    assert weights.default_model_dir() == tmp_path / "ignored"


def test_weights_module_knows_nothing_of_comfyui_or_the_command_line():
    source = Path(weights.__file__).read_text()
    for word in ("folder_paths", "argparse", "print(", "comfy", "github.com/restorekit"):
        assert word not in source, word
    assert re.fullmatch(r"restorekit/[0-9][0-9A-Za-z.+-]*", weights.USER_AGENT)  # a plain product token


def test_fetch_without_dest_uses_the_default_folder(server, tmp_path, monkeypatch):
    base, srv = server
    (srv / "model.pth").write_bytes(PAYLOAD)
    _add_entry(monkeypatch, f"{base}/model.pth", PAYLOAD_SHA)
    monkeypatch.setattr(folders, "_model_dirs", ())
    monkeypatch.setenv("RESTOREKIT_MODEL_DIR", str(tmp_path / "default"))
    assert fetch_weights("test-model") == tmp_path / "default" / "test_model.pth"


# ---- command line -----------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="restorekit")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_weights.add_cli(sub)
    return parser


def test_cli_parsing():
    parser = _parser()
    args = parser.parse_args(["weights", "list"])
    assert args.command == "weights" and args.weights_command == "list"
    assert callable(args.weights_handler)
    args = parser.parse_args(["weights", "fetch", "drunet-color", "--dest", "D"])
    assert (args.name, args.dest, args.force, args.allow_unverified) == ("drunet-color", "D", False, False)
    args = parser.parse_args(["weights", "fetch", "ffdnet-color", "--force", "--allow-unverified"])
    assert args.force and args.allow_unverified and args.dest is None
    with pytest.raises(SystemExit):
        parser.parse_args(["weights"])  # an action is required


def test_cli_list(capsys, monkeypatch, tmp_path, no_model_dirs):
    monkeypatch.setenv("RESTOREKIT_MODEL_DIR", str(tmp_path))
    args = _parser().parse_args(["weights", "list", "--family", "SCUNet", "-v"])
    assert args.weights_handler(args) == 0
    out = capsys.readouterr().out
    assert "scunet-color-real-psnr" in out and "drunet-color" not in out
    assert f"(default folder: {tmp_path})" in out
    assert "https://github.com/cszn/KAIR/releases/download/v1.0/scunet_color_real_psnr.pth" in out
    args = _parser().parse_args(["weights", "list", "--verified-only"])
    args.weights_handler(args)
    out = capsys.readouterr().out
    assert "realesrgan-x4plus" in out and "ffdnet-color" not in out


def test_cli_fetch(server, tmp_path, monkeypatch, capsys):
    base, srv = server
    (srv / "model.pth").write_bytes(PAYLOAD)
    _add_entry(monkeypatch, f"{base}/model.pth", None)
    dest = tmp_path / "out"
    parser = _parser()
    args = parser.parse_args(["weights", "fetch", "test-model", "--dest", str(dest)])
    with pytest.raises(InvalidParameterError):
        args.weights_handler(args)
    args = parser.parse_args(["weights", "fetch", "test-model", "--dest", str(dest), "--allow-unverified", "-q"])
    assert args.weights_handler(args) == 0
    out = capsys.readouterr().out
    assert "UNVERIFIED" in out and PAYLOAD_SHA in out
    assert (dest / "test_model.pth").read_bytes() == PAYLOAD

