"""specc as a Python library: `specc.load(path)` / `specc.loads(text)` -> `Spec`.

A `Spec` is a compiled, valid spec. Its methods do in Python what the CLI commands do
(docs/python.md): `summary()`, `torch()`, `onnx()`, `init_weights()`, `train()`,
`verify()`, `predict()`, `test()`, `script()`. Everything heavy is imported
inside the method that needs it: `import specc` and `specc.load` import neither torch nor
onnx nor onnxruntime.

Errors: a spec with errors raises `SpecError` (its `.diagnostics` are the objects `specc
check` prints); so do unusable weights files, data that does not fit the spec and training
configurations that cannot run. Nothing here prints, and files are written atomically.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from . import errors as _errors
from .errors import Diagnostic, Source

__all__ = ["Spec", "SpecError", "History", "VerifyResult", "load", "loads"]


class SpecError(_errors.SpecError):
    """A spec (or a file or data used with it) that cannot be used; `diagnostics` holds
    every diagnostic (errors, and the warnings that came with them), `str()` renders the
    errors as `specc check` does (file:line:col, the line, a hint)."""

    def __init__(self, diagnostics: Sequence[Diagnostic], sources: Mapping[str, Source] | None = None):
        self.diagnostics = list(diagnostics)
        self.sources = dict(sources or {})
        errs = [d for d in self.diagnostics if d.severity == "error"] or self.diagnostics
        Exception.__init__(self, "\n".join(_errors.render_text(d, self.sources) for d in errs))
        self.diagnostic = errs[0] if errs else None

    @classmethod
    def from_message(cls, message: str, code: str = "E100", hint: str | None = None) -> "SpecError":
        return cls([_errors.diag(code, message, None, hint)])


def _reraise(e: Exception, what: str = "") -> SpecError:
    """Any of specc's own error types as a SpecError (one diagnostic)."""
    if isinstance(e, SpecError):
        return e
    if isinstance(e, _errors.SpecError):
        return SpecError([e.diagnostic])
    return SpecError.from_message(f"{what}{e}")


def _as_arrays(weights: Mapping) -> dict:
    import numpy as np
    return {k: v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v) for k, v in weights.items()}


def load(path: str | os.PathLike, root: str | os.PathLike | None = None) -> "Spec":
    """Compile the spec in file `path`; SpecError if it has errors. Its imports must stay
    inside `root` (default: the nearest folder above it with a pyproject.toml or .git)."""
    from .compile import compile_file, project_root
    root = project_root(os.fspath(path)) if root is None else os.fspath(root)
    return Spec._from_result(compile_file(os.fspath(path), root=root), root)


def loads(text: str, file: str = "<string>", root: str | os.PathLike | None = None) -> "Spec":
    """Compile a spec held in a string (`file` names it in diagnostics); SpecError if it has errors.
    Relative data and import paths are taken from the current folder; imports stay inside
    `root` (default: the project root of the current folder)."""
    from .compile import compile_source, project_root
    root = project_root(file) if root is None else os.fspath(root)
    return Spec._from_result(compile_source(text, file, root=root), root)


class History(list):
    """`Spec.train()`'s result: the per-epoch logs (a list of dicts: epoch, loss, metrics,
    val_*, lr, time), plus the trained `model`, the run folder `out` (None when no files
    were written) and `stopped` (why training ended early, or None)."""

    def __init__(self, epochs: list[dict], model: Any, out: str | None, stopped: str | None):
        super().__init__(epochs)
        self.model, self.out, self.stopped = model, out, stopped


@dataclass
class VerifyResult:
    """`Spec.verify()`'s result: one row per (batch size, output) with the max absolute and
    relative differences of ONNX against torch; `passed` when every row is in tolerance."""
    rows: list[dict] = field(default_factory=list)
    atol: float = 0.0
    rtol: float = 0.0

    @property
    def passed(self) -> bool:
        return all(r["passed"] for r in self.rows)

    def __bool__(self) -> bool:
        return self.passed


