"""`specc build SPEC --emit torch -o model.py`: a standalone, readable PyTorch file, and
`--emit torch-train -o train.py`: a standalone training program (render_training).

The file imports torch only. It holds the helpers and the layer classes the spec uses
(copied from `specc.backends.torch.modules` and the families' torch.py, the same code
`build_module` runs) and `class Model(torch.nn.Module)`: constructible with no arguments, one attribute per layer
(named like the layer), `forward` taking the spec's inputs in declaration order and
returning its output (a tuple when there are several).

Weights: `Model().state_dict()` keys are exactly the specc weight keys
("<layer>.<weight>", as in model.safetensors and `specc.weights.init_weights`), except
for layers whose name clashes with a torch.nn.Module attribute (listed in
`Model.RENAMED`, layer name -> attribute). `Model()` draws its initial values with the
spec's Keras initializers using torch's RNG (`initialize`): the same distributions and fans
as `specc.weights.init_weights`, not the same numbers (and initializer `seed`s are
ignored). For identical numbers load them:
`model.load_state_dict(safetensors.torch.load_file("model.safetensors"))` (a run's weights)
or `{k: torch.from_numpy(v) for k, v in init_weights(net, seed).items()}`.
`Model.regularization_loss()` and `Model.apply_constraints()` carry the spec's regularizers
and constraints (the same functions as SpeccModule's: keras_penalties, constrain).

The training program copies specc's own code rather than restating it: `emit_sources`
writes the source of the functions and classes it is given (initializers of weights.py;
losses, metrics, optimizers, schedules and callbacks of the training/ package; specc.data's file
reader) with every specc function, class and constant they use; its loop is the template
train_program.py. Where specc changes, the program follows, and tests/test_emitted_train.py
(same weights as `specc train`) catches what the template would miss.
"""
from __future__ import annotations

import ast
import os
import sys
import functools
import keyword
import re

from ...ir import Network
from .. import registry
from . import modules as M
from .lower import attr_name, layer_ctors

_RESERVED = {"self", "torch", "F", "nn", "math", "Model"}


# The order in which an emitted file lists the layer classes: by family in this order, then
# by line in the family's torch.py (the order modules.py had, so emitted scripts stayed
# byte-identical when the classes moved into the families); a family not named here
# comes after these, alphabetically.
EMIT_ORDER = ("dense", "maxout", "convolution", "pooling", "reshaping", "regularization",
              "normalization", "activation", "identity", "embedding", "merge", "recurrent", "wrappers")

_COPIED_IMPORT = re.compile(r"^from \S+ import (\w+)  # noqa: [\w,]+ \(copied here.*$", re.M)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


@functools.lru_cache(maxsize=1)
def _runtime_source() -> tuple[str, dict[str, tuple[tuple, str]]]:
    """(helpers source, {class name: (sort key, source)}), parsed once. The helpers are
    modules.py's, up to the HELPERS END marker; a helper it imports from the spec side
    (`from ... import X  # noqa: ... (copied here...`) is written out in its place. The classes: every
    layer module class of the families' torch.py."""
    import importlib
    import inspect

    src = _read(M.__file__)
    helpers = src[src.index("def activate("):src.index("# ---- HELPERS END")].rstrip() + "\n"
    helpers = _COPIED_IMPORT.sub(lambda m: inspect.getsource(getattr(M, m.group(1))).rstrip(), helpers)
    rank = {f: i for i, f in enumerate(EMIT_ORDER)}
    classes: dict[str, tuple[tuple, str]] = {}
    for name in registry.family_modules("torch"):
        mod = importlib.import_module(name)
        text = _read(mod.__file__)
        family = name.split(".")[-2]
        for n in ast.parse(text).body:
            cls = getattr(mod, n.name, None) if isinstance(n, ast.ClassDef) else None
            if isinstance(cls, type) and issubclass(cls, M.Layer):
                classes[n.name] = ((rank.get(family, len(rank)), family, n.lineno), ast.get_source_segment(text, n))
    return helpers, classes


def _helpers_source() -> str:
    return _runtime_source()[0]


