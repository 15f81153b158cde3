"""Where the planned runs of many comparisons train: this process, local worker processes, or Ray tasks.

Every executor trains the same `Task` (the runs of one comparison that `experiments.runner`'s plan left to
train) and yields each task's records as it finishes. This process reports each run's progress to its hooks. Local workers write the
run store themselves (it is safe for several processes); Ray workers train into a temporary
folder and send their records back, and the driver writes them (`workbench.experiments.ray_executor`).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Iterator

from workbench.core import settings
from workbench.core.errors import ConfigError
from workbench.spec.config import ComparisonConfig
from workbench.store.runs import RunStore

EXECUTORS = ("local", "ray")
# benchmarks/sweep.py on 2 cores: two workers with a core each finished the depth sweep well before one
# worker with both (README, "Sweeps"): a small network's steps gain little from a second thread, and
# two threads lose much when another program takes a core. Never more workers than cores.
DEFAULT_WORKERS = 2


@dataclass
class Task:
    """The runs of one comparison that a worker trains; the comparison's other runs are copies."""

    config: ComparisonConfig
    comparison_id: str
    runs: set[tuple[str, int]]  # (role, seed)


def check(executor: str, workers: int | None) -> int:
    """The number of local workers to use; a one-line error for an unknown executor or a count below one."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
    workers = min(DEFAULT_WORKERS, settings.cores()) if workers is None else workers
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    return workers


def execute(tasks: list[Task], store: RunStore, executor: str, workers: int,
            hooks_for: Callable | None = None) -> Iterator[tuple[Task, list]]:
    """Yield (task, its records) as each task finishes; an error in one task stops the sweep with it."""
    from workbench.experiments.comparisons import train_runs  # torch, only once something trains
    from workbench.experiments.tasks import limit_threads, train_task

    if executor == "ray":
        from workbench.experiments.ray_executor import execute_on_ray

        yield from execute_on_ray(tasks, store)
        return
    if workers == 1 or len(tasks) <= 1:
        for task in tasks:
            yield task, train_runs(task.config, store, task.comparison_id, task.runs, hooks_for)
        return
    context = multiprocessing.get_context("spawn")  # a forked torch can hang on its thread pool
    pool = ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context, initializer=limit_threads,
                               initargs=(settings.threads_per_share(workers),))
    try:
        pending = {pool.submit(train_task, t.config, t.comparison_id, t.runs, str(store.root)): t
                   for t in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
