"""How deterministic is a run? The same settings trained again, in fresh processes.

    python benchmarks/determinism.py          # about 2 minutes on 2 CPU cores

Each run happens in its own process (as two sessions of a class would), with a given number of
CPU threads, and reports every epoch's training loss and validation accuracy, its test accuracy, and
a hash of its trained weights. Printed: whether runs with the same seed and thread count are
bit-identical, and how far apart runs with other thread counts (and the GPU, where there is one) land.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

CHILD = """
import hashlib, json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from workbench.spec.config import RunConfig
from workbench.store.runs import RunStore
from workbench.training.train import train_run
config = RunConfig(dataset="digits:0-4", train_per_class=10, image_size=64, epochs=3, freeze_depth=int(sys.argv[3]),
                   device=sys.argv[2], seed=0)
store = RunStore(sys.argv[4])
record = train_run(config, store, save_checkpoint=True)
state = store.load_checkpoint(record.run_id)
digest = hashlib.sha256(b"".join(state[k].cpu().numpy().tobytes() for k in sorted(state))).hexdigest()[:16]
print(json.dumps({"losses": [e.train_loss for e in record.epochs], "val": [e.val_acc for e in record.epochs],
                  "test": record.test_acc, "weights": digest}))
"""


def run(threads: int, device: str, freeze: int, folder: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(threads), device, str(freeze), folder],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def distance(a: dict, b: dict) -> str:
    if a == b:
        return "identical (same weights, bit for bit)"
    loss = max(abs(x - y) for x, y in zip(a["losses"], b["losses"]))
    return (f"differ: largest training-loss gap {loss:.2e}, test accuracy {100 * a['test']:.1f}% vs "
            f"{100 * b['test']:.1f}%")


def main() -> int:
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for freeze, label in ((0, "full fine-tune"), (6, "linear probe (cached features)")):
            first, again = run(2, "cpu", freeze, folder), run(2, "cpu", freeze, folder)
            one_thread = run(1, "cpu", freeze, folder)
            rows.append((label, "same seed, 2 threads, run twice", distance(first, again)))
            rows.append((label, "2 threads vs 1 thread", distance(first, one_thread)))
            if torch.cuda.is_available():
                rows.append((label, "CPU vs CUDA", distance(first, run(2, "cuda", freeze, folder))))
                cuda, cuda_again = run(2, "cuda", freeze, folder), run(2, "cuda", freeze, folder)
                rows.append((label, "CUDA, run twice", distance(cuda, cuda_again)))
    print("| run | compared | result |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
