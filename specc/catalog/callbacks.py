"""Training callbacks (Keras names and defaults).

info["writes"]: the arguments that name a file the callback writes, relative to the run
folder (`specc check` keeps them inside it: E109). A `monitor` argument names a value the
trainer logs; `specc check` compares it with those names (E403, W616)."""
from typing import Literal

from .base import Catalog, Entry, Param, non_empty, non_negative, open_unit

_monitor = Param("monitor", str, "val_loss", check=non_empty)
_mode = Param("mode", Literal["auto", "min", "max"], "auto")



def _steps(v) -> str | None:
    """TensorBoard's update_freq: 'epoch', 'batch' or a step count of at least 1."""
    return "must be epoch, batch or a number of steps >= 1" if isinstance(v, int) and v < 1 else None


CALLBACKS = Catalog("callback", [
    Entry("EarlyStopping", [_monitor, Param("patience", int, 0, check=non_negative), Param("min_delta", float, 0.0, check=non_negative),
                            _mode, Param("restore_best_weights", bool, False, aliases=("restore_best",))],
          aliases=("early_stopping",), doc="stop when the monitored value stops improving"),
    Entry("ModelCheckpoint", [Param("filepath", str, "best.safetensors", check=non_empty, aliases=("path",)), _monitor,
                              Param("save_best_only", bool, True, aliases=("best_only",)), _mode],
          aliases=("model_checkpoint",), doc="keep the best weights in the run folder",
          info={"writes": ("filepath",)}),
    Entry("ReduceLROnPlateau", [_monitor, Param("factor", float, 0.1, check=open_unit),
                                Param("patience", int, 10, check=non_negative), Param("min_delta", float, 1e-4, check=non_negative),
                                Param("min_lr", float, 0.0, check=non_negative), Param("cooldown", int, 0, check=non_negative), _mode],
          aliases=("reduce_lr_on_plateau",), doc="lr *= factor after `patience` epochs without improvement"),
    Entry("CSVLogger", [Param("filename", str, "history.csv", check=non_empty)], aliases=("csv_logger",), doc="history as CSV in the run folder",
          info={"writes": ("filename",)}),
    Entry("TerminateOnNaN", aliases=("terminate_on_nan",), doc="stop at a NaN/Inf loss (always on in specc train)"),
    Entry("TensorBoard", [Param("log_dir", str, "logs", check=non_empty),
                          Param("update_freq", Literal["epoch", "batch"] | int, "epoch", check=_steps)],
          aliases=("tensorboard",), doc="TensorBoard logs in the run folder: every loss, metric and the learning "
                                        "rate per epoch (update_freq='batch' or N: also the batch loss every N steps)",
          info={"writes": ("log_dir",)}),
])