def _class_sources(names: set[str]) -> str:
    from .lower import module_classes
    found = module_classes()
    needed: set[str] = set()
    for n in names:
        for c in found[n].__mro__:
            if c is M.Layer or not issubclass(c, M.Layer):
                break
            needed.add(c.__name__)
    classes = _runtime_source()[1]
    ordered = sorted(needed, key=lambda n: classes[n][0])
    return "\n\n".join(classes[n][1].rstrip() + "\n" for n in ordered)


# Modules an emitted file imports at its top, by the name the copied code uses.
SCRIPT_IMPORTS = {"math": "import math", "np": "import numpy as np", "torch": "import torch",
                  "F": "import torch.nn.functional as F", "nn": "from torch import nn", "zlib": "import zlib",
                  "os": "import os", "json": "import json", "time": "import time", "csv": "import csv",
                  "dataclass": "from dataclasses import dataclass, field",
                  "field": "from dataclasses import dataclass, field"}


def _helper_names() -> set[str]:
    """Names the copied helpers of modules.py define (functions and the Layer base)."""
    tree = ast.parse(_helpers_source())
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def _global_names(source: str) -> list[str]:
    """Names a function or class reads (ast.Name loads; attribute names are not names)."""
    seen: dict[str, None] = {}
    tree = ast.parse(source)
    for node in ast.walk(tree):  # annotations are never evaluated (the file has `from __future__ import annotations`)
        if isinstance(node, ast.arg):
            node.annotation = None
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
        elif isinstance(node, ast.AnnAssign):
            node.annotation = ast.Constant(None)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            seen.setdefault(node.id, None)
    return list(seen)


def _literal(v) -> bool:
    try:
        return ast.literal_eval(repr(v)) == v
    except (ValueError, SyntaxError):
        return False


def emit_sources(objs, provided: set[str] = frozenset(), replace: dict[str, str] | None = None) -> str:
    """The source code of specc functions and classes `objs`, with every function, class and
    constant of specc they use (recursively), for a standalone emitted file: the emitted code
    IS specc's code (one source of truth; the parity tests catch any drift). `provided`:
    names the file defines otherwise; `replace`: name -> source to emit instead of the
    object's own (a catalogue lookup turned into a table)."""
    import builtins
    import inspect
    import textwrap
    import types

    import numpy
    replace = dict(replace or {})
    consts: dict[str, str] = {}
    emitted: dict[str, object] = {}
    out: list[str] = []

    def visit(obj) -> None:
        name = obj.__name__
        if name in emitted:
            if emitted[name] is not obj:
                raise ValueError(f"two different objects named '{name}' in one emitted file")
            return
        emitted[name] = obj
        src = textwrap.dedent(inspect.getsource(obj))
        scope = sys.modules[obj.__module__].__dict__
        bases = [b for b in getattr(obj, "__bases__", ()) if b.__module__.startswith("specc")]
        for b in bases:
            visit(b)
        for n in _global_names(src):
            if n in provided or n in SCRIPT_IMPORTS or n == name or n not in scope:
                continue
            if n in replace:
                if n not in emitted:
                    emitted[n] = None
                    out.append(replace[n].strip() + "\n")
                continue
            v = scope[n]
            if isinstance(v, (types.FunctionType, type)) and getattr(v, "__module__", "").startswith("specc"):
                visit(v)
            elif isinstance(v, types.ModuleType) or hasattr(builtins, n):
                if not hasattr(builtins, n):
                    raise ValueError(f"'{name}' uses module '{n}', which emitted files do not import")
            elif v is None or _literal(v):
                consts.setdefault(n, f"{n} = {v!r}")
            elif isinstance(v, type) and v.__module__ == "numpy" and getattr(numpy, v.__name__, None) is v:
                consts.setdefault(n, f"{n} = np.{v.__name__}")  # a dtype alias (weights.F32)
            else:
                raise ValueError(f"'{name}' uses '{n}' ({type(v).__name__}), which cannot be copied")
        out.append(src.rstrip() + "\n")

    for o in objs:
        visit(o)
    head = "\n".join(consts.values())
    return (head + "\n\n\n" if head else "") + "\n\n".join(out)


