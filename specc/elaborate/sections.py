"""The train / expect / test sections of a network: settings -> plain values and Fn."""
from __future__ import annotations

from typing import Any

from .. import parse as ast
from ..catalog import CATALOGS, UNAVAILABLE, Fn
from ..catalog.base import Range, at_least_one, coerce, fraction, seed_range
from ..counts import parse_bytes
from ..errors import SpecError, Span, did_you_mean
from .elaborator import Elaborator
from .scope import Env, PyCall

TRAIN_KEYS = {"loss", "loss_weights", "optimizer", "schedule", "batch_size", "epochs", "metrics", "data", "validation_split",
              "shuffle", "seed", "callbacks", "clipnorm", "clipvalue", "lr", "learning_rate", "precision"}
TRAIN_ALIASES = {"lr_schedule": "schedule", "learning_rate_schedule": "schedule", "dataset": "data",
                 "batch": "batch_size"}


# the help line of a bad scalar setting
TRAIN_HELP = {
    "batch_size": "the number of samples per optimizer step, a whole number >= 1, e.g. `batch_size = 32`",
    "epochs": "the number of passes over the training data, a whole number >= 1, e.g. `epochs = 10`",
    "shuffle": "`shuffle = true` (the default) or `shuffle = false`",
    "seed": "a whole number within 64 bits, e.g. `seed = 0`; the same seed gives the same run",
    "validation_split": "the fraction of the data held out for validation, in [0, 1), e.g. `validation_split = 0.1`",
}


def build_train(section: ast.Section, elab: Elaborator) -> dict | None:
    env = Env()
    raw: dict[str, tuple[Any, Span]] = {}
    for s in section.settings:
        key = TRAIN_ALIASES.get(s.key, s.key)
        if key not in TRAIN_KEYS:
            elab.report(SpecError("E211", f"unknown train setting '{s.key}'", s.span,
                                  hint=did_you_mean(s.key, [*TRAIN_KEYS, *TRAIN_ALIASES]) or
                                  f"train settings: {', '.join(sorted(TRAIN_KEYS))}"))
            continue
        if key in raw:
            elab.report(SpecError("E206", f"train setting '{key}' given twice", s.span,
                                  hint="keep one of the two settings", related=[(raw[key][1], "first given here")]))
            continue
        try:
            raw[key] = (elab.to_python(s.value, env), s.span)
        except SpecError as e:
            elab.report(e)
    out: dict[str, Any] = {"span": section.span, "spans": {k: span for k, (_, span) in raw.items()}}

    def fn(catalog: str, key: str, default: str | None):
        if key not in raw:
            return elab.resolve_fn(catalog, default, section.span) if default else None
        v, span = raw[key]
        return elab.call_or_report(elab.resolve_fn, catalog, v, span, f"train setting '{key}'")

    def written(catalog: str, key: str) -> list[tuple[Fn | None, Any, Span]]:
        """(Fn or None where it failed, the item as written, the setting's span) of a list setting."""
        if key not in raw:
            return []
        v, span = raw[key]
        items = v if isinstance(v, list) else [v]
        return [(elab.call_or_report(elab.resolve_fn, catalog, i, span, f"each of '{key}'"), i, span) for i in items]

    def scalar(key, tp, default, rule: Range | None = None):
        if key not in raw:
            return default
        v, span = raw[key]
        try:
            v = coerce(v, tp)
        except ValueError as err:
            problem = str(err)
        else:
            problem = rule(v, written=raw[key][0]) if rule else None
        if problem:
            elab.report(SpecError("E400", f"train setting '{key}' {problem}", span, hint=TRAIN_HELP[key]))
            return default
        return v

    out.update(_losses(raw, elab, section.span))
    optimizer = fn("optimizer", "optimizer", "Adam")
    if optimizer is not None:
        for key, arg in (("clipnorm", "clipnorm"), ("clipvalue", "clipvalue"), ("lr", "lr"), ("learning_rate", "lr")):
            if key in raw:
                v, span = raw[key]
                try:
                    optimizer = CATALOGS["optimizer"].resolve(optimizer.name, [], {**optimizer.args, arg: v}, span)
                except SpecError as e:
                    elab.report(e)
    out["optimizer"] = optimizer or CATALOGS["optimizer"].default("Adam")
    out["schedule"] = fn("schedule", "schedule", "constant") or CATALOGS["schedule"].default("constant")
    out["batch_size"] = scalar("batch_size", int, 32, at_least_one)
    out["epochs"] = scalar("epochs", int, 10, at_least_one)
    out["shuffle"] = scalar("shuffle", bool, True)
    out["seed"] = scalar("seed", int, 0, seed_range)
    metrics = written("metric", "metrics")
    out["metrics"] = [f for f, _, _ in metrics if f is not None]
    callbacks = written("callback", "callbacks")
    out["callbacks"] = [f for f, _, _ in callbacks if f is not None]
    reported = len(elab.diags)
    split = scalar("validation_split", float, None, fraction)
    split_known = len(elab.diags) == reported
    data = None
    if "data" in raw:
        v, span = raw["data"]
        name = v if isinstance(v, str) else (v.func if isinstance(v, PyCall) else None)
        if name is not None and name.lower() in UNAVAILABLE and name not in CATALOGS["data"]:
            elab.report(SpecError("E400", f"data set '{name}' needs a download, which specc never does", span,
                                  hint=f"use {UNAVAILABLE[name.lower()]}"))
        else:
            data = elab.call_or_report(elab.resolve_fn, "data", v, span, "train setting 'data'")
    if data is not None:
        inner_split = data.args.get("validation_split", 0.0)
        if split is None:
            split = inner_split
        elif inner_split:
            elab.report(SpecError("E400", "validation_split is given both in data(...) and in train", section.span,
                                  hint="keep one of the two"))
    out["data"] = data
    out["validation_split"] = split or 0.0
    out["precision"] = _precision(raw, elab)
    if data is not None:
        _confine_read_files(data, raw["data"][0], raw["data"][1], elab)
    for f, item, span in callbacks:
        if f is not None:
            _confine_written_files(f, item, span, elab)
    # (not after a metric, the data set or the split failed: the logged names are unknown)
    if all(f is not None for f, _, _ in metrics) and split_known and (data is not None or "data" not in raw):
        _check_monitors(callbacks, out["metrics"], out["validation_split"] > 0, elab)
    return out


