import os
import signal
import sys
import tempfile

import pytest
import torch
from failures import pytest_runtest_makereport, pytest_terminal_summary  # noqa: F401 (hooks)

from workbench.spec.config import RunConfig
from workbench.store.runs import RunStore

torch.set_num_threads(min(2, os.cpu_count() or 1))
# A shell without job control starts a background job with Ctrl-C ignored, and an ignored signal stays ignored in
# every program it starts: the tests' own commands would then shrug off the Ctrl-C (a Stop) that tests send them.
# A handler of our own is reset to the default in each program started, so they all hear Ctrl-C as a terminal would.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
# Measurements of the machine (peak FLOP/s, precision calibrations) go to a folder of this session, not the user's.
os.environ.setdefault("WORKBENCH_CACHE", tempfile.mkdtemp(prefix="workbench-cache-"))
# A comparison's two runs train one after the other, whatever calibrations earlier tests kept ("auto" would train a
# long one at once where they say so): what a test counts does not depend on the order tests ran in. Training at
# once, and "auto"'s choice, have tests of their own (test_pairs.py, test_estimate.py).
os.environ.setdefault("WORKBENCH_PAIR", "in-turn")


@pytest.fixture(autouse=True)
def _pages_serve_on_loopback():
    """An AppTest page runs in this process and listens nowhere: it is served as if on 127.0.0.1, where
    `workbench dashboard --teacher` listens by default and a teacher page opens without a secret."""
    config = sys.modules.get("streamlit.config")
    if config is None:  # a test module without Streamlit
        yield
        return
    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    yield
    config.set_option("server.address", before)


@pytest.fixture(autouse=True)
def _main_module_kept():
    """An AppTest page runs as ``__main__`` and leaves its script there; a sweep's worker processes (spawned) would
    then start by running that deleted page: each test gets pytest's ``__main__`` back."""
    main = sys.modules.get("__main__")
    yield
    sys.modules["__main__"] = main


@pytest.fixture
def tiny() -> RunConfig:
    """A run small enough for a unit test: 3 digit classes, 4 images each, 32 px, 2 epochs."""
    return RunConfig(dataset="digits:0-2", train_per_class=4, image_size=32, epochs=2, batch_size=6,
                     max_eval_per_class=5, device="cpu")


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch cache, and no network: a download attempt fails as it would offline."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))

    def offline(url, *args, **kwargs):
        raise OSError(f"no network to fetch {url}")

    monkeypatch.delenv("WORKBENCH_WEIGHTS_MIRROR", raising=False)
    monkeypatch.setattr("workbench.models.weights.download._urlopen", offline)
    return home