def _var_names(net: Network) -> dict[str, str]:
    out: dict[str, str] = {}
    taken = set(_RESERVED)
    for name in [*net.inputs, *net.tensors]:
        if name in out:
            continue
        v = name if name.isidentifier() and not keyword.iskeyword(name) else \
            "t_" + re.sub(r"\W", "_", name)
        while v in taken or keyword.iskeyword(v):
            v += "_"
        taken.add(v)
        out[name] = v
    return out


def _shape(info) -> str:
    return "[" + ", ".join(str(d) for d in info.shape) + "]"


def _init_lines(net: Network, attrs: dict[str, str]) -> list[str]:
    """Keras-style initial values drawn in torch (statements for Model.__init__)."""
    import numpy as np

    from ...weights import _default_fan, weight_specs
    lines = []
    for key, w in weight_specs(net).items():
        lname, wname = key.split(".", 1)
        target = f"self.{attrs[lname]}.{wname}"
        init = w.initializer
        if init is not None and init.name != "zeros":
            args = {k: v for k, v in init.args.items() if v is not None and k != "seed"}
            fans = w.fan or _default_fan(tuple(w.shape))
            lines.append(f"initialize({target}, {(init.name, args)!r}, {tuple(int(f) for f in fans)!r})")
        # the layer's last word on initial values (LSTM unit_forget_bias: one block set to a constant)
        probe = net.layers[lname].adjust_initial(wname, np.zeros(w.shape, np.float32))
        idx = np.flatnonzero(probe)
        if idx.size and len(w.shape) == 1 and idx[-1] - idx[0] + 1 == idx.size and np.all(probe[idx] == probe[idx[0]]):
            lines.append(f"{target}[{idx[0]}:{idx[-1] + 1}].fill_({float(probe[idx[0]])!r})")
    return lines


def _param_path(attrs: dict[str, str], key: str) -> str:
    """A specc key "<layer>.<weight>" as the Model's parameter path "<attribute>.<weight>"."""
    lname, wname = key.split(".", 1)
    return f"{attrs[lname]}.{wname}"


def _training_tables(net: Network, attrs: dict[str, str]) -> dict[str, list]:
    """REGULARIZERS, CONSTRAINTS and FROZEN of the emitted Model, in specc's key order (the
    order SpeccModule adds them up in, so the sums agree to the last bit)."""
    from ...weights import weight_specs
    from .lower import _BUFFERS, _unit_axis, fn_pair
    specs = weight_specs(net)
    trainable = {f"{l}.{w.name}": w.trainable for l, ws in net.weights.items() for w in ws}
    return {
        "REGULARIZERS": [(_param_path(attrs, k), fn_pair(w.regularizer)) for k, w in specs.items() if w.regularizer],
        "CONSTRAINTS": [(_param_path(attrs, k), fn_pair(w.constraint), _unit_axis(net, k))
                        for k, w in specs.items() if w.constraint],
        "FROZEN": [_param_path(attrs, k) for k, ok in trainable.items()
                   if not ok and k.rsplit(".", 1)[-1] not in _BUFFERS],
    }


