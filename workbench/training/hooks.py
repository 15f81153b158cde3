"""What a UI can listen to while a run trains (`train.train_run` calls these), and how it asks the run to stop."""

from __future__ import annotations

from workbench.core.records import RunRecord


class Hooks:
    """What a UI can listen to; every method is optional and cheap."""

    def on_prepare(self, what: str) -> None:
        """What the run does before its first step ("decoding images", "building the network"): seconds that
        would otherwise pass without a word."""

    def on_start(self, record: RunRecord, steps_per_epoch: int) -> None: ...

    def on_step(self, record: RunRecord, epoch: int, step: int, loss: float) -> None: ...

    def on_epoch(self, record: RunRecord) -> None: ...

    def on_end(self, record: RunRecord) -> None: ...

    def should_stop(self) -> bool:
        return False