def _check_monitors(callbacks: list, metrics: list[Fn], validation: bool, elab: Elaborator) -> None:
    """A callback's `monitor` must name a value the trainer logs (catalog.metrics.history_names,
    with `val_` on validation data): E403 for a name never logged, with a did-you-mean; W616 for
    a validation value when the spec holds out no validation data (`specc train
    --validation-split` can still add some; else the trainer watches the training value)."""
    from ..catalog.metrics import history_names
    names = history_names(elab.outputs, metrics)
    logged = [*names, *(f"val_{n}" for n in names), "lr"]
    for f, item, span in callbacks:
        if f is None or "monitor" not in f.args:
            continue
        monitor = f.args["monitor"]
        where = _arg_span(item, "callback", f, "monitor", span)
        if monitor not in logged:
            suggestion = did_you_mean(monitor, logged)
            elab.report(SpecError(
                "E403", f"{f.name} monitors '{monitor}', which training never logs", where,
                hint=(f"{suggestion} " if suggestion else "")
                + f"training logs {', '.join(names)}, and on validation data val_ of each",
                notes=[f"with several outputs, each output's loss and metrics are logged under its name too "
                       f"('{names[1]}')"] if len(elab.outputs) > 1 else []))
        elif monitor.startswith("val_") and not validation:
            elab.report(SpecError(
                "W616", f"{f.name} monitors '{monitor}', but the spec holds out no validation data: training "
                        f"will watch '{monitor[4:]}' instead", where,
                hint="hold out validation data (`validation_split = 0.2`, or data = NAME(validation_split=0.2)), "
                     f"or monitor '{monitor[4:]}'"))


