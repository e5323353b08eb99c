"""What a run shows while it trains: one line per epoch, and a live bar on a terminal."""
from __future__ import annotations

from .outputs import _fmt


class EpochBar:
    """A rich progress bar for one epoch with the live loss and metrics (TTY only)."""

    def __init__(self, epoch: int, epochs: int, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self.p = Progress(TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), TextColumn("{task.fields[logs]}"), transient=True)
        self.task = self.p.add_task("train", total=total, logs="")
        self.p.start()

    def update(self, done: int, logs: dict) -> None:
        self.p.update(self.task, completed=done, logs="  ".join(f"{k} {_fmt(v)}" for k, v in logs.items()))

    def close(self) -> None:
        self.p.stop()
