"""The run folder's files: model.safetensors, history.json, curves.png, summary.txt, ir.json
and callback files, each written atomically (never half-written), only on rank 0."""
from __future__ import annotations

import io
import json
import os
from typing import Any

import numpy as np

from . import TrainError


def _write_atomic(path: str, data: bytes) -> None:
    from ....output import write_atomic
    write_atomic(path, data)


class RunFiles:
    """The output-file half of Trainer (a mixin: it reads the Trainer's options, history and module)."""

    def _path(self, name: str) -> str:
        # every file goes into the run folder: a spec's callback file names are checked for
        # it (E109); this refuses any that were not (a config built in Python), and a file or
        # folder in the run folder that links outside it (writes would follow the link)
        from ....compile import output_path_problem
        problem = output_path_problem(name)
        path = os.path.join(self.opts.out, name)
        real, folder = os.path.realpath(path), os.path.realpath(self.opts.out)
        if not problem and not real.startswith(folder.rstrip(os.sep) + os.sep):
            problem = f"'{path}': it is a symbolic link leading out of the run folder"
        if problem:
            raise TrainError(f"cannot write {problem}: files go into the run folder")
        return path

    def weight_arrays(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.module.weight_dict().items()}

    def save_weights(self, name: str) -> None:
        if self.rank != 0 or not self.opts.write_files:
            return
        from ....weights import save_weights
        save_weights(self._path(name), self.weight_arrays(), self.net)

    def write_csv(self, name: str) -> None:
        if self.rank != 0 or not self.opts.write_files:
            return
        keys = _keys(self.history)
        lines = [",".join(keys)] + [",".join(_fmt(h.get(k, "")) for k in keys) for h in self.history]
        _write_atomic(self._path(name), ("\n".join(lines) + "\n").encode())

    def write_history(self) -> None:
        if self.rank != 0 or not self.opts.write_files:
            return
        doc = {"spec": self.net.name, "seed": self.opts.seed, "precision": self.precision,
               "epochs": self.history, "stopped": self.stop}
        _write_atomic(self._path("history.json"), (json.dumps(doc, indent=1) + "\n").encode())

    def write_curves(self) -> None:
        if self.rank != 0 or not self.opts.write_files or not self.history:
            return
        plot_curves(self.history, self._path("curves.png"), self.net.name)

    def finish(self) -> None:
        if self.rank != 0 or not self.opts.write_files:
            return
        self.save_weights("model.safetensors")
        self.write_history()
        self.write_curves()
        for name, c in self.callbacks:
            if name == "CSVLogger":
                c.on_epoch_end(self, self.epoch, {})
        from ....summary import summary_text
        _write_atomic(self._path("summary.txt"), (summary_text(self.net) + "\n").encode())
        _write_atomic(self._path("ir.json"), self.net.model_dump_json(indent=1).encode())


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e-3 and v != 0 else f"{v:.4f}"
    return str(v)


def _keys(history: list[dict]) -> list[str]:
    keys: list[str] = []
    for h in history:
        for k in h:
            if k not in keys:
                keys.append(k)
    return keys


def lr_changed(history: list[dict]) -> bool:
    """Whether the learning rate differs between epochs (a schedule, decay or ReduceLROnPlateau)."""
    return len({h["lr"] for h in history if "lr" in h}) > 1


def plot_curves(history: list[dict], path: str, title: str) -> None:
    """curves.png (see curves_figure)."""
    import matplotlib.pyplot as plt
    fig = curves_figure(history, title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    _write_atomic(path, buf.getvalue())


def curves_figure(history: list[dict], title: str):
    """One panel per loss and metric, training and validation, epochs as whole numbers on
    the x axis, and a learning-rate panel (log scale) when the rate changed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    names = [k for k in _keys(history) if k not in ("epoch", "lr", "time") and not k.startswith("val_")]
    if lr_changed(history):
        names.append("lr")
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.4), squeeze=False)
    ep = [h["epoch"] for h in history]
    for ax, k in zip(axes[0], names):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        if k == "lr":
            ax.plot(ep, [h.get(k, float("nan")) for h in history], marker="." if len(ep) < 30 else None)
            ax.set_yscale("log")
            ax.set_title("learning rate (end of epoch)")
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            continue
        ax.plot(ep, [h.get(k, float("nan")) for h in history], label="train", marker="." if len(ep) < 30 else None)
        if any("val_" + k in h for h in history):
            ax.plot(ep, [h.get("val_" + k, float("nan")) for h in history], label="validation",
                    marker="." if len(ep) < 30 else None)
        ax.set_title(k)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