class Spec:
    """A compiled, valid spec (see the module docstring)."""

    def __init__(self, network, diagnostics: list[Diagnostic], sources: dict[str, Source], root: str | None = None):
        self.network = network  # the IR (specc.ir.Network)
        self.diagnostics = diagnostics  # warnings and infos, as `specc check` prints them
        self.sources = sources
        self.root = root  # the project root its files were confined to (its data files too)

    @classmethod
    def _from_result(cls, result, root: str | None = None) -> "Spec":
        if result.errors or result.network is None:
            raise SpecError(result.diagnostics, result.sources)
        return cls(result.network, result.diagnostics, result.sources, root)

    def __repr__(self) -> str:
        return f"<specc.Spec {self.name!r} from {self.file!r}: {', '.join(self.inputs)} -> {', '.join(self.outputs)}>"

    # ------------------------------------------------------------------ facts
    @property
    def name(self) -> str:
        return self.network.name

    @property
    def file(self) -> str:
        return self.network.file

    @property
    def inputs(self) -> list[str]:
        return list(self.network.inputs)

    @property
    def outputs(self) -> list[str]:
        return list(self.network.outputs)

    def summary(self) -> dict:
        """The content of `specc summary --format json`."""
        from .summary import summary_data
        return summary_data(self.network)

    def summary_text(self) -> str:
        """The table `specc summary` prints."""
        from .summary import summary_text
        return summary_text(self.network)

    def render(self, diagnostic: Diagnostic, color: bool = False) -> str:
        """One diagnostic as `specc check` prints it (file:line:col, the line, a hint)."""
        return _errors.render_text(diagnostic, self.sources, color=color)

    # ------------------------------------------------------------------ weights
    def init_weights(self, seed: int = 0) -> dict:
        """The seeded initial weights (numpy float32, Keras initializers) by key "<layer>.<weight>"."""
        from .weights import init_weights
        return init_weights(self.network, seed)

    def load_weights(self, path: str | os.PathLike) -> dict:
        """A model.safetensors checked against the spec (keys, shapes, finite values)."""
        from .weights import load_weights
        try:
            return load_weights(os.fspath(path), self.network)
        except _errors.SpecError as e:
            raise _reraise(e) from None

    def _weights(self, weights, seed: int) -> dict:
        """Weights by key as numpy arrays: initial (None), from a file (a path) or given (a
        mapping of arrays or tensors, e.g. a module's state_dict())."""
        if weights is None:
            return self.init_weights(seed)
        if isinstance(weights, (str, os.PathLike)):
            return self.load_weights(weights)
        arrays = _as_arrays(weights)
        want = {f"{l}.{w.name}": tuple(w.shape) for l, ws in self.network.weights.items() for w in ws}
        missing, extra = sorted(set(want) - set(arrays)), sorted(set(arrays) - set(want))
        wrong = [f"{k}: given {tuple(arrays[k].shape)}, spec {want[k]}" for k in want
                 if k in arrays and tuple(arrays[k].shape) != want[k]]
        if missing or extra or wrong:
            parts = ([f"missing {', '.join(missing[:5])}"] if missing else []) + \
                    ([f"unexpected {', '.join(extra[:5])}"] if extra else []) + wrong[:5]
            raise SpecError.from_message(f"weights do not fit spec '{self.name}': " + "; ".join(parts))
        return arrays

    def save_weights(self, path: str | os.PathLike, weights: Mapping) -> None:
        """Write weights (numpy arrays or tensors, by specc key) as safetensors, atomically."""
        from .weights import save_weights
        save_weights(os.fspath(path), _as_arrays(weights), self.network)

    # ------------------------------------------------------------------ backends
    def torch(self, seed: int = 0, weights=None):
        """The network as a torch.nn.Module (specc.backends.torch.lower.SpeccModule).

        Initial weights are `init_weights(seed)` (Keras semantics), or `weights`: a
        model.safetensors path or a dict by specc key. `state_dict()` keys are the specc
        keys, so a run's model.safetensors loads as is with load_state_dict. For your own
        training loop: `model.regularization_loss()` (add it to the loss) and
        `model.apply_constraints()` (call it after each optimizer step)."""
        from .backends.torch import build_module
        values = self._weights(weights, seed)
        try:
            return build_module(self.network, values, seed)
        except _errors.SpecError as e:
            raise _reraise(e) from None

    def onnx(self, weights=None, seed: int = 0, opset: int | None = None, ops: str = "onnxruntime"):
        """The network as an onnx.ModelProto (inference form); imports no torch. ops="standard":
        standard ONNX operators only (no onnxruntime com.microsoft fused attention)."""
        from .backends.onnx.lower import OPSET, LoweringError, build_model
        values = self._weights(weights, seed)
        try:
            return build_model(self.network, values, seed=seed, opset=OPSET if opset is None else opset, ops=ops)
        except (LoweringError, ValueError, _errors.SpecError) as e:
            raise SpecError.from_message(f"cannot lower '{self.name}' to ONNX: {e}") from None

    def script(self, train: bool = False) -> str:
        """The source of `specc build --emit torch` (train=False: the model alone) or of
        `--emit torch-train` (a standalone training program; it reads built-in data sets
        from the .npz that `write_script` writes beside it, and file data from the file)."""
        from .backends.torch import script
        if not train:
            return script.render(self.network)
        try:
            _, classes = script.training_data(self.network, self._base())
        except _errors.SpecError as e:
            raise _reraise(e) from None
        return script.render_training(self.network, "train_data.npz", classes, spec_folder=self._base())

    def write_script(self, path: str | os.PathLike, train: bool = False) -> list[str]:
        """Write `script(train)` to `path` (and, for a training program, its data file
        beside it); returns the paths written."""
        from .backends.torch import script
        try:
            return script.write(self.network, os.fspath(path), train=train, base=self._base())
        except _errors.SpecError as e:
            raise _reraise(e) from None

    # ------------------------------------------------------------------ commands
    def _base(self) -> str | None:
        from .data import spec_folder
        return spec_folder(self.file)

    def train(self, epochs: int | None = None, batch_size: int | None = None, seed: int | None = None,
              data: str | None = None, validation_split: float | None = None, out: str | os.PathLike | None = None,
              resume: bool = False, device: str = "cpu", verbose: bool = False) -> History:
        """Train as `specc train` does (same weights for the same seed) and return the History.

        Unset arguments come from the spec's train block. `data` is a data set expression
        ('spiral(n=500)') or a .npz/.npy/.csv path. With `out` the run folder files are
        written there (model.safetensors, history.json, ...); without it nothing is written.
        `resume=True` continues from the run folder's checkpoint, as `specc train --resume`."""
        import math

        cfg = self.network.train
        if cfg is None:
            raise SpecError.from_message(f"spec '{self.name}' has no train block", hint="add one, e.g. "
                                         "train { loss = categorical_crossentropy  optimizer = Adam(lr=1e-3)  "
                                         "epochs = 10  data = digits }")
        for what, v in (("epochs", epochs), ("batch_size", batch_size)):
            if v is not None and (not isinstance(v, int) or v <= 0):
                raise ValueError(f"{what} must be a positive integer, got {v!r}")
        if validation_split is not None and not (isinstance(validation_split, (int, float))
                                                 and math.isfinite(validation_split) and 0 <= validation_split < 1):
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
        if resume and out is None:
            raise ValueError("resume=True needs the run folder: out=...")
        data_fn, split = cfg.data, cfg.validation_split
        if data is not None:
            from .catalog.datasets import parse_data
            try:
                data_fn = parse_data(data)
            except ValueError as e:
                raise SpecError.from_message(f"data {data!r}: {e}") from None
            split = data_fn.args.get("validation_split", 0.0) or split
        if validation_split is not None:
            split = validation_split
        if data_fn is None:
            raise SpecError.from_message(f"the train block of '{self.name}' names no data",
                                         hint="add e.g. `data = digits`, or pass data=...")
        from .backends.torch.train import Options, Trainer, TrainError
        from .data import DataError, fit_outputs
        from .data import load as load_data
        try:
            # the spec's own data files stay in its project; data= is the caller's own
            ds = load_data(data_fn, self._base(), root=self.root if data is None else None)
            xs, targets = fit_outputs(ds, self.network)
        except DataError as e:
            raise SpecError.from_message(str(e)) from None
        opts = Options(epochs=epochs or cfg.epochs, batch_size=batch_size or cfg.batch_size,
                       seed=cfg.seed if seed is None else seed, validation_split=split, shuffle=cfg.shuffle,
                       out=os.fspath(out) if out is not None else "", resume=resume, device=device,
                       quiet=not verbose, write_files=out is not None)
        try:
            trainer = Trainer(self.network, cfg, xs, [y for y, _ in targets], [c for _, c in targets], opts)
            trainer.fit()
        except TrainError as e:
            raise SpecError.from_message(str(e)) from None
        return History(trainer.history, trainer.module, opts.out or None, trainer.stop)

    def verify(self, weights=None, seed: int = 0, atol: float | None = None, rtol: float | None = None,
               opset: int | None = None, provider: str = "cpu") -> VerifyResult:
        """`specc verify`: the torch and ONNX lowerings on the same random inputs (batch sizes
        1 and 4); a VerifyResult (truthy when every output is within atol*scale + rtol*|torch|,
        scale being the output's largest |torch|, at least 1: specc.verification)."""
        import numpy as np

        from .backends.onnx.runtime import RuntimeSetupError, make_session
        from . import verification as cmd
        from .weights import seed_entropy
        atol = cmd.ATOL if atol is None else atol
        rtol = cmd.RTOL if rtol is None else rtol
        values = self._weights(weights, seed)
        proto = self.onnx(values, seed, opset)
        module = self.torch(seed, values).eval()
        try:
            sess = make_session(proto.SerializeToString(), provider=provider, spinning=False)
        except RuntimeSetupError as e:
            raise SpecError.from_message(str(e)) from None
        rng = np.random.default_rng(seed_entropy(seed))
        result = VerifyResult(atol=atol, rtol=rtol)
        for batch, name, a, b in cmd.engine_outputs(self.network, module, sess, rng):
            max_abs, max_rel, ok = cmd.compare(a, b, atol, rtol)
            result.rows.append({"batch": batch, "output": name, "max_abs": max_abs, "max_rel": max_rel,
                                "passed": ok})
        return result

    def predict(self, inputs, weights=None, seed: int = 0, batch_size: int = 256) -> dict:
        """`specc predict` on this spec's ONNX lowering (onnxruntime, no torch): `inputs` is
        one array (a single input) or a dict by input name; returns {output name: array}."""
        from .backends.onnx.predict import predict
        from .backends.onnx.runtime import InputError, Runner, RuntimeSetupError
        if not isinstance(inputs, Mapping):
            if len(self.inputs) != 1:
                raise ValueError(f"'{self.name}' has {len(self.inputs)} inputs ({', '.join(self.inputs)}); "
                                 "pass a dict of arrays by input name")
            inputs = {self.inputs[0]: inputs}
        try:
            runner = Runner(self.onnx(weights, seed).SerializeToString(), provider="cpu", spinning=False)
            outputs, _ = predict(runner, dict(inputs), batch_size)
        except (InputError, RuntimeSetupError) as e:
            raise SpecError.from_message(getattr(e, "message", None) or str(e)) from None
        return outputs

    def test(self, checks: Sequence[str] | None = None):
        """`specc test` on this spec's file: a specc.harness SpecResult (`.ok`, `.checks`)."""
        if self._base() is None:
            raise ValueError("test() needs a spec loaded from a file (specc.load), not from a string")
        from .harness.config import CHECK_NAMES
        from .harness.runner import run_spec
        unknown = [c for c in checks or () if c not in CHECK_NAMES]
        if unknown:
            raise ValueError(f"unknown check(s) {', '.join(unknown)}; checks are {', '.join(CHECK_NAMES)}")
        return run_spec(self.file, checks=list(checks) if checks is not None else None)
