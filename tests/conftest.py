import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    """Run a test on the CPU and, where a GPU exists, on CUDA (skipped cleanly otherwise)."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return torch.device(request.param)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests on one torch CPU thread, restoring the setting afterwards.

    Tests that run many tiny kernels (small networks, fits) spend most of their time spin-waiting
    in OpenMP with two threads on a small shared machine; one thread is several times faster there.
    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _files_written_to_tmp(monkeypatch, tmp_path):
    """Every test writes numbered output files (Save Image 16-bit, ...) under its own tmp folder."""
    from restorekit.io.folders import ENV_OUTPUT_DIR, set_output_dir

    set_output_dir(None)
    monkeypatch.setenv(ENV_OUTPUT_DIR, str(tmp_path / "output"))
