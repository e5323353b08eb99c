"""The pieces of specc's training loop, one concept per module. They are plain functions of
the train block's catalogue entries, shared by `specc train` (backends/torch/train.py: the
Trainer), the harness checks and the emitted training program, which copies their source
(backends/torch/script.py emit_sources: keep them free of specc-only imports).

    adapt.py        Keras' adapt: Normalization statistics from the training split, before epoch 1
    targets.py      the data set's targets as each loss wants them (one-hot rows, labels, -1/+1)
    losses.py       make_loss: Keras losses on probabilities or logits
    metrics.py      metric_plan / metric_sum: metrics summed on the device per batch
    optimizers.py   make_optimizer: Keras optimizers as torch's fused ones
    schedules.py    schedule_factor: learning-rate schedules
    callbacks.py    EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, CSVLogger, ... (with
                    JSON-able state for --resume)
    device.py       devices, precision policies, torchrun rank, the allocator setting
    checkpointing.py  the Trainer's --resume state (the file format: backends/torch/checkpoint.py)
    outputs.py      the run folder's files: weights, history, curves, summary
    progress.py     what a run prints: epoch lines, the progress bar
"""
from __future__ import annotations


class TrainError(Exception):
    """A training configuration that cannot run (exit code 1)."""
