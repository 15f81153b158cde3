"""Under Launch: how long what the sidebar holds takes on this machine, and what fits in a lesson's minutes.

Cheap on every rerun: the estimate is cached per settings (`st.cache_data`), the machine's calibration on disk;
the first calibration for a backbone and image size (a second or two), and on a CPU with native bf16 the timing
of bf16 against fp32 for a run's settings, run once, with a line saying so.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import streamlit as st

from workbench.core.errors import WorkbenchError
from workbench.dashboard.text import plain
from workbench.data.loading import dataset_identity
from workbench.data.splits import TooFewImages
from workbench.experiments.estimate import estimate, fits, human_seconds
from workbench.experiments.run_time import data_cost
from workbench.spec.config import ComparisonConfig
from workbench.spec.limits import LimitError
from workbench.store.runs import RunStore
from workbench.training.calibrate import cached_rate, calibration
from workbench.training.precision import bf16_speedup

DEFAULT_MINUTES = 10
MEASURING = "measuring this machine for these settings… (once, a few seconds)"


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


def _calibrated(configs: list[ComparisonConfig], where) -> None:
    """Measure this machine for settings it has not seen, once, saying so (later pages read the cache): its rate,
    and on a CPU with native bf16 whether bf16 is faster for each run (the run would time it first thing)."""
    missing = {(c.transfer.backbone, c.transfer.image_size, c.transfer.batch_size) for c in configs
               if cached_rate(c.transfer.backbone, c.transfer.image_size, c.transfer.batch_size, None) is None}
    line = where.empty()  # one line, whichever setting is measured
    for backbone, size, batch in sorted(missing):
        calibration(backbone, size, batch, measuring=lambda: _saying(line))
    runs = {json.dumps(run.to_dict(), sort_keys=True): run for c in configs for run in (c.transfer, c.scratch(0))}
    for run in runs.values():
        bf16_speedup(run, data_cost(run).sizes[0], on_calibrate=lambda: line.caption(MEASURING))
    line.empty()


@contextmanager
def _saying(where) -> Iterator[None]:
    """A line while this machine is measured. Writing it is also where Streamlit stops a run of this page that a
    newer click replaced (it checks at each element sent): that run's measurement, maybe of settings already
    changed again, is not made."""
    where.caption(MEASURING)
    yield
    where.empty()


def estimate_line(configs_now: Callable[[], list[ComparisonConfig]], runs_root: Path, mode: str, where,
                  measure: bool = True, runs_seen: str | None = None) -> None:
    """'about 40 s on this machine' for the comparison or sweep the sidebar holds, ``where`` (a container); why not,
    where Launch would refuse it for its limits or its data; else nothing while it cannot run, or where this machine
    is not measured for it and ``measure`` is False."""
    try:
        configs = configs_now()
        if measure:
            _calibrated(configs, where)
        contents = json.dumps(sorted({dataset_identity(c.transfer.dataset) for c in configs}))
        found = _estimated(json.dumps([c.to_dict() for c in configs], sort_keys=True), str(runs_root), measure,
                           contents, runs_seen)
    except (TooFewImages, LimitError) as exc:  # said before the click, not after it
        where.warning(plain(exc))
        return
    except WorkbenchError:
        return
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