def _model_source(net: Network, draw_initial: bool) -> tuple[str, dict[str, str], dict[str, str]]:
    """(source of the helpers, layer classes and `class Model`, layer -> attribute, tensor -> variable).

    draw_initial: Model() draws Keras-style initial values with torch's RNG (the model
    script); otherwise its weights start at zero and the caller loads them (the training
    program loads specc's own numpy initial weights, and must not touch torch's RNG)."""
    from .lower import constrain, keras_penalties
    from .training.adapt import adapt_plan
    ctors = layer_ctors(net)
    attrs: dict[str, str] = {}
    taken: set[str] = set()  # attrs.values(), kept as we go (rebuilding it per layer was quadratic)
    for lname in ctors:
        attrs[lname] = attr_name(lname, taken)
        taken.add(attrs[lname])
    renamed = {l: a for l, a in attrs.items() if l != a}
    var = _var_names(net)
    used = {c for ctor in ctors.values() for c in ctor.classes()}
    tables = _training_tables(net, attrs)
    activity = any(getattr(net.layers[l], "activity_regularizer", None) for l in ctors)
    adapt = adapt_plan(net)

    lines = [_helpers_source().rstrip(), "", "",
             emit_sources([keras_penalties, constrain], provided=_helper_names()).rstrip(), "", "",
             _class_sources(used).rstrip(), "", "",
             "class Model(nn.Module):",
             f'    """{net.name}: ' + ", ".join(net.inputs) + " -> " + ", ".join(net.outputs) + '"""',
             "",
             f"    RENAMED = {renamed!r}  # layer name -> attribute, where a name clashes with nn.Module",
             "    # Keras regularizers: (parameter, (kind, args)); regularization_loss() adds them up",
             f"    REGULARIZERS = {tables['REGULARIZERS']!r}",
             "    # Keras constraints: (parameter, (kind, args), axis of the output units); apply_constraints()",
             f"    CONSTRAINTS = {tables['CONSTRAINTS']!r}",
             f"    FROZEN = {tables['FROZEN']!r}  # parameters of layers with trainable=false",
             *([f"    ADAPT = {[(attrs[l], kept) for l, kept in adapt]!r}  # Normalization layers: "
                "(attribute, kept axes); the training program sets their statistics (Keras' adapt)"]
               if adapt else []),
             "",
             "    def __init__(self):",
             "        super().__init__()"]
    for lname, ctor in ctors.items():
        lines.append(f"        self.{attrs[lname]} = {ctor.source(8)}")
    for lname in ctors:  # weight tying: the module reads another layer's weights (one parameter)
        source = net.layers[lname].tied_to()
        if source is not None:
            lines.append(f"        self.{attrs[lname]}.tie(self.{attrs[source]})")
    lines += ["        for path in self.FROZEN:",
              "            self.get_parameter(path).requires_grad_(False)",
              "        # layers with an activity_regularizer record their outputs during forward",
              "        self.activity_layers = [m for m in self.modules()",
              "                                if isinstance(m, Layer) and m.activity_regularizer]"]
    inits = _init_lines(net, attrs) if draw_initial else []
    if inits:
        lines.append("        # Keras initializers drawn with torch's RNG (specc itself uses specc.weights.init_weights)")
        lines.append("        with torch.no_grad():")
        lines += [f"            {x}" for x in inits]
    lines += ["", f"    def forward(self, {', '.join(var[i] for i in net.inputs)}):"]
    if activity:
        lines += ["        for m in self.activity_layers:  # this pass's outputs only",
                  "            m.activity_outputs = []"]
    for node in net.nodes:
        args = ", ".join(var[i] for i in node.inputs)
        targets = ", ".join(var[o] for o in node.outputs)  # several: a layer's states (return_state)
        lines.append(f"        {targets} = self.{attrs[node.layer]}({args})")
    outs = [var[o] for o in net.outputs]
    lines.append(f"        return {outs[0]}" if len(outs) == 1 else f"        return {', '.join(outs)}")
    lines += ["",
              "    def regularization_loss(self):",
              '        """The Keras penalties of the weights and of the last forward pass\'s activities.',
              "        Add it to the loss before backward: an L2 regularizer is a term of the loss (Keras),",
              '        not the optimizer\'s weight decay."""',
              "        weights = [(self.get_parameter(path), reg) for path, reg in self.REGULARIZERS]",
              "        total = keras_penalties(weights, self.activity_layers)",
              "        return torch.zeros(()) if total is None else total",
              "",
              "    @torch.no_grad()",
              "    def apply_constraints(self):",
              '        """Project the constrained weights (Keras constraints): call it after each optimizer step."""',
              "        for path, c, axis in self.CONSTRAINTS:",
              "            p = self.get_parameter(path)",
              "            p.copy_(constrain(p, c, axis))"]
    return "\n".join(lines), attrs, var


