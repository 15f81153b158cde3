"""Progress on the terminal: a tqdm bar per run, fed by the trainer's hooks."""

from __future__ import annotations

import sys

from workbench.spec.config import RunConfig


class ProgressBars:
    """A tqdm bar per run, on stderr so ``--json`` output stays clean."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    def __call__(self, role: str, seed: int):
        from tqdm.auto import tqdm

        from workbench.training.train import Hooks

        quiet = self.quiet

        class Bar(Hooks):
            bar = None

            def on_start(self, record, steps_per_epoch):
                if record.reused_from:  # nothing to train: the same run is already in the store
                    print(f"{role} (seed {seed}): reused from run {record.reused_from}", file=sys.stderr)
                    return
                total = steps_per_epoch * RunConfig.of(record).epochs
                self.bar = tqdm(total=total, desc=f"{role} (seed {seed})", unit="step", disable=quiet, leave=True)

            def on_step(self, record, epoch, step, loss):
                self.bar.update(1)
                self.bar.set_postfix_str(f"epoch {epoch} loss {loss:.3f}", refresh=False)

            def on_epoch(self, record):
                last = record.epochs[-1]
                self.bar.set_postfix_str(f"epoch {last.epoch} val acc {100 * last.val_acc:.1f}%")

            def on_end(self, record):
                if self.bar is not None:
                    self.bar.close()

        return Bar()
