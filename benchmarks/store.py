"""The run store before and after its index, timed in the same process on the same folders.

"Before" is the JSON-folder scan the store used until the index (a faithful copy of the old
`RunStore.scan`: read and parse every record.json, then sort), followed by filtering in Python.
"After" is `RunStore.list_runs` on the SQLite index (each call still stats every record file, to
notice folders written without it) and `RunStore.changes`, the dashboard's refresh. The folders
are written plainly, as an older workbench left them, so the first `list_runs` is the one-time import.

    python benchmarks/store.py               # 1,000 and 10,000 runs; about 2 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import fields
from pathlib import Path

from workbench.core.errors import RunStoreError
from workbench.core.records import EpochRecord, RunRecord
from workbench.spec.config import RunConfig
from workbench.store.runs import RECORD_FILE, RUN_ID, RunStore

BACKBONES = ("efficientnet_lite0", "resnet18", "resnet50", "mobilenet_v3_small")


def fake_record(i: int, epochs: int = 15) -> RunRecord:
    """A record the size of a real one: the whole config, 15 epochs, a confusion matrix."""
    config = RunConfig(backbone=BACKBONES[i % len(BACKBONES)], freeze_depth=i % 7, seed=i % 3).to_dict()
    values = {"int": 1000, "float": 0.5, "bool": False}
    record = RunRecord(run_id=f"r-{i:06d}", config=config, role=("transfer", "scratch")[i % 2],
                       comparison_id=f"c-{i // 2:06d}", status=("completed", "completed", "interrupted")[i % 3],
                       created=f"2026-01-01T00:00:{i:06d}", classes=[f"class {c}" for c in range(6)],
                       test_acc=0.5, per_class_acc=[0.5] * 6, confusion=[[5] * 6 for _ in range(6)])
    for epoch in range(epochs):
        record.epochs.append(EpochRecord(**{f.name: {"head": 1e-3} if f.name == "lrs" else values.get(f.type, epoch)
                                            for f in fields(EpochRecord)}))
    return record


def old_scan(root: Path) -> tuple[list[RunRecord], dict[str, str]]:
    """The store's scan before the index: every record file read and parsed, newest first."""
    store, records, problems = RunStore(root), [], {}
    for folder in sorted(root.iterdir()):
        if not (folder / RECORD_FILE).is_file() or not RUN_ID.match(folder.name):
            continue
        try:
            records.append(store.load(folder.name))
        except RunStoreError as exc:
            problems[folder.name] = str(exc)
    records.sort(key=lambda r: (r.created, r.run_id), reverse=True)
    return records, problems


def median_s(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(count: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for i in range(count):
            (root / f"r-{i:06d}").mkdir()
            (root / f"r-{i:06d}" / RECORD_FILE).write_text(json.dumps(fake_record(i).to_dict(), indent=1))
        store = RunStore(root)
        wanted = lambda r: r.config["backbone"] == "resnet18" and r.status == "completed"  # noqa: E731
        before_list = median_s(lambda: old_scan(root), repeats)
        before_filter = median_s(lambda: [r for r in old_scan(root)[0] if wanted(r)], repeats)
        started = time.perf_counter()
        rows, _ = store.list_runs()
        import_s = time.perf_counter() - started
        assert len(rows) == count
        after_list = median_s(store.list_runs, repeats)
        filtered = store.list_runs(backbone="resnet18", status="completed")[0]
        assert len(filtered) == sum(wanted(fake_record(i, epochs=0)) for i in range(count))
        after_filter = median_s(lambda: store.list_runs(backbone="resnet18", status="completed"), repeats)
        token = store.changes().token
        quiet = median_s(lambda: store.changes(token), repeats)
        store.save(fake_record(count))
        one_new = median_s(lambda: store.changes(token), repeats)
    return {"runs": count, "before list": before_list, "before filter": before_filter, "import (once)": import_s,
            "after list": after_list, "after filter": after_filter, "changes: none": quiet, "changes: one run": one_new}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1000 10000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = [measure(int(n), args.repeats) for n in args.counts.split()]
    keys = list(results[0])
    print("| " + " | ".join(keys) + " | list speed-up | filter speed-up |")
    print("|" + "---:|" * (len(keys) + 2))
    for r in results:
        cells = [f"{r['runs']:,}"] + [f"{r[k]:.3f} s" for k in keys[1:]]
        print("| " + " | ".join(cells) + f" | {r['before list'] / r['after list']:.0f}x "
              f"| {r['before filter'] / r['after filter']:.0f}x |")


if __name__ == "__main__":
    main()