def _arg_span(item: Any, catalog: str, fn: Fn, param: str, span: Span) -> Span:
    """Where argument `param` of a catalogue call is written: its value's place, else the
    call's (a name written alone, or a default), else the setting's."""
    if not isinstance(item, PyCall):
        return span
    entry = CATALOGS[catalog].get(fn.name)
    p = entry.param(param) if entry is not None else None
    if p is None:
        return item.span
    for i in range(len(item.args)):
        if i < len(entry.params) and entry.params[i].name == p.name:
            return item.arg_spans.get(i, item.span)
    for key in item.kwargs:
        if key == p.name or key in p.aliases:
            return item.arg_spans.get(key, item.span)
    return item.span


def _confine_read_files(data: Fn, item: Any, span: Span, elab: Elaborator) -> None:
    """E109 for a data file outside the project root (see SpecFiles.named_file)."""
    reads = CATALOGS["data"].get(data.name).info.get("reads")
    for param, given in (reads(data.args) if reads else []):
        where = _arg_span(item, "data", data, param, span)
        elab.call_or_report(elab.files.named_file, given, span.file, "data file", where)


def _confine_written_files(callback: Fn, item: Any, span: Span, elab: Elaborator) -> None:
    """E109 for a callback's output file that would leave the run folder: the trainer writes
    it relative to the run folder (runs/NAME or --out)."""
    from ..compile import output_path_problem
    for param in CATALOGS["callback"].get(callback.name).info.get("writes", ()):
        problem = output_path_problem(callback.args[param])
        if problem:
            elab.report(SpecError(
                "E109", f"{callback.name} {param} {problem}", _arg_span(item, "callback", callback, param, span),
                hint=f"{callback.name} writes into the run folder (runs/NAME, or --out DIR): give a file name "
                     f"relative to it, e.g. {param}=\"{CATALOGS['callback'].get(callback.name).param(param).default}\""))


def _precision(raw: dict, elab: Elaborator) -> str:
    """`precision = mixed_bfloat16`: one of the training policies (ir.TRAIN_PRECISIONS)."""
    from ..ir import TRAIN_PRECISIONS
    if "precision" not in raw:
        return "float32"
    v, span = raw["precision"]
    if isinstance(v, str) and v in TRAIN_PRECISIONS:
        return v
    hint = did_you_mean(v, TRAIN_PRECISIONS) if isinstance(v, str) else None
    elab.report(SpecError("E400", f"train setting 'precision' must be one of {', '.join(TRAIN_PRECISIONS)}, "
                          f"got {v!r}", span,
                          hint=hint or "mixed_bfloat16 for CPUs with bf16 units and recent GPUs; "
                                       "mixed_float16 for CUDA GPUs"))
    return "float32"


def _losses(raw: dict, elab: Elaborator, span: Span) -> dict:
    """loss / losses / loss_weights: one loss for every output, or a list in output order
    (Keras' `loss=[...]`, `loss_weights=[...]`); the total is the weighted sum."""
    outputs = elab.outputs
    if "loss" not in raw:
        elab.report(SpecError("E400", "the train block needs a loss", span,
                              hint="e.g. `loss = categorical_crossentropy` or `loss = mse`"))
        return {"loss": None, "losses": {}, "loss_weights": {}}
    v, lspan = raw["loss"]
    if isinstance(v, list):
        if len(v) != len(outputs):
            elab.report(SpecError(
                "E400", f"{len(v)} loss{'es' if len(v) != 1 else ''} for {len(outputs)} output(s) ({', '.join(outputs) or 'none'})", lspan,
                hint="give one loss per output, in the order the outputs are declared, or one loss for all"))
            return {"loss": None, "losses": {}, "loss_weights": {}}
        resolved = [elab.call_or_report(elab.resolve_fn, "loss", item, lspan, "each loss") for item in v]
    else:
        resolved = [elab.call_or_report(elab.resolve_fn, "loss", v, lspan, "train setting 'loss'")] * max(len(outputs), 1)
    losses = {o: f for o, f in zip(outputs, resolved) if f is not None}
    weights = dict.fromkeys(outputs, 1.0)
    if "loss_weights" in raw:
        w, wspan = raw["loss_weights"]
        items = w if isinstance(w, list) else [w]
        if len(items) != len(outputs):
            elab.report(SpecError("E400", f"{len(items)} loss weight(s) for {len(outputs)} output(s) "
                                  f"({', '.join(outputs) or 'none'})", wspan,
                                  hint="give one weight per output, in the order the outputs are declared"))
        elif not all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 for x in items):
            elab.report(SpecError("E400", f"loss weights must be numbers >= 0, got {w!r}", wspan,
                                  hint="e.g. `loss_weights = [1.0, 0.2]`"))
        else:
            weights = {o: float(x) for o, x in zip(outputs, items)}
    return {"loss": resolved[0] if resolved else None, "losses": losses, "loss_weights": weights}


