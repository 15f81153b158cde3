"""When this process may measure the machine: one calibration at a time, and never where a caller forbids it.

A calibration is seconds of the CPU at full use. Two at once measure each other's load (settings typed quickly on a
page started four at once: 20 s on two cores), and a dashboard page that measures cannot answer a click meanwhile
(a teacher's Stop waited 54 s under a class's load): its pages only read kept calibrations (`no_measuring`), and a
thread of their server measures what they lack (`dashboard.estimate`).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

one_at_a_time = threading.Lock()  # every calibration of this process, rates and precisions (`calibrate`, `precision`)
_measuring_here = ContextVar("measuring_here", default=True)


class NotMeasured(Exception):
    """A calibration was needed where `no_measuring` forbids one. Not a `WorkbenchError`: nothing that answers
    "cannot estimate" (a pair weighed as in turn) may swallow it."""


@contextmanager
def no_measuring() -> Iterator[None]:
    """Within it, in this thread, a calibration not kept raises `NotMeasured` instead of measuring: a dashboard page
    answers clicks meanwhile, and has a thread of its server measure (`dashboard.estimate`)."""
    token = _measuring_here.set(False)
    try:
        yield
    finally:
        _measuring_here.reset(token)


def may_measure() -> None:
    """Raise `NotMeasured` where measuring now is forbidden (`no_measuring`)."""
    if not _measuring_here.get():
        raise NotMeasured
