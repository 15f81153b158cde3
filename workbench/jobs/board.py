"""One server's jobs in the run folder's queue (`jobs.queue`, shared with the CLI).

At most K train at once, the others wait in line, and each remembers who launched it (``owner``, a display
``name``), so a UI shows its position, errors and Stop button to that person only.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from workbench.core import settings
from workbench.jobs.job import WAITING, Job
from workbench.jobs.pool import prepare_worker
from workbench.jobs.queue import ENDED, JobQueue

MAX_HOLD_S = 30.0  # the longest a job waits for its server's measurement of the machine to end
HELD = "waiting for this server to finish measuring the machine (a few seconds)"


class JobBoard:
    """One server's jobs, queued in its run folder: at most ``max_jobs`` train at once, in the order launched.

    A thread starts each queued job when the queue gives it a slot and frees the slot when it ends;
    the CLI's jobs in the same folder wait in the same line. It also carries out what another process (a
    teacher's page on its own server) asked of this board's jobs in the queue: a Stop, or leaving the line.
    """

    def __init__(self, root, max_jobs: int | None = None, poll_s: float = 0.2,
                 measuring: Callable[[], bool] | None = None):
        self.queue, self.max_jobs = JobQueue(root), max_jobs or settings.max_jobs()
        self.poll_s = poll_s
        self.measuring = measuring  # whether this server measures the machine now (its pages' estimates)
        self._holding_since: float | None = None
        self._jobs: list[Job] = []
        self._lock = threading.Lock()
        self._scheduler: threading.Thread | None = None
        self._ended: set[str] = set()

    def launch(self, job: Job) -> Job:
        """Put ``job`` in line; it starts as soon as a slot is free (at once, on an idle board)."""
        with self._lock:  # in line and on this board in the same order (`tick` tries them in that order)
            job.job_id = self.queue.add(job.owner or "", job.name, job.label, job.comparison_ids)
            job.queue = self.queue
            self._jobs.append(job)
            if self._scheduler is None:
                self._scheduler = threading.Thread(target=self._schedule, name="workbench-queue", daemon=True)
                self._scheduler.start()
        self.tick()
        return job

    def tick(self) -> None:
        """Start whoever the queue lets in; free the slot (or the place in line) of each job that ended; stop a
        job (or take it off the line) when a teacher's page asked so in the queue."""
        with self._lock:
            live = [job for job in self._jobs if job.job_id is not None and job.job_id not in self._ended]
            rows = self.queue.look([job.job_id for job in live])
            held = self._held()
            blocked = held  # the line is first come, first served: behind a job that may not start, none may
            for job in live:
                row = rows.get(job.job_id) or {}
                if row.get("stop_asked") and job.state == "running" and not job.stopping:
                    job.stop(by="the teacher")
                with job.state_lock:
                    if job.state == "queued" and row.get("state") in ENDED:  # taken off the line by the teacher
                        job.state, job.message = "cancelled", "taken off the line by the teacher"
                    if job.state == "queued":
                        job.message = HELD if held else WAITING
                        blocked = blocked or not self.queue.try_start(job.job_id, self.max_jobs)
                        if not blocked:
                            job.start(settings.threads_per_share(self.max_jobs))
                            if any(j.state == "queued" for j in self._jobs):
                                prepare_worker()  # the next in line starts warm too
                        continue
                if not job.running:
                    self.queue.finish(job.job_id, job.state, job.error)
                    self._ended.add(job.job_id)

    def _held(self) -> bool:
        """Whether queued jobs wait a moment: this server measures the machine while no job trains (this server's
        or another's in the run folder). A run beside a measurement slows both (on 2 cores, two 2-thread processes
        slow each other up to 10x) and the measurement, taken under that load, is wrong; it takes seconds, so the
        wait is never long. Where a job trains already, the machine is loaded anyway: nothing is held."""
        if self.measuring is None or not self.measuring() or any(job.state == "running" for job in self._jobs) \
                or self.queue.jobs(("running",)):
            self._holding_since = None
            return False
        self._holding_since = self._holding_since or time.monotonic()
        return time.monotonic() - self._holding_since < MAX_HOLD_S

    def _schedule(self) -> None:
        """Tick while any job waits or trains. Whether to end is decided under the lock `launch` takes: a job
        launched as the scheduler ended (seen when a job waited for a measurement) was never started."""
        while True:
            with self._lock:
                if not any(job.active for job in self._jobs):
                    self._scheduler = None  # a launch from now on starts a scheduler of its own
                    break
            self.tick()
            time.sleep(self.poll_s)
        self.tick()  # how the last ones ended

    def running(self) -> Job | None:
        """The newest job in training."""
        return next((job for job in reversed(self._jobs) if job.running), None)

    def training(self) -> list[Job]:
        return [job for job in self._jobs if job.running]

    def active(self, owner: str | None = None) -> Job | None:
        """The newest job of ``owner`` (of anyone, if None) waiting or training."""
        return next((job for job in reversed(self._jobs) if (owner is None or job.owner == owner) and job.active),
                    None)

    def latest(self, owner: str | None = None) -> Job | None:
        """The newest job (of ``owner``, if given), waiting, running or ended."""
        return next((job for job in reversed(self._jobs) if owner is None or job.owner == owner), None)

    def find(self, job_id: str) -> Job | None:
        return next((job for job in self._jobs if job.job_id == job_id), None)

    def position(self, job: Job) -> int | None:
        return self.queue.position(job.job_id) if job.state == "queued" and job.job_id else None
