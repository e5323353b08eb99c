"""What a run shows while it trains: one line per epoch (wrapped to 80 columns, with the
time left), and a live bar on a terminal."""
from __future__ import annotations

from .outputs import _fmt

WIDTH = 80  # columns of the epoch lines: readable in any terminal and in CI logs


def duration(seconds: float) -> str:
    """A time span as people read it: 45s, 3m05s, 1h02m."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s // 60 % 60:02d}m"


def eta(history: list[dict], epochs: int) -> float | None:
    """Seconds until the last epoch ends: the mean time of the last 5 epochs (not counting the
    first, which carries the warm-up, once there are others) times the epochs left (an
    early stop ends sooner); None when no epoch is timed or none is left."""
    times = [h["time"] for h in history if "time" in h]
    left = epochs - (history[-1]["epoch"] if history else 0)
    if not times or left <= 0:
        return None
    recent = times[1:][-5:] or times
    return sum(recent) / len(recent) * left


def epoch_line(logs: dict, epochs: int, seconds_left: float | None, width: int = WIDTH) -> str:
    """`epoch 3/10  loss 0.41  accuracy 0.88  ...  0.52s  eta 4s`, wrapped at `width`
    columns between entries, continuation lines indented under the first entry."""
    head = f"epoch {logs['epoch']}/{epochs}"
    parts = [f"{k} {_fmt(v)}" for k, v in logs.items() if k not in ("epoch", "time")]
    parts.append(f"{logs['time']:.2f}s")
    if seconds_left is not None:
        parts.append(f"eta {duration(seconds_left)}")
    lines, line = [], head
    indent = " " * (len(head) + 2)
    for p in parts:
        if len(line) + 2 + len(p) > width and line.strip():
            lines.append(line)
            line = indent + p
        else:
            line += "  " + p
    lines.append(line)
    return "\n".join(lines)


class EpochBar:
    """A rich progress bar for one epoch (TTY only), in 80 columns: the epoch, the bar, the
    samples done, this epoch's time left, the whole run's time left and the live loss (the
    epoch line printed after it has every value)."""

    def __init__(self, epoch: int, epochs: int, total: int, run_left: float | None = None, console=None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        run = f"run {duration(run_left)}" if run_left is not None else ""
        self.p = Progress(TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                          TextColumn("eta"), TimeRemainingColumn(), TextColumn(run), TextColumn("{task.fields[logs]}"),
                          transient=True, console=console)
        self.task = self.p.add_task("train", total=total, logs="")
        self.p.start()

    def update(self, done: int, logs: dict) -> None:
        loss = logs.get("loss")
        self.p.update(self.task, completed=done, logs="" if loss is None else f"loss {_fmt(loss)}")

    def close(self) -> None:
        self.p.stop()
