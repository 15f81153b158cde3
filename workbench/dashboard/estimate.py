"""Under Launch: how long what the sidebar holds takes on this machine, and what fits in a lesson's minutes.

Cheap on every rerun: the estimate is cached per settings (`st.cache_data`), the machine's calibrations on disk.
Settings this machine was never measured for (a second or two each when idle: the rate for a backbone and image
size, at both thread counts where a pair trains at once, and on a CPU with native bf16 the timing of bf16 against
fp32) are measured by a thread of the server, never by the page: a page waits with a line saying so and stays
live meanwhile (a teacher page that measured for 54 s under a class's load could not Stop anyone's job until it
was done).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from workbench.core.errors import WorkbenchError
from workbench.dashboard.text import plain
from workbench.data.loading import dataset_identity
from workbench.data.splits import TooFewImages
from workbench.experiments.estimate import estimate, fits, human_seconds
from workbench.spec.config import ComparisonConfig
from workbench.spec.limits import LimitError
from workbench.store.runs import RunStore
from workbench.training.measuring import NotMeasured, no_measuring

DEFAULT_MINUTES = 10
MEASURING = "measuring this machine for these settings… (once, a few seconds)"
POLL_S = 1.0  # how often a page waiting for a measurement looks whether it is done
REMEASURE_AFTER_S = 600  # settings measured and still not known (a read-only cache folder): not measured again sooner


class Measurer:
    """This server's measurements for its pages' estimates, one at a time in a thread of its own. A page waits for
    the newest settings it asked about only: settings a student typed past are never measured."""

    def __init__(self):
        self._lock = threading.Lock()
        self._wanted: dict[str, tuple[str, str]] = {}  # page -> (its settings as JSON, the run folder)
        self._done: dict[tuple[str, str], float] = {}  # settings measured (or failed) -> when
        self._thread: threading.Thread | None = None

    def ask(self, page: str, configs_json: str, runs_root: str) -> bool:
        """Have these settings measured for ``page``; False where they were, lately, and are still not known."""
        wanted, now = (configs_json, runs_root), time.time()
        with self._lock:
            self._done = {w: at for w, at in self._done.items() if now - at < REMEASURE_AFTER_S}  # a class types many
            if wanted in self._done:
                self._wanted.pop(page, None)
                return False
            self._wanted[page] = wanted
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="workbench-measuring", daemon=True)
                self._thread.start()
        return True

    def waiting(self, page: str) -> bool:
        with self._lock:
            return page in self._wanted

    def forget(self, page: str) -> None:
        """``page`` no longer waits (its own job trains: measuring beside it would measure its load)."""
        with self._lock:
            self._wanted.pop(page, None)

    def busy(self) -> bool:
        with self._lock:
            return self._thread is not None

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self._thread = None
                    return
                wanted = next(iter(self._wanted.values()))
            try:
                configs = [ComparisonConfig.from_dict(c) for c in json.loads(wanted[0])]
                estimate(configs, RunStore(wanted[1]), measure=True)  # measures what it lacks, and keeps it
            except Exception:  # noqa: BLE001 - settings that cannot be measured leave the estimate out, as on the page
                pass
            with self._lock:
                self._done[wanted] = time.time()
                self._wanted = {page: w for page, w in self._wanted.items() if w != wanted}


measurer = Measurer()


@st.cache_data(show_spinner=False, max_entries=128, ttl=60)
def _estimated(configs_json: str, runs_root: str, measure: bool, contents: str,
               runs_seen: str | None) -> tuple[float, str] | None:
    """(total seconds, its line) for these settings (``measure`` False: from kept calibrations, None where one is
    missing); the store is asked which runs are done. Kept a minute, unless what the datasets hold (``contents``:
    a frame added in Play is new data) or the run folder (``runs_seen``, its index's change token: a run just
    saved is "already in the run folder") changed."""
    configs = [ComparisonConfig.from_dict(c) for c in json.loads(configs_json)]
    found = estimate(configs, RunStore(runs_root), measure=measure)
    return None if found is None else (found.total_s, found.line())


@st.cache_data(show_spinner=False, max_entries=32)
def _fitting(minutes: float, config_json: str) -> list[dict]:
    return [f.to_dict() for f in fits(minutes, ComparisonConfig.from_dict(json.loads(config_json)))]


def estimate_line(configs_now: Callable[[], list[ComparisonConfig]], runs_root: Path, mode: str, where,
                  measure: bool = True, runs_seen: str | None = None) -> None:
    """'about 40 s on this machine' for the comparison or sweep the sidebar holds, ``where`` (a container); why not,
    where Launch would refuse it for its limits or its data; else nothing while it cannot run. Settings not measured
    yet: a line while the server measures them (``measure``), else nothing."""
    page = _page()
    if not measure:
        measurer.forget(page)
    try:
        configs = configs_now()
        contents = json.dumps(sorted({dataset_identity(c.transfer.dataset) for c in configs}))
        configs_json = json.dumps([c.to_dict() for c in configs], sort_keys=True)
        with no_measuring():
            found = _estimated(configs_json, str(runs_root), measure, contents, runs_seen)
    except (TooFewImages, LimitError) as exc:  # said before the click, not after it
        where.warning(plain(exc))
        return
    except WorkbenchError:
        return
    except NotMeasured:
        if measure and measurer.ask(page, configs_json, str(runs_root)):
            with where:
                _measuring(page)
        return
    measurer.forget(page)
    if found is None:
        return
    total_s, line = found
    what = f"this {mode}" if mode == "sweep" else "this comparison"
    where.caption(f"{what}: {line}" if total_s > 0 else f"{what}: already in the run folder (0 s)")
    with where.expander("what fits in N minutes"):
        minutes = st.number_input("minutes", min_value=1, max_value=600, value=DEFAULT_MINUTES, key="fit_minutes")
        if st.button("find the settings that fit", key="fit_go"):
            with st.spinner("measuring this backbone at each image size… (once)"):
                st.session_state["fit_rows"] = _fitting(float(minutes), json.dumps(configs[0].to_dict()))
        rows = st.session_state.get("fit_rows")
        if rows is not None:
            st.table([{"image size": r["image_size"], "freeze depth": r["freeze_depth"], "epochs": r["epochs"],
                       "expected": human_seconds(r["seconds"])} for r in rows] or [{"nothing fits": "-"}])


def _page() -> str:
    """This page's id in the server (a browser tab: a student's two tabs wait for their own settings)."""
    context = get_script_run_ctx()
    return context.session_id if context is not None else ""


@st.fragment(run_every=POLL_S)
def _measuring(page: str) -> None:
    """The line while the server measures this page's settings; the whole page once it is done, with its estimate."""
    if measurer.waiting(page):
        st.caption(MEASURING)
    else:
        st.rerun()