def render(net: Network) -> str:
    model, _, _ = _model_source(net, draw_initial=True)
    lines = [f'"""{net.name}: a PyTorch module generated by specc {net.specc_version} from {net.file}.',
             "",
             "Standalone (imports torch only). Model() takes no arguments; forward takes the inputs",
             "in the spec's order and returns " + ("its output." if len(net.outputs) == 1 else
                                                  "a tuple of its outputs in the spec's order."),
             "Inputs:  " + ", ".join(f"{i} {_shape(net.tensors[i])} {net.tensors[i].dtype}" for i in net.inputs),
             "Outputs: " + ", ".join(f"{o} {_shape(net.tensors[o])}" for o in net.outputs),
             "",
             "state_dict keys are the specc weight keys '<layer>.<weight>' (PyTorch layout), so the",
             "weights of a specc run load directly:",
             "    model.load_state_dict(safetensors.torch.load_file('runs/<spec>/model.safetensors'))",
             "Model() draws Keras-style initial values with torch's RNG (same distributions as",
             "specc.weights.init_weights, not the same numbers; initializer seeds are not used).",
             "Channels-first tensors; 'same' padding as in Keras (extra padding at the end).",
             "Training it yourself: loss = task_loss + model.regularization_loss(), and",
             "model.apply_constraints() after each optimizer step (the spec's regularizers and",
             "constraints); `specc build --emit torch-train` writes a whole training program.",
             '"""',
             "import math",
             "",
             "import torch",
             "import torch.nn.functional as F",
             "from torch import nn",
             "",
             "",
             model,
             "",
             "",
             'if __name__ == "__main__":',
             "    model = Model().eval()",
             "    example = ("]
    for i in net.inputs:
        info = net.tensors[i]
        dims = ", ".join(str(2 if d == "batch" else (d if isinstance(d, int) else 7)) for d in info.shape)
        if info.dtype.startswith("int"):
            lines.append(f"        torch.zeros(({dims},), dtype=torch.{info.dtype}),")
        else:
            lines.append(f"        torch.randn(({dims},)),")
    lines += ["    )",
              "    with torch.no_grad():",
              "        out = model(*example)",
              "    for o in (out if isinstance(out, tuple) else (out,)):",
              "        print(tuple(o.shape))",
              ""]
    return "\n".join(lines)


def emit(net: Network, args) -> int:
    """Entry point of `specc build --emit torch -o FILE`."""
    from ...output import eprint, write_atomic
    if not args.output:
        eprint("error: the output file name is empty (-o ''); give a file name")
        return 2
    try:
        text = render(net)
    except Exception as e:  # a spec feature the emitter cannot express
        eprint(f"error: cannot emit a PyTorch script for '{net.name}': {e}")
        return 1
    try:
        write_atomic(args.output, text)
    except OSError as e:
        eprint(f"error: cannot write '{args.output}': {e}")
        return 2
    n_layers = len({n.layer for n in net.nodes})
    print(f"wrote {args.output}: PyTorch module `Model` for '{net.name}' ({n_layers} layers, "
          f"{net.params.total} weights; load model.safetensors with load_state_dict)")
    return 0


# ------------------------------------------------------------------ the training program

def data_file_for(script_path: str) -> str:
    """The data file written beside a training program: train.py -> train_data.npz."""
    root, _ = os.path.splitext(script_path)
    return root + "_data.npz"


def training_data(net: Network, base: str | None) -> tuple[bytes | None, list]:
    """(.npz bytes holding the spec's training data as `specc train` feeds it: inputs x0..,
    one target array per output y0.., or None for file data, which the program reads itself;
    the class count of each output, None for a regression). Raises SpecError when the spec
    has no train block or its data cannot be loaded."""
    import io

    import numpy as np

    from ...data import DataError, fit_outputs, load
    from ...errors import SpecError
    cfg = net.train
    if cfg is None or cfg.data is None:
        raise SpecError("E100", f"spec '{net.name}' has no train block with data; a training program needs both",
                        hint="add e.g. train { loss = categorical_crossentropy  optimizer = Adam(lr=1e-3)  "
                             "data = digits }")
    try:
        xs, targets = fit_outputs(load(cfg.data, base), net)
    except DataError as e:
        raise SpecError("E100", str(e)) from None
    classes = [c for _, c in targets]
    if cfg.data.name == "file":
        return None, classes
    buf = io.BytesIO()
    np.savez(buf, **{f"x{i}": x for i, x in enumerate(xs)}, **{f"y{i}": y for i, (y, _) in enumerate(targets)})
    return buf.getvalue(), classes


