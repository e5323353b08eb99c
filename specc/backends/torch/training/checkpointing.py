"""The Trainer's --resume state: what a checkpoint holds (weights, optimizer, schedule,
callbacks, every RNG), writing it after each epoch and reading it back. The file format
(safetensors, no pickle) is backends/torch/checkpoint.py."""
from __future__ import annotations

import json
import os

import torch

from .. import checkpoint
from . import TrainError

CHECKPOINT = checkpoint.FILE
STATELESS = ("TensorBoard",)  # callbacks a checkpoint need not match


class Checkpointing:
    """The checkpoint half of Trainer (a mixin: it reads the Trainer's module, optimizer,
    callbacks, history and RNGs)."""

    checkpoint_is_ours = False  # the run folder's checkpoint was written (or resumed from) by this run

    def state(self) -> dict:
        """Everything --resume needs: tensors, plain values and one JSON string (checkpoint.pack)."""
        meta = {"epoch": self.epoch, "iteration": self.iteration, "lr_scale": self.lr_scale,
                "history": self.history, "stop": self.stop, "seed": self.opts.seed,
                "spec": self.net.name, "callbacks": [[n, c.state()] for n, c in self.callbacks],
                "precision": self.precision}
        if self.scaler is not None:
            meta["loss_scaler"] = self.scaler.state_dict()
        best = {}
        for i, (_, c) in enumerate(self.callbacks):
            if hasattr(c, "tensors"):
                best.update({f"{i}/{k}": v for k, v in c.tensors().items()})
        st = {"model": self.module.state_dict(), "optimizer": self.optimizer.state_dict(),
              "torch_rng": torch.get_rng_state(), "shuffle_rng": self.shuffle_gen.get_state(),
              "layer_rng": self.module.rng_states(), "callback_tensors": best, "meta": json.dumps(meta)}
        if self.device.type == "cuda":
            st["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return st

    def load_state(self, st: dict) -> None:
        meta = json.loads(st["meta"])
        if meta.get("spec") != self.net.name:
            raise TrainError(f"the checkpoint is from spec '{meta.get('spec')}', not '{self.net.name}'")
        self.module.load_state_dict(st["model"])
        self.optimizer.load_state_dict(st["optimizer"])
        torch.set_rng_state(st["torch_rng"])
        self.shuffle_gen.set_state(st["shuffle_rng"])
        self.module.load_rng_states(self._fitting_layer_rng(st.get("layer_rng", {})), self.device)
        if "cuda_rng" in st and self.device.type == "cuda":
            torch.cuda.set_rng_state(st["cuda_rng"], self.device)
        self.epoch, self.iteration, self.lr_scale = meta["epoch"], meta["iteration"], meta["lr_scale"]
        self.history, self.stop = meta["history"], meta["stop"]
        if self.scaler is not None and meta.get("loss_scaler"):
            self.scaler.load_state_dict(meta["loss_scaler"])
        # callbacks with state, paired in order; TensorBoard keeps none (`--tensorboard` may be
        # added or dropped on --resume); tensors are keyed by the saved callback's position
        saved = [(i, s) for i, (n, s) in enumerate(meta["callbacks"]) if n not in STATELESS]
        mine = [c for n, c in self.callbacks if n not in STATELESS]
        if [meta["callbacks"][i][0] for i, _ in saved] != [n for n, _ in self.callbacks if n not in STATELESS]:
            raise TrainError("the checkpoint's callbacks differ from the spec's; start a fresh run (without --resume)")
        for (i, s), c in zip(saved, mine):
            c.load(s)
            if hasattr(c, "load_tensors"):
                prefix = f"{i}/"
                c.load_tensors({k[len(prefix):]: v for k, v in st["callback_tensors"].items() if k.startswith(prefix)})

    def _fitting_layer_rng(self, states: dict) -> dict:
        """The seeded noise layers' generator states that fit this device's generators: a
        checkpoint written on CUDA holds 16-byte Philox states, one written on the CPU
        5056-byte Mersenne Twister states; either kind makes the other's set_state raise.
        Resuming on another kind of device restarts those layers' streams (with a warning)."""
        if not states:
            return {}
        size = torch.Generator(device=self.device).get_state().numel()
        fit = {k: v for k, v in states.items() if v.numel() == size}
        if len(fit) < len(states):
            self.warn(f"warning: the checkpoint's seeded Dropout/noise generators are from another kind of "
                      f"device than {self.device.type}; those layers restart their random streams from "
                      "their seeds (the resumed run will not match an uninterrupted one bitwise)")
        return fit

    def save_checkpoint(self) -> None:
        if self.rank != 0 or not self.opts.write_files:
            return
        checkpoint.write(self._path(CHECKPOINT), self.state())
        self.checkpoint_is_ours = True
        legacy = self._path(checkpoint.LEGACY_FILE)
        if os.path.exists(legacy):  # superseded (an older specc's format, resumed from)
            os.remove(legacy)

    def _read_checkpoint(self) -> tuple[str, dict] | None:
        """(path, state) of the run folder's checkpoint, None without one."""
        path = checkpoint.find(self.opts.out)
        if path is None:
            return None
        try:
            return path, checkpoint.read(path)
        except Exception as e:  # a corrupt file: atomic writes make this unlikely
            raise TrainError(f"cannot read the checkpoint '{path}': {e}; "
                             "delete it to start a fresh run") from None

    def try_resume(self) -> bool:
        found = self._read_checkpoint()
        if found is None:
            return False
        self.load_state(found[1])
        self.resumed_from = found[0]
        self.checkpoint_is_ours = True
        return True

    def _restore_last_good(self) -> None:
        found = self._read_checkpoint() if self.epoch else None
        if found is not None:
            self.module.load_state_dict(found[1]["model"])
        else:  # diverged in the first epoch: back to the initial weights
            from ....weights import init_weights
            self.module.load_weight_dict(init_weights(self.net, self.opts.seed))
