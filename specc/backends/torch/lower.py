"""IR -> torch.nn.Module.

`LOWERINGS` maps every layer kind to a builder `(layer, ins: list[TensorType], out: TensorType) -> Ctor`,
registered with @torch_lowering in the kind's family (`specc/layers/<family>/torch.py`,
beside the module classes); a `Ctor` names one of those module classes with plain-value
arguments, so the same description builds a module here (`Ctor.build()`) and is written
as source code by the script emitter (`Ctor.source()`).

`SpeccModule` evaluates the DAG (`net.nodes`, already topological) with one module per
layer (shared layers: one module, several nodes). Its weights are exactly the spec's
("<layer>.<weight>", PyTorch layout, BatchNormalization running stats included) and
start from `specc.weights.init_weights(net, seed)`, as in the ONNX backend.

Regularization (Keras): weight penalties l1*sum|w| + l2*sum(w^2) over every regularized
weight; activity penalties on a layer's output (after its activation), one per call of
the layer during the LAST forward pass, each divided by that output's batch size (the
tf.keras 2 rule "make activity regularization strength batch-agnostic"; Keras 3 does not
divide). Constraints (Keras, epsilon 1e-7) use norms per output unit over all of its
incoming weights: dims 1.. of a torch-layout weight (dims 0, 2, 3 for Conv2DTranspose,
whose output units are dim 1), the whole vector for 1-D weights.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...catalog import Fn
from ...errors import SpecError
from ...ir import Network
from ...layers import TensorType
from .. import registry
from . import modules as M
from .modules import penalty

_EPS = 1e-7  # Keras backend epsilon (constraints)


@dataclass
class Ctor:
    """A module of `modules` to construct: class name + literal keyword arguments
    (values may be nested Ctors)."""
    cls: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self) -> nn.Module:
        kw = {k: (v.build() if isinstance(v, Ctor) else v) for k, v in self.kwargs.items()}
        return module_classes()[self.cls](**kw)

    def classes(self) -> list[str]:
        out = [self.cls]
        for v in self.kwargs.values():
            if isinstance(v, Ctor):
                out += v.classes()
        return out

    def source(self, indent: int = 0) -> str:
        parts = []
        for k, v in self.kwargs.items():
            parts.append(f"{k}={v.source(indent + 4) if isinstance(v, Ctor) else _lit(v)}")
        one = f"{self.cls}({', '.join(parts)})"
        if len(one) + indent <= 100:
            return one
        pad = " " * (indent + 4)
        return f"{self.cls}(\n" + ",\n".join(pad + p for p in parts) + ",\n" + " " * indent + ")"


def _lit(v: Any) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return f"float('{v}')"
    return repr(v)


# ------------------------------------------------------------------------ helpers

# non-trainable weights kept as buffers (no gradient): BatchNormalization's moving statistics,
# Normalization's adapted ones
_BUFFERS = {"running_mean", "running_var", "mean", "variance"}


def fn_pair(f: Fn | None):
    """A catalogue reference as the (name, args) pair the modules take."""
    return None if f is None else (f.name, dict(f.args))


def base_kwargs(layer, ins: list[TensorType], out: TensorType, activation: bool = True) -> dict[str, Any]:
    """Common constructor arguments: weights (names, shapes), activation, activity reg."""
    ws = layer.weights(ins, out)
    kw: dict[str, Any] = {}
    params = [(w.name, tuple(w.shape)) for w in ws if w.name not in _BUFFERS]
    bufs = [(w.name, tuple(w.shape)) for w in ws if w.name in _BUFFERS]
    if params:
        kw["weights"] = params
    if bufs:
        kw["buffers"] = bufs
    act = getattr(layer, "activation", None)
    if activation and isinstance(act, Fn) and act.name != "linear":
        kw["activation"] = fn_pair(act)
        if act.name == "prelu":
            kw["alpha_shape"] = tuple(out.shape[1:])
    reg = getattr(layer, "activity_regularizer", None)
    if reg is not None:
        kw["activity_regularizer"] = fn_pair(reg)
    return kw


def simple(cls: str | None = None, **extra: Callable):
    """Builder for a kind whose extra arguments are functions of the layer."""
    def build(layer, ins, out):
        kw = {k: f(layer) for k, f in extra.items()}
        kw.update(base_kwargs(layer, ins, out))
        return Ctor(cls or layer.kind, kw)
    return build


# kind -> builder: every family's torch.py registers its kinds here (loaded at the end of this module)
LOWERINGS: dict[str, Callable[[Any, list[TensorType], TensorType], Ctor]] = registry.TORCH_LOWERINGS


def module_classes() -> dict[str, type[nn.Module]]:
    """Class name -> every layer module class (of the families' torch.py)."""
    return _module_classes(tuple(registry.family_modules("torch")))


@functools.lru_cache(maxsize=1)
def _module_classes(names: tuple[str, ...]) -> dict[str, type[nn.Module]]:
    import importlib
    import inspect
    out = {}
    for mod in [importlib.import_module(n) for n in names]:
        for name, cls in vars(mod).items():
            if inspect.isclass(cls) and issubclass(cls, M.Layer) and cls.__module__ == mod.__name__:
                out[name] = cls
    return out


def _types(net: Network, names: list[str]) -> list[TensorType]:
    return [TensorType(tuple(net.tensors[n].shape), net.tensors[n].dtype) for n in names]


def layer_ctors(net: Network) -> dict[str, Ctor]:
    """One Ctor per layer, in the order of the layers' first application."""
    out: dict[str, Ctor] = {}
    for node in net.nodes:
        if node.layer in out:
            continue
        layer = net.layers[node.layer]
        build = LOWERINGS.get(layer.kind)
        if build is None:
            raise SpecError("E100", f"layer kind '{layer.kind}' has no PyTorch lowering")
        out[node.layer] = build(layer, _types(net, node.inputs), _types(net, node.outputs)[0])
    return out


def _unit_axis(net: Network, key: str) -> int:
    """The axis of a weight that indexes output units (Layer.unit_axis; Conv2DTranspose: 1)."""
    lname, wname = key.split(".", 1)
    layer = net.layers[lname]
    while wname.startswith("layer.") and hasattr(layer, "layer"):
        layer, wname = layer.layer, wname[len("layer."):]
    return layer.unit_axis(wname)


def constrain(w: torch.Tensor, c: tuple[str, dict], unit_axis: int = 0) -> torch.Tensor:
    """Keras constraint on a torch-layout weight (returns the new value)."""
    name, a = c
    if name == "non_neg":
        return w * (w >= 0).to(w.dtype)
    dims = tuple(d for d in range(w.dim()) if d != unit_axis) if w.dim() > 1 else (0,)
    norms = w.square().sum(dim=dims, keepdim=True).sqrt()
    if name == "max_norm":
        desired = norms.clamp(0, a.get("max_value", 2.0))
    elif name == "unit_norm":
        return w / (_EPS + norms)
    elif name == "min_max_norm":
        rate = a.get("rate", 1.0)
        desired = rate * norms.clamp(a.get("min_value", 0.0), a.get("max_value", 1.0)) + (1 - rate) * norms
    else:
        raise ValueError(f"unknown constraint '{name}'")
    return w * (desired / (_EPS + norms))


def keras_penalties(weights, activity_layers):
    """Sum of the Keras penalties (None when there are none): `weights` are (tensor,
    regularizer) pairs; each layer of `activity_layers` adds its regularizer on every output
    it recorded in the last forward pass, divided by that output's batch size."""
    total = None
    for w, reg in weights:
        p = penalty(w, reg)
        total = p if total is None else total + p
    for m in activity_layers:
        for y in m.activity_outputs or ():
            p = penalty(y, m.activity_regularizer) / y.shape[0]
            total = p if total is None else total + p
    return total


_MODULE_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks")


def _pool_before_relu(net: Network, plan: list, mods) -> tuple[list, list[str]]:
    """(plan with merged steps, attributes of the merged modules).

    A node whose activation is relu and whose output only feeds a max pool is merged
    with the pool into relu(pool(z)): max(relu(z)) == relu(max(z)) exactly (relu is
    monotone; gradients route to the same cells, ties included), and the relu and its
    backward run on the pooled tensor (4x smaller for a 2x2 pool)."""
    from ...layers.pooling.torch import _PoolND
    uses: dict[str, int] = {}
    for name in [i for n in net.nodes for i in n.inputs] + list(net.outputs):
        uses[name] = uses.get(name, 0) + 1
    producer = {out: k for k, (_, _, out, _) in enumerate(plan)}
    fast, drop, merged = list(plan), set(), []
    for k, (attr, ins, out, _) in enumerate(plan):
        pool = mods[attr]
        if not (isinstance(pool, _PoolND) and pool.op == "max" and pool.activation[0] == "linear"
                and pool.activity_regularizer is None and len(ins) == 1 and uses.get(ins[0]) == 1):
            continue
        j = producer.get(ins[0])
        if j is None:
            continue
        src, src_ins = plan[j][0], plan[j][1]
        m = mods[src]
        if isinstance(m, M.Layer) and m.activation[0] == "relu" and m.activity_regularizer is None:
            fast[k] = (src, src_ins, out, attr)
            drop.add(j)
            merged += [src, attr]
    return [s for k, s in enumerate(fast) if k not in drop], merged


class _Layers(nn.Module):
    """Container of the layer modules (attribute names: layer names, suffixed with '_'
    where a name would clash with nn.Module's own attributes)."""


def attr_name(name: str, taken=()) -> str:
    import keyword
    out = name
    while (not out.isidentifier() or keyword.iskeyword(out) or hasattr(nn.Module, out)
           or out.startswith("_") or out in taken):
        out = out + "_" if out.isidentifier() else "l_" + "".join(ch if ch.isalnum() else "_" for ch in out)
    return out


class SpeccModule(nn.Module):
    """The network of a spec as a torch module (see the module docstring)."""

    def __init__(self, net: Network, weights: dict | None = None, seed: int = 0):
        super().__init__()
        from ...weights import check_memory, draw_weights, weight_specs
        self.net_name = net.name
        self.input_names = list(net.inputs)
        self.output_names = list(net.outputs)
        self.layers = _Layers()
        self._attr: dict[str, str] = {}
        self.ctors = layer_ctors(net)
        taken: set[str] = set()  # self._attr's values, kept as we go (a fresh set per layer is quadratic)
        for lname, ctor in self.ctors.items():
            a = attr_name(lname, taken)
            taken.add(a)
            self._attr[lname] = a
            self.layers.add_module(a, ctor.build())
        for lname, a in self._attr.items():  # weight tying: the module reads another layer's weights
            source = net.layers[lname].tied_to()
            if source is not None:
                self.layers._modules[a].tie(self.layers._modules[self._attr[source]])
        # (module, inputs, output, pool); a node with several outputs (return_state) has a
        # tuple of names, its module returns a tuple of tensors
        self._plan = [(self._attr[n.layer], list(n.inputs), n.outputs[0] if len(n.outputs) == 1 else tuple(n.outputs),
                       None) for n in net.nodes]
        self._fast_plan, self._merged = _pool_before_relu(net, self._plan, self.layers._modules)
        self._single = len(net.outputs) == 1

        self._keys: dict[str, torch.Tensor] = {}
        for lname, a in self._attr.items():
            sd = self.layers.get_submodule(a).state_dict(keep_vars=True)
            want = [w.name for w in net.weights.get(lname, [])]
            if sorted(sd) != sorted(want):  # a lowering bug, not a user error
                raise RuntimeError(f"lowering of '{lname}' holds {sorted(sd)}, spec lists {sorted(want)}")
            for w in net.weights.get(lname, []):
                self._keys[f"{lname}.{w.name}"] = sd[w.name]
        self._shapes = {f"{l}.{w.name}": tuple(w.shape) for l, ws in net.weights.items() for w in ws}
        trainable = {f"{l}.{w.name}": w.trainable for l, ws in net.weights.items() for w in ws}
        for k, t in self._keys.items():
            if isinstance(t, nn.Parameter):
                t.requires_grad_(trainable[k])

        specs = weight_specs(net)
        self._regs = [(k, fn_pair(s.regularizer)) for k, s in specs.items() if s.regularizer is not None]
        self._cons = [(k, fn_pair(s.constraint), _unit_axis(net, k)) for k, s in specs.items() if s.constraint is not None]
        self._param_cache: dict[str, torch.Tensor] = {}
        self._activity = [m for m in self.modules() if isinstance(m, M.Layer) and m.activity_regularizer]
        if weights is None:  # drawn one at a time and copied in: the module's tensors hold the only full copy
            check_memory(net)
            with torch.no_grad():
                for k, v in draw_weights(net, seed):
                    self._copy_in(k, v)
        else:
            self.load_weight_dict(weights)
        # state_dict keys are the specc keys ("<layer>.<weight>", as in model.safetensors), not
        # the container's "layers.<attribute>.<weight>"; load_state_dict takes both forms
        # (checkpoints written before this hold the container's keys).
        self.register_state_dict_post_hook(_state_dict_to_spec_keys)
        self.register_load_state_dict_pre_hook(_state_dict_from_spec_keys)

    # ------------------------------------------------------------------ running
    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise TypeError(f"{self.net_name} takes {len(self.input_names)} input(s) "
                            f"({', '.join(self.input_names)}), got {len(inputs)}")
        for m in self._activity:
            m.activity_outputs = []
        # Keras autocasts float inputs to the layers' float32 (the ONNX lowering does the same).
        inputs = [x.float() if x.is_floating_point() and x.dtype != torch.float32 else x for x in inputs]
        env = dict(zip(self.input_names, inputs))
        layers = self.layers._modules
        plan = self._fast_plan if self._merged and not self._hooked() else self._plan
        for attr, ins, out, pool in plan:
            if pool is None:
                y = layers[attr](*[env[i] for i in ins])
                if type(out) is str:
                    env[out] = y
                else:
                    env.update(zip(out, y))
            else:  # a relu layer feeding a max pool: pool first (see _pool_before_relu)
                env[out] = F.relu(layers[pool].compute(layers[attr].compute(*[env[i] for i in ins])))
        if self._single:
            return env[self.output_names[0]]
        return tuple(env[o] for o in self.output_names)

    def _hooked(self) -> bool:
        """True while hooks watch a merged layer: they must see its own output, so the
        plain plan runs."""
        g = nn.modules.module
        if any(getattr(g, h, None) for h in _GLOBAL_HOOKS):
            return True
        layers = self.layers._modules
        return any(getattr(layers[a], h) for a in self._merged for h in _MODULE_HOOKS)

    def layer_module(self, name: str) -> nn.Module:
        """The module of a layer, by its spec name."""
        return self.layers._modules[self._attr[name]]

    # ------------------------------------------------------------------ weights
    def _live(self, key: str) -> torch.Tensor:
        """The parameter/buffer object of a key (the live tensor, not a copy)."""
        lname, wname = key.split(".", 1)
        return self.layers.get_submodule(self._attr[lname]).get_parameter(wname) \
            if wname not in _BUFFERS and not wname.endswith(tuple("." + b for b in _BUFFERS)) \
            else self.layers.get_submodule(self._attr[lname]).get_buffer(wname)

    def _param(self, key: str) -> torch.Tensor:
        """A parameter by key, cached (parameters keep their identity across .to())."""
        p = self._param_cache.get(key)
        if p is None:
            p = self._param_cache[key] = self._live(key)
        return p

    def weight_dict(self) -> dict[str, torch.Tensor]:
        """Every weight by specc key, detached (sharing storage with the module)."""
        return {k: self._live(k).detach() for k in self._keys}

    def load_weight_dict(self, arrays: dict) -> None:
        """Copy values in (numpy arrays or tensors); strict on keys and shapes."""
        missing = sorted(set(self._keys) - set(arrays))
        extra = sorted(set(arrays) - set(self._keys))
        wrong = [f"{k}: given {tuple(arrays[k].shape)}, spec {self._shapes[k]}" for k in self._keys
                 if k in arrays and tuple(arrays[k].shape) != self._shapes[k]]
        if missing or extra or wrong:
            parts = ([f"missing {', '.join(missing[:5])}"] if missing else []) + \
                    ([f"unexpected {', '.join(extra[:5])}"] if extra else []) + wrong[:5]
            raise SpecError("E100", f"weights do not fit spec '{self.net_name}': " + "; ".join(parts))
        with torch.no_grad():
            for k in self._keys:
                self._copy_in(k, arrays[k])

    def _copy_in(self, key: str, v) -> None:
        """Copy one weight's values (a numpy array or a tensor) into its live tensor (under no_grad)."""
        t = self._live(key)
        v = torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v
        t.copy_(v.to(dtype=t.dtype, device=t.device))

    # ------------------------------------------------------------------ training helpers
    def regularization_loss(self) -> torch.Tensor:
        """The Keras regularization penalties of the last forward pass: add it to the loss."""
        total = keras_penalties([(self._param(k), reg) for k, reg in self._regs], self._activity)
        if total is None:
            p = next(iter(self.parameters()), None)
            return torch.zeros((), device=p.device if p is not None else "cpu")
        return total

    def has_regularization(self) -> bool:
        """False when regularization_loss() is always zero (a trainer may skip it)."""
        return bool(self._regs or self._activity)

    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Project the constrained weights (Keras constraints): call it after each optimizer step."""
        for k, c, axis in self._cons:
            t = self._param(k)
            t.copy_(constrain(t, c, axis))

    def has_constraints(self) -> bool:
        return bool(self._cons)

    def rng_states(self) -> dict[str, torch.Tensor]:
        """Generator states of the seeded random layers (Dropout(seed=...)) that have drawn,
        by module path: a checkpoint keeps them so a resumed run draws the same masks."""
        from ...layers.regularization.torch import _Noise
        return {name: m.generator.get_state() for name, m in self.named_modules()
                if isinstance(m, _Noise) and m.generator is not None}

    def load_rng_states(self, states: dict, device) -> None:
        mods = dict(self.named_modules())
        for name, state in states.items():
            m = mods[name]
            m.generator = torch.Generator(device=device)
            m.generator.set_state(state.cpu())


def _container_key(module: SpeccModule, key: str) -> str | None:
    """"layers.<attribute>.<weight>" of a specc key "<layer>.<weight>" (None: not one)."""
    if key not in module._keys:
        return None
    lname, wname = key.split(".", 1)
    return f"layers.{module._attr[lname]}.{wname}"


def _state_dict_to_spec_keys(module: SpeccModule, state_dict: dict, prefix: str, local_metadata) -> None:
    """state_dict post-hook: the module's keys under `prefix` become specc keys, in order."""
    spec_key = {_container_key(module, k): k for k in module._keys}
    items = list(state_dict.items())
    state_dict.clear()
    for k, v in items:
        inner = k[len(prefix):] if k.startswith(prefix) else None
        state_dict[prefix + spec_key[inner] if inner in spec_key else k] = v


def _state_dict_from_spec_keys(module: SpeccModule, state_dict: dict, prefix: str, *_) -> None:
    """load_state_dict pre-hook: specc keys under `prefix` back to the container's keys
    (keys already in the container's form, from older checkpoints, are left as they are)."""
    for k in [k for k in state_dict if k.startswith(prefix)]:
        inner = _container_key(module, k[len(prefix):])
        if inner is not None:
            state_dict[prefix + inner] = state_dict.pop(k)


def build_module(net: Network, weights: dict | None = None, seed: int = 0) -> SpeccModule:
    """The spec's network as a torch module, holding `weights` or init_weights(net, seed)."""
    return SpeccModule(net, weights, seed)


registry.load("torch")  # every family's torch.py: its module classes and @torch_lowering builders