def _initial_weight_tables(net: Network) -> tuple[list, list]:
    """WEIGHTS (key, shape, initializer, fans, own seed) and SET_AFTER (key, start, stop,
    value): what specc.weights.init_weights draws, and the constants a layer sets afterwards
    (adjust_initial: LSTM's unit_forget_bias); SpecError for an adjustment of another form."""
    import numpy as np

    from ...errors import SpecError
    from ...weights import _default_fan, weight_specs
    table, after = [], []
    for key, w in weight_specs(net).items():
        init = w.initializer
        name, args = (init.name, dict(init.args)) if init is not None else ("zeros", {})
        own = args.pop("seed", None)
        fans = tuple(int(f) for f in (w.fan or _default_fan(tuple(w.shape))))
        table.append((key, tuple(w.shape), (name, args), fans, own))
        lname, wname = key.split(".", 1)
        probe = np.random.default_rng(0).standard_normal(w.shape).astype(np.float32)
        adjusted = net.layers[lname].adjust_initial(wname, probe.copy())
        changed = np.flatnonzero(adjusted.reshape(-1) != probe.reshape(-1))
        if changed.size:
            lo, hi = int(changed[0]), int(changed[-1]) + 1
            block = adjusted.reshape(-1)[lo:hi]
            if len(w.shape) != 1 or hi - lo != changed.size or not np.all(block == block[0]):
                raise SpecError("E100", f"the training program cannot express the initial-value rule of '{key}'")
            after.append((key, lo, hi, float(block[0])))
    return table, after


def _pformat(v) -> str:
    import pprint
    return pprint.pformat(v, width=100, sort_dicts=False)


def _runtime_of_training(adapt: bool = False) -> str:
    """train_program.py from its RUNTIME marker on, each `    name = Trainer.name` line
    replaced by the source of that Trainer method (one source of truth for the step's sums);
    its ADAPT block (Keras' adapt) kept only when `adapt`, without its marker lines."""
    import inspect
    import textwrap

    from . import train_program
    from .train import Trainer
    with open(train_program.__file__, encoding="utf-8") as f:
        src = f.read()
    marker = "# ---- RUNTIME: copied into the generated file from here on ----\n"
    src = src[src.index(marker) + len(marker):]

    def method(m: re.Match) -> str:
        if m.group(1) != m.group(2):
            raise ValueError(f"train_program.py: '{m.group(0).strip()}' must keep the method's name")
        return textwrap.indent(textwrap.dedent(inspect.getsource(getattr(Trainer, m.group(2)))), "    ").rstrip()
    block = re.compile(r"^ *# ---- ADAPT:.*\n((?:.*\n)*?) *# ---- ADAPT END\n", flags=re.M)
    src = block.sub((lambda m: m.group(1)) if adapt else "", src)
    return re.sub(r"^    (\w+) = Trainer\.(\w+)$", method, src, flags=re.M)


