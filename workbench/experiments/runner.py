"""One way to train many comparisons: plan what to reuse, hand the rest to an executor, assemble the results.

Every face and recipe comes through here: a single comparison (`run_comparison`: the CLI's ``compare``, the
dashboard's and the widgets' jobs, the notebooks), a sweep grid (`experiments.sweeps`), a study over seeds
(`workbench.studies`). Planning happens in this process: a run identical to a completed one in the store, or
to one another comparison of the same call trains (the scratch baseline of a depth sweep), becomes a copy that
names its source (`experiments.reuse`). What is left trains where the executor says: here, in local worker
processes, or on Ray (`experiments.executors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from workbench.core import settings
from workbench.core.records import RunRecord
from workbench.core.settings import keep_checkpoints
from workbench.experiments.comparisons import Comparison
from workbench.experiments.estimate import note_estimate
from workbench.experiments.executors import Task, check, execute
from workbench.experiments.reuse import find_reusable, fingerprint, reuse_run
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.store.runs import RunStore, new_id
from workbench.training.progress import default_hooks
from workbench.training.train import Hooks

HooksFor = Callable[[str, int], Hooks | None]  # (role, seed) -> that run's progress listener


@dataclass
class _Plan:
    """Which runs train, which are copied now, and which wait to copy a run this call trains."""

    got: dict[str, dict[tuple[str, int], RunRecord]]  # comparison -> (role, seed) -> record
    tasks: list[Task]
    trains: dict[tuple[str, str, int], str]  # (comparison, role, seed) -> fingerprint, for runs that train
    waiting: dict[str, list[tuple]]  # fingerprint -> (comparison id, role, seed, run config) that copy it


def _plan(configs: list[ComparisonConfig], ids: list[str], store: RunStore, reuse: bool, with_weights: bool,
          only: list[set | None], hooks_for: HooksFor) -> _Plan:
    plan = _Plan({cid: {} for cid in ids}, [], {}, {})
    for config, cid, keep in zip(configs, ids, only):
        train = set()
        for seed in config.seeds:
            for role, run_config in (("transfer", config.transfer_run(seed)), ("scratch", config.scratch(seed))):
                if keep is not None and (role, seed) not in keep:
                    continue
                key = fingerprint(run_config)
                source = find_reusable(store, key, with_weights=with_weights) if reuse else None
                if source is not None:
                    plan.got[cid][role, seed] = reuse_run(store, source, run_config, role, cid,
                                                          hooks_for(role, seed) or default_hooks())
                elif reuse and key in plan.trains.values():
                    plan.waiting.setdefault(key, []).append((cid, role, seed, run_config))
                else:
                    plan.trains[cid, role, seed] = key
                    train.add((role, seed))
        if train:
            plan.tasks.append(Task(config, cid, train))
    return plan


def run_comparisons(configs: list[ComparisonConfig], store: RunStore | None = None, executor: str = "local",
                    workers: int | None = 1, comparison_ids: list[str] | None = None, reuse: bool = True,
                    keep_weights: bool = False, only: list[set | None] | None = None,
                    hooks_for: HooksFor | None = None,
                    on_done: Callable[[Comparison], None] | None = None) -> list[Comparison]:
    """Train ``configs``, each distinct run once; one `Comparison` per config, in order.

    ``executor`` "local" with one worker (the default) trains here, in order, calling ``hooks_for(role, seed)``
    for each run's progress; more workers, or "ray", train comparisons in parallel elsewhere. ``only`` (one set
    of (role, seed) per config, or None) leaves out runs nobody reads. ``keep_weights``: the caller will look
    inside the trained networks, so a run is reused only from a source whose weights are still kept.
    ``on_done(comparison)`` is called as each comparison has all its runs. A stop request or Ctrl-C ends the
    call after saving the run in progress as interrupted. A run to be copied from one that failed is left out.
    """
    store = store or RunStore()
    ids = comparison_ids or [new_id("c-") for _ in configs]
    workers = check(executor, workers)
    for config in configs:
        config.validate()  # every mistake before the first run, not after an hour
    keep = keep_checkpoints()
    hooks_for = hooks_for or (lambda role, seed: None)
    only = only or [None] * len(configs)
    plan = _plan(configs, ids, store, reuse, keep_weights and keep > 0, only, hooks_for)
    by_id = dict(zip(ids, zip(configs, only)))

    def assemble(cid: str) -> Comparison:
        config, runs = by_id[cid][0], plan.got[cid]
        return Comparison(cid, config, transfer=[runs["transfer", s] for s in config.seeds if ("transfer", s) in runs],
                          scratch=[runs["scratch", s] for s in config.seeds if ("scratch", s) in runs])

    def complete(cid: str) -> bool:
        config, keep_runs = by_id[cid]
        expected = len(keep_runs) if keep_runs is not None else 2 * len(config.seeds)
        return len(plan.got[cid]) == expected

    trained_ids = {task.comparison_id for task in plan.tasks}
    for cid in ids:
        if on_done and cid not in trained_ids and complete(cid):
            on_done(assemble(cid))  # every run copied from the store
    threads = settings.threads_per_share(workers) if workers > 1 and len(plan.tasks) > 1 else None
    for task, records in execute(plan.tasks, store, executor, workers, hooks_for):
        touched = {task.comparison_id}
        for record in records:
            if note_estimate(record, threads):  # what the estimate said, beside what it took
                store.save(record)
            seed = RunConfig.of(record).seed
            plan.got[record.comparison_id][record.role, seed] = record
            key = plan.trains[record.comparison_id, record.role, seed]
            for cid, role, seed_, run_config in plan.waiting.pop(key, []) if record.status == "completed" else []:
                plan.got[cid][role, seed_] = reuse_run(store, record, run_config, role, cid,
                                                       hooks_for(role, seed_) or default_hooks())
                touched.add(cid)
        for cid in touched:
            if on_done and complete(cid):
                on_done(assemble(cid))
        store.prune_checkpoints(keep)  # the views inside the networks need the weights of recent comparisons
    return [assemble(cid) for cid in ids]


def run_comparison(config: ComparisonConfig, store: RunStore | None = None, hooks_for: HooksFor | None = None,
                   comparison_id: str | None = None, reuse: bool = True, keep_weights: bool = False) -> Comparison:
    """Train the transfer run and its scratch twin for every seed, here; each run is saved as it goes.

    A UI that names the comparison (``comparison_id``) can show it before its first run has started.
    """
    return run_comparisons([config], store, comparison_ids=[comparison_id] if comparison_id else None,
                           reuse=reuse, keep_weights=keep_weights, hooks_for=hooks_for)[0]