def build_expect(section: ast.Section, elab: Elaborator) -> dict:
    out: dict[str, Any] = {"shapes": {}, "spans": {}}
    counts = {"params": "params", "total_params": "params", "trainable_params": "trainable_params",
              "trainable": "trainable_params", "non_trainable_params": "non_trainable_params",
              "non_trainable": "non_trainable_params"}
    for s in section.settings:
        try:  # (`out: [batch, 4*8]`: arithmetic on numbers is evaluated, E213 if it fails)
            v = ast.value_to_python(s.value) if not isinstance(s.value, ast.Call) else None
        except SpecError as e:
            elab.report(e)
            continue
        if s.key in ("macs", "max_memory"):
            problem = _cost_expectation(s.key, v)
            if problem:
                elab.report(SpecError("E502", f"cannot read expectation '{s.key}': {problem}", s.span,
                                      hint='write `macs: 4089184256`, `macs: "4.1G"`, `macs: "5760*seq + 8"` '
                                           'or `max_memory: "8GiB"` (docs/cost.md)'))
                continue
            out[s.key] = parse_bytes(v) if s.key == "max_memory" else v
        elif s.key in counts:
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                elab.report(SpecError("E502", f"expected parameter count '{s.key}' must be a whole number, got {v!r}",
                                      s.span))
                continue
            out[counts[s.key]] = v
        elif isinstance(v, list) and all(isinstance(d, (int, str)) and not isinstance(d, bool) for d in v):
            out["shapes"][s.key] = v
        else:
            elab.report(SpecError("E502", f"cannot read expectation '{s.key}'", s.span,
                                  hint="write `tensor: [batch, 10]`, `params: 1234`, `trainable_params: ...`"))
            continue
        out["spans"][counts.get(s.key, s.key)] = s.span
    return out


def _cost_expectation(key: str, v) -> str | None:
    """Why an expected `macs` or `max_memory` cannot be read, or None."""
    if key == "max_memory":
        try:
            parse_bytes(v)
        except ValueError as e:
            return str(e)
        return None
    if isinstance(v, bool) or not isinstance(v, (int, str)) or (isinstance(v, int) and v < 0):
        return f"expected a whole number of MACs, a rounded figure or a formula, got {v!r}"
    if isinstance(v, str):
        from ..passes.cost import read_expected_macs
        try:
            read_expected_macs(v)
        except ValueError as e:
            return str(e)
    return None


def build_test(section: ast.Section, elab: Elaborator) -> dict:
    out = {}
    for s in section.settings:
        try:
            v = elab.to_python(s.value, Env())
        except SpecError as e:
            elab.report(e)
            continue
        if s.key == "data" and isinstance(v, PyCall):  # its files stay in the project, as train's
            try:
                data = elab.resolve_fn("data", v, s.span)
            except SpecError:
                data = None  # a bad data set: `specc test` reports the test block itself
            if data is not None:
                _confine_read_files(data, v, s.span, elab)
        out[s.key] = _plain(v)
    return out


def _plain(v):
    if isinstance(v, PyCall):
        return {"call": v.func, "args": [_plain(a) for a in v.args], "kwargs": {k: _plain(x) for k, x in v.kwargs.items()}}
    if isinstance(v, list):
        return [_plain(i) for i in v]
    return v