def render_training(net: Network, data_file: str | None, classes: list, script_name: str = "train.py",
                    spec_folder: str | None = None) -> str:
    """The source of the standalone training program (see train_program.py)."""
    from ... import data as D
    from ...catalog.losses import loss_task
    from ...ir import TRAIN_PRECISIONS
    from ...weights import draw, seed_entropy
    from .training import TrainError
    from .training.adapt import adapt_plan, adapt_statistics
    from .training.callbacks import CALLBACK_CLASSES
    from .training.device import _float32, autocast_dtype, keep_freed_memory
    from .training.losses import make_loss
    from .training.metrics import metric_plan, metric_sum
    from .training.optimizers import make_optimizer
    from .training.outputs import _fmt, _keys
    from .training.schedules import schedule_factor
    from .training.targets import prepare_targets
    cfg = net.train
    # the program writes weights and history only: no TensorBoard logs (docs/training.md)
    program_callbacks = [c for c in cfg.callbacks if c.name != "TensorBoard"]
    model, attrs, _ = _model_source(net, draw_initial=False)
    weights, after = _initial_weight_tables(net)
    fn = lambda f: (f.name, dict(f.args))  # noqa: E731
    outputs = [{"name": o, "loss": fn(cfg.loss_for(o)), "weight": cfg.weight_for(o), "classes": c,
                "shape": list(net.tensors[o].shape)} for o, c in zip(net.outputs, classes)]
    file_data = cfg.data.name == "file"
    a = cfg.data.args
    data = {"npz": None if file_data else data_file, "file": a["path"] if file_data else None,
            "target": a.get("target"), "features": a.get("features"), "layout": a.get("layout", "channels_first"),
            "autoencode": bool(a.get("autoencode", False)),
            "spec_folder": spec_folder if file_data else None}
    inputs = [{"name": i, "shape": list(net.tensors[i].shape), "dtype": net.tensors[i].dtype} for i in net.inputs]
    config = {"inputs": inputs, "outputs": outputs, "metrics": [fn(m) for m in cfg.metrics],
              "optimizer": fn(cfg.optimizer), "schedule": fn(cfg.schedule),
              "callbacks": [fn(c) for c in program_callbacks], "epochs": cfg.epochs, "batch_size": cfg.batch_size,
              "seed": cfg.seed, "validation_split": cfg.validation_split, "shuffle": cfg.shuffle,
              "precision": cfg.precision, "data": data}
    tasks = {o["loss"][0]: loss_task(cfg.loss_for(o["name"])) for o in outputs}
    callbacks = list(dict.fromkeys(c.name for c in program_callbacks))
    loss_task_src = (f"LOSS_TASKS = {tasks!r}  # specc's loss catalogue, for this spec's losses\n\n\n"
                     "def loss_task(loss):\n"
                     '    """The task a loss trains: binary, binary_pm1, categorical or regression."""\n'
                     '    return "none" if loss is None else LOSS_TASKS[loss.name]\n')
    provided = _helper_names() | {"Fn"}
    adapt = adapt_plan(net)
    training_code = emit_sources([TrainError, prepare_targets, make_loss, metric_plan, metric_sum, make_optimizer,
                                  schedule_factor, *[CALLBACK_CLASSES[c] for c in callbacks],
                                  keep_freed_memory, autocast_dtype, _float32, _fmt, _keys, D.DataError,
                                  *([D._load_file, D.fit_outputs] if file_data else []),
                                  *([adapt_statistics] if adapt else [])],
                                 provided=provided, replace={"loss_task": loss_task_src})
    lines = [f'"""{net.name}: a standalone PyTorch training program generated by specc {net.specc_version} '
             f"from {net.file}.",
             "",
             f"    python {script_name} [--epochs N] [--batch-size N] [--seed N] [--out FOLDER] [--precision P]",
             "",
             "trains the spec's network as `specc train` does (same seed -> the same weights) and",
             "writes model.safetensors (keys '<layer>.<weight>') and history.json into the run folder.",
             (f"The data is read from {a['path']} as specc reads it (relative paths: from the current folder,"
              " else the spec's folder)." if file_data else
              f"The data ({net.train.data.name}) is read from {data_file} beside this file, as specc feeds it."),
             "Imports torch, numpy and safetensors only. Sections, in order: the model; initial",
             "weights (specc's numpy Keras initializers); losses, metrics, optimizer, schedule and",
             "callbacks (specc's own code); the configuration from the spec's train block; the loop.",
             '"""',
             "from __future__ import annotations",
             "",
             "import argparse",
             "import contextlib",
             *(["import csv"] if file_data else []),
             "import json",
             "import math",
             "import os",
             "import time",
             "import zlib",
             *(["from dataclasses import dataclass, field"] if file_data else []),
             "",
             "import numpy as np",
             "import torch",
             "import torch.nn.functional as F",
             "from torch import nn",
             "",
             f"SPEC_NAME = {net.name!r}",
             f"SPECC_VERSION = {net.specc_version!r}",
             "",
             "",
             "# " + "=" * 30 + " the model",
             model,
             "",
             "",
             "# " + "=" * 30 + " initial weights: Keras initializers drawn in numpy (specc.weights)",
             emit_sources([seed_entropy, draw], provided=provided).rstrip(),
             "",
             "",
             "# (key, shape, (initializer, arguments), (fan_in, fan_out), the initializer's own seed or None)",
             f"WEIGHTS = {_pformat(weights)}",
             "# constants a layer sets after drawing: (key, start, stop, value) (LSTM unit_forget_bias)",
             f"SET_AFTER = {_pformat(after)}",
             "",
             "",
             "def initial_weights(seed):",
             '    """Every weight from its own numpy generator, seeded by (seed, CRC-32 of its key): the',
             '    values do not depend on the order of the layers (specc.weights.init_weights)."""',
             "    values = {}",
             "    for key, shape, init, fans, own_seed in WEIGHTS:",
             "        rng = np.random.default_rng([seed_entropy(seed if own_seed is None else own_seed),",
             "                                     zlib.crc32(key.encode())])",
             "        values[key] = draw(Fn(*init), shape, fans, rng)",
             "    for key, start, stop, value in SET_AFTER:",
             "        values[key][start:stop] = value",
             "    return values",
             "",
             "",
             "# " + "=" * 30 + " losses, metrics, optimizer, schedule, callbacks (specc's training code)",
             training_code.rstrip(),
             "",
             "",
             f"CALLBACK_CLASSES = {{{', '.join(f'{c!r}: {c}' for c in callbacks)}}}",
             "",
             "# " + "=" * 30 + " the spec's train block",
             f"CONFIG = {_pformat(config)}",
             f"TRAIN_PRECISIONS = {TRAIN_PRECISIONS!r}  # specc's training precision policies",
             "",
             "",
             "# " + "=" * 30 + " the training run (specc.backends.torch.train.Trainer on one process)",
             _runtime_of_training(adapt=bool(adapt)).rstrip(),
             "",
             "",
             'if __name__ == "__main__":',
             "    raise SystemExit(main())",
             ""]
    return "\n".join(lines)


def emit_training(net: Network, args) -> int:
    """Entry point of `specc build --emit torch-train -o FILE` (FILE and FILE's _data.npz)."""
    from ...output import eprint
    from ...errors import SpecError
    if not args.output:
        eprint("error: the output file name is empty (-o ''); give a file name")
        return 2
    from ...data import spec_folder
    try:
        written = write(net, args.output, train=True, base=spec_folder(net.file))
    except SpecError as e:
        eprint(f"error: cannot emit a training program for '{net.name}': {e}"
               + (f" ({e.diagnostic.hint})" if e.diagnostic.hint else ""))
        return 1
    except OSError as e:
        eprint(f"error: cannot write '{getattr(e, 'filename', None) or args.output}': {e.strerror or e}")
        return 2
    print(f"wrote {written[0]}: a PyTorch training program for '{net.name}' (run: python {written[0]} --epochs N "
          f"--out FOLDER)" + (f", and its data {written[1]}" if len(written) > 1 else
                              f"; it reads the spec's data file {net.train.data.args['path']}"))
    return 0


def write(net: Network, path: str, train: bool = False, base: str | None = None) -> list[str]:
    """Write the model script (train=False) or the training program and its data file
    (train=True) atomically; returns the paths written. OutputError if a file cannot be written."""
    from ...output import write_atomic
    if not train:
        write_atomic(path, render(net))
        return [path]
    data_path = data_file_for(path)
    data, classes = training_data(net, base)
    text = render_training(net, os.path.basename(data_path), classes, os.path.basename(path), base)
    if data is None:  # file data: the program reads the spec's file itself
        write_atomic(path, text)
        return [path]
    existed = os.path.exists(data_path)
    write_atomic(data_path, data)
    try:
        write_atomic(path, text)
    except BaseException:  # no data file without its program
        if not existed:
            os.remove(data_path)
        raise
    return [path, data_path]
