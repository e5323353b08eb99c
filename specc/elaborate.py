"""Syntax tree -> IR: resolve names, expand blocks and repeats, build layers from calls.

Shapes are not computed here (passes/shapes.py does that); this stage only knows which
layer is applied to which tensors. Problems become diagnostics and elaboration goes on,
so one run reports every error of a file.
"""
from __future__ import annotations

import functools
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable

from pydantic import ValidationError

from . import parse as ast
from .catalog import CATALOGS, UNAVAILABLE, Fn
from .catalog.base import (Range, at_least_one, coerce, construct, construct_from, converter, describe,
                           fraction, seed_range, show, type_text)
from .counts import parse_bytes
from .errors import Diagnostic, Source, SpecError, Span, did_you_mean
from .ir import Node, TensorInfo
from .layers import REGISTRY, Layer
from .layers.base import ARG_SPANS

KNOWN_DTYPES = {"float32", "float16", "float64", "int64", "int32", "bool"}
RESERVED_DIMS = {"batch"}


MAX_LAYERS = 200_000  # a guard against `repeat` nests that would expand without end


class TooLarge(SpecError):
    """The expansion limit was hit; elaboration of the statement stops."""


@dataclass
class PyCall:
    """A call written as a value (l2(1e-4), LSTM(8)) with its arguments as Python values."""
    func: str
    args: list[Any]
    kwargs: dict[str, Any]
    span: Span
    arg_spans: dict[str | int, Span] = field(default_factory=dict)


@dataclass
class BlockRef:
    defn: ast.BlockDef
    table: dict[str, "BlockRef"]  # blocks visible from the block's own file


@dataclass
class Env:
    """A naming scope: the network body, or one expansion of a block."""
    prefix: str = ""
    tensors: dict[str, str] = field(default_factory=dict)   # local name -> global tensor
    layers: dict[str, str] = field(default_factory=dict)    # shared layer local name -> global layer
    params: dict[str, Any] = field(default_factory=dict)    # block parameter -> Python value
    blocks: dict[str, BlockRef] = field(default_factory=dict)
    in_block: bool = False
    outputs: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=None)
def snake(kind: str) -> str:
    """Keras-style default layer names: Dense -> dense, Conv2DTranspose -> conv2d_transpose."""
    s = re.sub(r"(?<=[a-z])([A-Z])", r"_\1", kind)
    return re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s).lower()


class Elaborator:
    def __init__(self, sources: dict[str, Source], files):
        self.sources = sources
        self.files = files  # specc.compile.SpecFiles: resolves, confines and reads imported files
        self.diags: list[Diagnostic] = []
        self.layers: dict[str, Layer] = {}
        # The IR's nodes and tensors, built here with construct() (cheap for 10,000 layers)
        # and completed in place until the Network is made: renames, spans, then shapes.
        self.nodes: list[Node] = []
        self.node_by_name: dict[str, Node] = {}
        self.tensors: dict[str, TensorInfo] = {}
        self.unnamed: set[str] = set()  # tensors just made by a step, which bind() may rename
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.output_spans: dict[str, Span] = {}
        self.applications: dict[str, int] = defaultdict(int)
        self.counters: dict[str, int] = defaultdict(int)
        self.user_names: dict[str, Span] = {}  # every name the network body defines -> where
        self.assign_sources: dict[str, set[str]] = {}
        self.assigning: str | None = None  # the target of the assignment being elaborated
        self.built: dict[tuple, Layer] = {}  # call key -> first layer built from it (build_layer)
        self.by_syntax: dict[tuple, Layer] = {}  # call as written -> the same first layer (call_step)
        self.sections: dict[str, ast.Section] = {}
        self.import_stack: list[str] = []  # files being imported, the checked file first
        self.import_chain: list[str] = []  # the same files as their imports spell them
        self.block_tables: dict[str, dict[str, BlockRef]] = {}  # imported file -> its blocks
        self.failed_imports: set[str] = set()  # names promised by imports that failed

    # ------------------------------------------------------------ entry point
    def network(self, module: ast.Module, library_ok: bool = False) -> dict | None:
        """Elaborate the file's network. `library_ok`: a file of blocks and no network
        is a library, fine as it is (None without a diagnostic)."""
        self.import_stack = [module.file]
        self.import_chain = [os.path.basename(module.file)]  # a cycle is shown as its imports spell it
        blocks = self.block_table(module)
        nets = [i for i in module.items if isinstance(i, ast.NetworkDef)]
        if not nets and library_ok and any(isinstance(i, ast.BlockDef) for i in module.items):
            return None
        if not nets and any(isinstance(i, ast.BlockDef) for i in module.items):
            self.report(SpecError("E102", "the file defines blocks but no network: it is a library",
                                  Span(file=module.file), hint="this command needs a network; import the "
                                  "blocks into a spec that has one (`specc check` accepts libraries)"))
            return None
        if not nets:
            self.report(SpecError("E102", "the file defines no network",
                                  Span(file=module.file), hint="write `network NAME { ... }`; a file of "
                                  "blocks only is meant to be imported"))
            return None
        for extra in nets[1:]:
            self.report(SpecError("E206", f"a second network '{extra.name}' in one file", extra.span,
                                  hint="put each network in its own .net file",
                                  related=[(nets[0].span, "the first network")]))
        net = nets[0]
        self.user_names = _scan_user_names(net.body)
        # `a = b -> ...` in the network body: a -> {b}, to name a cycle of definitions
        self.assign_sources = {st.target: {n for n, _ in st.chain.sources} for st in net.body
                               if isinstance(st, ast.Assign)}
        env = Env(blocks=blocks)
        for stmt in net.body:
            try:
                self.guard(self.statement, stmt, env)
            except TooLarge as e:
                self.report(e)
                break
        if not self.outputs and not any(d.severity == "error" for d in self.diags):
            self.report(SpecError("E208", f"network '{net.name}' declares no output", net.span,
                                  hint="end a chain with `-> output NAME`, or write `output NAME`"))
        return {"name": net.name, "span": net.span, "sections": self.sections}

    def report(self, err: SpecError) -> None:
        self.diags.append(err.diagnostic)

    def guard(self, fn, *args):
        try:
            return fn(*args)
        except TooLarge:
            raise
        except SpecError as e:
            self.report(e)
            return None

    # ------------------------------------------------------------ imports and blocks
    def block_table(self, module: ast.Module) -> dict[str, BlockRef]:
        table: dict[str, BlockRef] = {}
        for item in module.items:
            if isinstance(item, ast.Import):
                try:
                    self.import_blocks(item, module.file, table)
                except SpecError as e:
                    self.report(e)
                    self.failed_imports.update(n for n, _ in item.names)
        for item in module.items:
            if isinstance(item, ast.BlockDef):
                if item.name in table:
                    self.report(SpecError("E212", f"block '{item.name}' is defined twice", item.span,
                                          hint="rename one of the two blocks",
                                          related=[(table[item.name].defn.span, "first defined here")]))
                table[item.name] = BlockRef(item, table)
        return table

    def import_blocks(self, imp: ast.Import, importer: str, table: dict[str, BlockRef]) -> None:
        path = self.files.resolve(imp.path, importer, imp.span)
        here = os.path.abspath(path)
        if here in map(os.path.abspath, self.import_stack):
            start = next(i for i, p in enumerate(self.import_stack) if os.path.abspath(p) == here)
            chain = " -> ".join([*self.import_chain[start:], imp.path])
            raise SpecError("E103", f"import cycle: {chain}", imp.span,
                            hint="files cannot import each other; move the blocks they share into a third "
                                 "file that both import")
        if len(self.import_stack) > self.files.max_depth:
            chain = [*self.import_chain, imp.path]
            shown = " -> ".join(chain[:3] + ["..."] + chain[-2:])
            raise SpecError("E106", f"imports nested more than {self.files.max_depth} files deep", imp.span,
                            notes=[f"the chain of imports: {shown}"],
                            hint="a chain of imports this long is a mistake; import libraries directly")
        theirs = self.block_tables.get(path)
        if theirs is None:
            try:
                module = self.files.load(path, imp.span)
            except SpecError as e:
                if e.diagnostic.code == "E100":
                    raise SpecError("E103", f"cannot import \"{imp.path}\": {e.diagnostic.message}", imp.span,
                                    hint="paths are relative to the importing file") from None
                raise
            self.import_stack.append(path)
            self.import_chain.append(imp.path)
            try:
                theirs = self.block_tables[path] = self.block_table(module)
            finally:
                self.import_stack.pop()
                self.import_chain.pop()
        for name, span in imp.names:
            if name not in theirs:
                hint = did_you_mean(name, theirs) or (f"it defines: {', '.join(theirs)}" if theirs else
                                                       "it defines no blocks")
                self.report(SpecError("E103", f"\"{imp.path}\" has no block '{name}'", span, hint=hint))
            else:
                table[name] = theirs[name]

    # ------------------------------------------------------------ statements
    def statement(self, stmt, env: Env) -> None:
        self.assigning = stmt.target if type(stmt) is ast.Assign and not env.in_block else None
        if isinstance(stmt, ast.InputDecl):
            self.input_decl(stmt, env)
        elif isinstance(stmt, ast.Assign):
            try:
                result = self.chain(stmt.chain, env)
            except SpecError:
                # Define the target anyway (a placeholder of unknown shape): its later uses
                # must not report "'a' is used before it is defined" as an echo.
                if stmt.target not in env.tensors:
                    env.tensors[stmt.target] = self.placeholder(stmt.span)
                raise
            if result is not None:
                if len(result) != 1:
                    raise SpecError("E207", f"'{stmt.target}' would name {len(result)} tensors", stmt.span,
                                    hint="merge them first (Concatenate, Add, ...)")
                self.bind(stmt.target, result[0], env, stmt.span)
        elif isinstance(stmt, ast.ChainStmt):
            self.chain(stmt.chain, env)
        elif isinstance(stmt, ast.LayerDecl):
            if stmt.name in env.layers:
                raise SpecError("E206", f"layer '{stmt.name}' is declared twice", stmt.span,
                                hint="choose another name for one of them",
                                related=[(self.layers[env.layers[stmt.name]].span, "first declared here")])
            layer = self.make_layer_from_call(stmt.call, env, name_hint=stmt.name, explicit_name=stmt.name)
            if layer is not None:
                env.layers[stmt.name] = layer.name
        elif isinstance(stmt, ast.OutputStmt):
            for name, span in stmt.names:
                self.mark_output(self.lookup_tensor(name, span, env), name, env, span)
        elif isinstance(stmt, ast.Section):
            if env.in_block:
                raise SpecError("E211", f"a '{stmt.name}' section belongs in a network, not in a block", stmt.span)
            if stmt.name not in ("train", "expect", "test"):
                raise SpecError("E211", f"unknown section '{stmt.name}'", stmt.span,
                                hint=did_you_mean(stmt.name, ["train", "expect", "test"])
                                or "sections are train { }, expect { } and test { }")
            if stmt.name in self.sections:
                raise SpecError("E206", f"section '{stmt.name}' appears twice", stmt.span,
                                hint=f"merge the two into one {stmt.name} {{ }} section",
                                related=[(self.sections[stmt.name].span, "first here")])
            self.sections[stmt.name] = stmt

    def input_decl(self, stmt: ast.InputDecl, env: Env) -> None:
        if env.in_block:
            return  # bound by the caller before the body runs
        if stmt.shape is None:
            raise SpecError("E210", f"input '{stmt.name}' needs a shape", stmt.span,
                            hint=f"write `input {stmt.name}: [features]`; the batch dimension is implicit")
        dtype = stmt.dtype or "float32"
        if dtype not in KNOWN_DTYPES:
            raise SpecError("E210", f"unknown dtype '{dtype}' for input '{stmt.name}'", stmt.span,
                            hint=did_you_mean(dtype, KNOWN_DTYPES) or f"use one of {sorted(KNOWN_DTYPES)}")
        if stmt.name in self.tensors:
            raise SpecError("E206", f"'{stmt.name}' is defined twice", stmt.span, hint="choose another name",
                            related=[(self.tensors[stmt.name].span, "first defined here")])
        shape: list[int | str] | None = ["batch"]
        for d, span in stmt.shape:
            if d in RESERVED_DIMS:
                self.report(SpecError("E210", "the batch dimension is implicit; do not write it", span,
                                      hint=f"write the shape of one sample, e.g. `input {stmt.name}: [64]`"))
                shape = None  # still define the input, so its uses do not report more errors
                break
            if isinstance(d, int) and d <= 0:
                self.report(SpecError("E210", f"dimension {d} must be positive", span,
                                      hint="sizes are whole numbers >= 1; write a name (`seq`) for a size "
                                           "that is not fixed"))
                shape = None
                break
            shape.append(d)
        self.tensors[stmt.name] = construct(TensorInfo, name=stmt.name, shape=shape, dtype=dtype, producer=None,
                                            span=stmt.span)
        self.inputs.append(stmt.name)
        env.tensors[stmt.name] = stmt.name

    def lookup_tensor(self, name: str, span: Span, env: Env) -> str:
        if name in env.tensors:
            return env.tensors[name]
        hint = did_you_mean(name, env.tensors)
        related = []
        if name in env.layers:
            hint = f"'{name}' is a layer; apply it inside a chain: `x -> {name}`"
        elif not env.in_block and name in self.user_names:
            # a forward reference: defined further down (or in a cycle with this line)
            related = [(self.user_names[name], "defined here, after its use")]
            hint = f"move the definition of '{name}' above its first use"
            if self.assigning is not None and self.assigning in self.assign_sources.get(name, ()):
                related = [(self.user_names[name], f"'{name}' is computed from '{self.assigning}' here")]
                hint = (f"'{self.assigning}' and '{name}' are computed from each other, a cycle, which a network "
                        "cannot have: start one of them from an input or an earlier tensor")
        raise SpecError("E205", f"tensor '{name}' is used before it is defined", span,
                        hint=hint or "define it first: `input NAME: [...]` or `NAME = x -> Layer(...)`",
                        related=related)

    def bind(self, local: str, tensor: str, env: Env, span: Span) -> str:
        """Give a tensor a user name (renaming a fresh intermediate, else an Identity)."""
        if local in env.tensors:
            raise SpecError("E206", f"'{local}' is defined twice", span, hint="choose another name",
                            related=[(self.tensors[env.tensors[local]].span
                                      if env.tensors[local] in self.tensors else None, "first defined here")])
        glob = f"{env.prefix}_{local}" if env.prefix else local
        if env.prefix and glob in self.tensors:
            glob = self.fresh_name(glob)
        if tensor in self.unnamed and glob not in self.tensors:
            self.rename_tensor(tensor, glob)
            self.tensors[glob].__dict__["span"] = span
        else:
            layer = self.new_layer("Identity", span, env, name_hint=f"{local}_alias")
            [out] = self.apply(layer, [tensor], span, env)
            self.rename_tensor(out, glob)
        env.tensors[local] = glob
        return glob

    def rename_tensor(self, old: str, new: str) -> None:
        """Give a tensor that was just produced (nothing consumes it yet) its user name."""
        info = self.tensors.pop(old)
        info.__dict__["name"] = new
        self.tensors[new] = info
        self.unnamed.discard(old)
        node = self.node_by_name.get(info.producer)
        if node is not None:
            node.__dict__["outputs"] = [new if o == old else o for o in node.outputs]

    def mark_output(self, tensor: str, local: str, env: Env, span: Span) -> None:
        if env.in_block:
            env.outputs.append(tensor)
            return
        if tensor in self.outputs:
            raise SpecError("E206", f"'{local}' is declared as an output twice", span,
                            hint="declare each output once", related=[(self.output_spans.get(tensor), "first here")])
        self.outputs.append(tensor)
        self.output_spans[tensor] = span

    # ------------------------------------------------------------ chains
    def chain(self, chain: ast.Chain, env: Env) -> list[str] | None:
        current = [self.lookup_tensor(n, s, env) for n, s in chain.sources]
        for step in chain.steps:
            try:
                current = self.step(step, current, env)
            except TooLarge:
                raise  # stop expanding: going on would only repeat the error
            except SpecError as e:
                # Report and go on with a placeholder, so later steps and `output` names
                # still resolve and one mistake does not cascade into several.
                if not getattr(e, "echo", False):
                    self.report(e)
                current = [self.placeholder(step.span)]
        return current

    def placeholder(self, span: Span) -> str:
        """A tensor of unknown shape standing for the result of a step that failed."""
        name = self.fresh_name("error")
        self.tensors[name] = construct(TensorInfo, name=name, shape=None, dtype="float32", producer=None, span=span)
        self.unnamed.add(name)
        return name

    def step(self, step, current: list[str], env: Env) -> list[str] | None:
        if type(step) is ast.StepCall:  # by far the most common step
            return self.call_step(step.call, current, env)
        if isinstance(step, ast.StepOutput):
            if len(current) != 1:
                raise SpecError("E207", f"output '{step.name}' would name {len(current)} tensors", step.span,
                                hint="merge them first, or name each one")
            name = self.bind(step.name, current[0], env, step.span)
            self.mark_output(name, step.name, env, step.span)
            return [name]
        if isinstance(step, ast.StepRepeat):
            if step.times < 1:
                raise SpecError("E203", "repeat needs a count of at least 1", step.span)
            if _expansion(step) + len(self.layers) > MAX_LAYERS:
                raise TooLarge("E203", f"this repeat expands to {_expansion(step):,} layers, more than the "
                               f"limit of {MAX_LAYERS:,}", step.span, hint="check the nested `repeat` counts")
            for _ in range(step.times):
                for inner in step.steps:
                    current = self.step(inner, current, env)
                    if current is None:
                        return None
            return current
        if isinstance(step, ast.StepRef):
            if step.name in env.layers:
                return self.apply(self.layers[env.layers[step.name]], current, step.span, env)
            if step.name in env.blocks:
                return self.expand_block(env.blocks[step.name], PyCall(step.name, [], {}, step.span), current, env)
            if REGISTRY.get(step.name):
                layer = self.new_layer(step.name, step.span, env, pycall=PyCall(step.name, [], {}, step.span))
                return self.apply(layer, current, step.span, env) if layer else None
            if step.name in env.tensors:
                raise SpecError("E200", f"'{step.name}' is a tensor, not a layer", step.span,
                                hint="a chain applies layers; to merge tensors write `(a, b) -> Add()`")
            raise self.unknown_callable(step.name, step.span, env)
        raise AssertionError(f"unknown step {step!r}")

    def call_step(self, call: ast.Call, current: list[str], env: Env) -> list[str] | None:
        """`-> Name(...)`: expand a block or apply a new layer."""
        # A call written like an earlier one (a generated spec, a `repeat` body) copies the
        # layer built from it, skipping the conversion of its arguments (see build_layer).
        # Inside a block with parameters a name may stand for a value: no shortcut there.
        skey = None if env.params else _syntax_key(call)
        first = self.by_syntax.get(skey) if skey is not None else None
        if first is not None and call.func not in env.blocks and call.func not in env.layers:
            self.check_room(call.span)
            layer = _copy_layer(first, call.span)
            if call.args:  # its own arguments' places (for errors at an argument), on first use
                layer.keep_arg_spans(functools.partial(_written_arg_places, type(layer), call))
            base = f"{env.prefix}_{snake(layer.kind)}" if env.prefix else snake(layer.kind)
            self.add_layer(layer, self.unique_layer_name(base))
            return self.apply(layer, current, call.span, env)
        pycall = self.to_pycall(call, env)
        if call.func in env.blocks:
            return self.expand_block(env.blocks[call.func], pycall, current, env)
        if call.func in env.layers:
            raise SpecError("E200", f"'{call.func}' is a shared layer; apply it without arguments", call.span,
                            hint=f"write `-> {call.func}`")
        if REGISTRY.get(call.func) is None:
            raise self.unknown_callable(call.func, call.name_span, env, call)
        layer = self.new_layer(call.func, call.span, env, pycall=pycall, syntax_key=skey)
        if layer is None:
            return None
        return self.apply(layer, current, call.span, env)

    def unknown_callable(self, name: str, span: Span, env: Env, call: ast.Call | None = None) -> SpecError:
        if name in self.failed_imports:
            err = SpecError("E200", f"'{name}' comes from an import that failed", span)
            err.echo = True  # the import error was reported already
            return err
        choices = [*REGISTRY.all_names(), *env.blocks, *env.layers]
        hint = did_you_mean(name, choices)
        for cat in ("activation", "optimizer", "loss", "initializer"):
            if name in CATALOGS[cat]:
                # the advice keeps the written arguments: gelu(approximate=true) -> Activation(gelu(approximate=true))
                ref = self.call_text(call) if call is not None and call.args else name
                hint = (f"'{name}' is an {cat}, not a layer" +
                        (f"; write Activation({ref}) or activation={ref} on a layer" if cat == "activation" else ""))
        return SpecError("E200", f"unknown layer or block '{name}'", span,
                         hint=hint or "the layer kinds are listed in docs/catalog.md")

    def call_text(self, call: ast.Call) -> str:
        """A call as written (one line), or its name with '(...)' when the text is not at hand."""
        src, sp = self.sources.get(call.span.file), call.span
        line = src.line(sp.line) if src is not None and sp.end_line == sp.line else None
        return line[sp.column - 1:sp.end_column - 1] if line else f"{call.func}(...)"

    def apply(self, layer: Layer, inputs: list[str], span: Span, env: Env) -> list[str]:
        lo, hi = type(layer).n_inputs
        n = len(inputs)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            hint = ("merge the tensors first, e.g. `(a, b) -> Concatenate()`" if n > 1 else
                    f"give it several tensors: `(a, b) -> {layer.kind}()`")
            raise SpecError("E207", f"{layer.kind} '{layer.name}' takes {want} input(s), got {n}", span, hint=hint)
        lname = layer.name
        k = self.applications[lname]
        self.applications[lname] = k + 1
        node = lname if k == 0 else f"{lname}_call{k}"
        out = self.fresh_name(node)
        self.nodes.append(construct(Node, name=node, layer=lname, inputs=list(inputs), outputs=[out], span=span))
        self.node_by_name[node] = self.nodes[-1]
        self.tensors[out] = construct(TensorInfo, name=out, shape=None, dtype="float32", producer=node, span=span)
        self.unnamed.add(out)
        return [out]

    def fresh_name(self, base: str) -> str:
        name, k = base, 0
        while name in self.tensors or name in self.user_names:
            k += 1
            name = f"{base}_{k}"
        return name

    # ------------------------------------------------------------ blocks
    def expand_block(self, ref: BlockRef, call: PyCall, current: list[str], env: Env) -> list[str] | None:
        d = ref.defn
        inputs = [s for s in d.body if isinstance(s, ast.InputDecl)]
        if len(inputs) != len(current):
            raise SpecError("E212", f"block '{d.name}' takes {len(inputs)} input tensor(s), got {len(current)}",
                            call.span, hint="declare its inputs with `input x` inside the block")
        params: dict[str, Any] = {}
        if len(call.args) > len(d.params):
            raise SpecError("E212", f"block '{d.name}' takes {len(d.params)} argument(s), got {len(call.args)}",
                            call.span, hint=_block_sig(d))
        for p, v in zip(d.params, call.args):
            params[p.name] = v
        for k, v in call.kwargs.items():
            if not any(p.name == k for p in d.params):
                raise SpecError("E212", f"block '{d.name}' has no parameter '{k}'",
                                call.arg_spans.get(k, call.span),
                                hint=did_you_mean(k, [p.name for p in d.params]) or _block_sig(d))
            if k in params:
                raise SpecError("E209", f"parameter '{k}' of block '{d.name}' given twice", call.span)
            params[k] = v
        block_env = Env(blocks=ref.table, in_block=True)
        for p in d.params:
            if p.name not in params:
                if p.default is None:
                    raise SpecError("E212", f"block '{d.name}' needs the argument '{p.name}'", call.span,
                                    hint=_block_sig(d))
                params[p.name] = self.to_python(p.default, block_env)
        block_env.params = params
        k = self.counters[f"block:{d.name}"]
        self.counters[f"block:{d.name}"] += 1
        base = d.name if k == 0 else f"{d.name}_{k}"
        block_env.prefix = f"{env.prefix}_{base}" if env.prefix else base
        if len(self.import_stack) > 50 or env.prefix.count("_") > 200:
            raise SpecError("E212", f"block '{d.name}' is nested too deeply (recursive?)", call.span)
        for decl, tensor in zip(inputs, current):
            block_env.tensors[decl.name] = tensor
        for stmt in d.body:
            self.guard(self.statement, stmt, block_env)
        if not block_env.outputs:
            raise SpecError("E208", f"block '{d.name}' declares no output", d.span,
                            hint="end its chain with `-> output y`")
        return block_env.outputs

    # ------------------------------------------------------------ values and layers
    def to_python(self, v, env: Env) -> Any:
        if type(v) is ast.Num:  # the common case first
            return v.value
        if isinstance(v, ast.Name) and v.id in env.params:
            return env.params[v.id]
        if isinstance(v, (ast.ListV, ast.TupleV)):
            return [self.to_python(i, env) for i in v.items]
        if isinstance(v, ast.Call):
            return self.to_pycall(v, env)
        return ast.value_to_python(v)

    def to_pycall(self, call: ast.Call, env: Env) -> PyCall:
        args, kwargs, spans = [], {}, {}
        for a in call.args:
            value = self.to_python(a.value, env)
            if a.name is None:
                if kwargs:
                    raise SpecError("E203", "a positional argument follows a keyword argument", a.span,
                                    hint="put positional arguments first")
                spans[len(args)] = a.span
                args.append(value)
            else:
                if a.name in kwargs:
                    raise SpecError("E209", f"argument '{a.name}' given twice", a.span)
                spans[a.name] = a.span
                kwargs[a.name] = value
        return PyCall(call.func, args, kwargs, call.span, spans)

    def make_layer_from_call(self, call: ast.Call, env: Env, name_hint: str | None = None,
                             explicit_name: str | None = None) -> Layer | None:
        if REGISTRY.get(call.func) is None:
            raise self.unknown_callable(call.func, call.name_span, env, call)
        return self.new_layer(call.func, call.span, env, pycall=self.to_pycall(call, env),
                              name_hint=name_hint, explicit_name=explicit_name)

    def check_room(self, span: Span) -> None:
        if len(self.layers) >= MAX_LAYERS:
            raise TooLarge("E203", f"the network expands to more than {MAX_LAYERS:,} layers", span,
                           hint="check nested `repeat` counts and recursive blocks")

    def new_layer(self, kind: str, span: Span, env: Env, pycall: PyCall | None = None,
                  name_hint: str | None = None, explicit_name: str | None = None,
                  syntax_key: tuple | None = None) -> Layer | None:
        self.check_room(span)
        pycall = pycall or PyCall(kind, [], {}, span)
        layer = self.build_layer(pycall, env.prefix, syntax_key)
        name = pycall.kwargs.get("name")
        if name is not None:
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise SpecError("E203", f"layer name {name!r} must be an identifier", pycall.arg_spans.get("name", span))
            name = f"{env.prefix}_{name}" if env.prefix else name
            if name in self.layers:
                raise SpecError("E206", f"two layers are named '{name}'", pycall.arg_spans.get("name", span),
                                hint="layer names must be unique: choose another name= for one of them",
                                related=[(self.layers[name].span, "the other layer")])
        elif explicit_name:
            name = f"{env.prefix}_{explicit_name}" if env.prefix else explicit_name
            if name in self.layers:
                raise SpecError("E206", f"two layers are named '{name}'", span,
                                hint="layer names must be unique: choose another name for one of them",
                                related=[(self.layers[name].span, "the other layer")])
        else:
            base = name_hint or snake(layer.kind)
            base = f"{env.prefix}_{base}" if env.prefix else base
            name = self.unique_layer_name(base)
        return self.add_layer(layer, name)

    def add_layer(self, layer: Layer, name: str) -> Layer:
        layer.__dict__["name"] = name  # (pydantic's __setattr__ is slow for 10,000 layers)
        layer.__pydantic_fields_set__.add("name")
        self.layers[name] = layer
        return layer

    def unique_layer_name(self, base: str) -> str:
        k = self.counters[f"layer:{base}"]
        while True:
            name = base if k == 0 else f"{base}_{k}"
            k += 1
            if name not in self.layers and name not in self.user_names:
                self.counters[f"layer:{base}"] = k
                return name

    def build_layer(self, call: PyCall, prefix: str = "", syntax_key: tuple | None = None) -> Layer:
        """PyCall -> validated Layer instance (name left for the caller). `syntax_key`: the
        call as written (_syntax_key), remembered for call_step's shortcut."""
        cls = REGISTRY.get(call.func)
        if cls is None:
            raise SpecError("E200", f"unknown layer '{call.func}'", call.span,
                            hint=did_you_mean(call.func, REGISTRY.all_names()))
        kind, fields, roles = _arg_fields(cls)
        # Identical calls (a `repeat` body, a generated spec) validate once; later ones
        # copy the first layer with their own span (pydantic validation is most of the
        # cost of a layer). Calls holding a nested layer are built afresh each time.
        key = None if "layer" in roles.values() else _call_key(call)
        if key is None:
            layer = self._build_layer(call, cls, kind, fields, roles, prefix)
        else:
            first = self.built.get(key)
            if first is None:
                layer = first = self.built[key] = self._build_layer(call, cls, kind, fields, roles, prefix)
            else:
                layer = _copy_layer(first, call.span)
            if syntax_key is not None:
                self.by_syntax[syntax_key] = first
            if layer is not first and call.arg_spans:  # a copy: its own arguments' places
                layer.keep_arg_spans(_arg_places(cls, call.arg_spans.items()))
        return layer

    def _build_layer(self, call: PyCall, cls, kind: str, fields: dict, roles: dict, prefix: str) -> Layer:
        aliases = cls.arg_aliases
        data: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        if len(call.args) > len(cls.positional):
            extra = call.arg_spans.get(len(cls.positional), call.span)
            raise SpecError("E203", f"{kind} takes at most {len(cls.positional)} positional argument(s) "
                            f"({', '.join(cls.positional) or 'none'}), got {len(call.args)}", extra,
                            hint=_layer_sig(cls))
        for i, v in enumerate(call.args):
            data[cls.positional[i]] = v
            spans[cls.positional[i]] = call.arg_spans.get(i, call.span)
        for k, v in call.kwargs.items():
            if k == "name":
                continue
            key = aliases.get(k, k)
            if key not in fields:
                hint = did_you_mean(k, [*fields, *aliases])
                raise SpecError("E201", f"{kind} has no argument '{k}'", call.arg_spans.get(k, call.span),
                                hint=hint or _layer_sig(cls))
            if key in data:
                raise SpecError("E209", f"argument '{key}' of {kind} given twice", call.arg_spans.get(k, call.span),
                                hint=f"keep one '{key}' (by position or by name, not both); {_layer_sig(cls)}")
            data[key] = v
            spans[key] = call.arg_spans.get(k, call.span)
        for key, v in list(data.items()):
            role = roles[key]
            span = spans[key]
            if role is not None and role != "layer":  # a catalogue name: activation, initializer...
                data[key] = self.resolve_fn(role, v, span, (key, kind))
            elif role == "layer":
                if not isinstance(v, PyCall):
                    raise SpecError("E203", f"'{key}' of {kind} must be a layer, got {show(v)}", span,
                                    hint=f"write a layer call, e.g. {kind}(LSTM(32))")
                inner = self.build_layer(v, prefix)
                inner.name = snake(inner.kind)
                data[key] = inner
            elif isinstance(v, PyCall):
                raise SpecError("E203", f"'{key}' of {kind} takes a plain value, not a call {v.func}(...)", span,
                                hint=_layer_sig(cls))
            else:  # a plain value: its type and range, in specc's words (catalog.base.coerce)
                try:
                    data[key] = _converters(cls)[key](v)
                except ValueError as err:
                    raise SpecError(_value_code(key), f"'{key}' of {kind} {err}", span,
                                    hint=_arg_help(cls, key)) from None
        try:
            layer = cls.model_validate({**data, "kind": kind, "span": call.span})
        except ValidationError as e:
            err = e.errors()[0]
            key = str(err["loc"][0]) if err["loc"] else ""
            if err["type"] == "missing":
                raise SpecError("E202", f"{kind} needs the argument '{key}'", call.span, hint=_layer_sig(cls)) from None
            # plain values passed coerce above; what is left is a kind's own validator
            # (its ValueError says "must be ..., got ...") or an odd catalogue value: never
            # pydantic's own wording
            if err["type"] == "value_error":
                msg = err["msg"].removeprefix("Value error, ")
            elif roles.get(key) not in (None, "layer"):  # none given for a catalogue reference
                cat = CATALOGS[roles[key]]
                msg = f"must name {_article(cat.kind)} (e.g. {cat.names()[0]}), got {show(_call_value(call, key, cls))}"
            else:
                msg = f"must be {describe(_declared_type(fields[key])) if key in fields else 'another value'}, " \
                      f"got {show(data.get(key))}"
            raise SpecError(_value_code(key), f"'{key}' of {kind} {msg}", spans.get(key, call.span),
                            hint=_arg_help(cls, key) if key in fields else _layer_sig(cls)) from None
        layer.keep_arg_spans(spans)
        layer.validate_args()
        return layer

    def resolve_fn(self, catalog: str, v: Any, span: Span, what: str | tuple[str, str] = "the value") -> Fn | None:
        """A catalogue reference (a name or a call) -> Fn; `what` names the argument or
        setting in messages: a text, or (argument, kind) for "'activation' of Dense"."""
        cat = CATALOGS[catalog]
        if v is None:
            return None
        if isinstance(v, Fn):
            return v
        if isinstance(v, str):
            return cat.resolve(v, span=span)
        if isinstance(v, PyCall):
            return cat.resolve(v.func, v.args, v.kwargs, span=v.span, arg_spans=v.arg_spans)
        who = what if isinstance(what, str) else f"'{what[0]}' of {what[1]}"
        raise SpecError("E203", f"{who} must name {_article(cat.kind)} (e.g. {cat.names()[0]}), got {show(v)}", span,
                        hint=f"{cat.kind}s: {', '.join(cat.names())} (docs/catalog.md)")


def _expansion(step) -> int:
    """How many layer applications a step expands to (blocks counted as one)."""
    if isinstance(step, ast.StepRepeat):
        return step.times * sum(_expansion(s) for s in step.steps)
    return 0 if isinstance(step, ast.StepOutput) else 1


def _copy_layer(first: Layer, span: Span) -> Layer:
    """A layer equal to `first` but written at `span` (name left for the caller); the
    argument values are shared, never mutated once validated. The places of `first`'s
    arguments are not this call's: build_layer records the copy's own, if it has any."""
    values = {**first.__dict__, "span": span, "name": ""}
    values.pop(ARG_SPANS, None)
    return construct_from(type(first), values, set(first.__pydantic_fields_set__))


def _arg_places(cls, places) -> dict[str, Span]:
    """Argument name -> where it is written, from (position or keyword as written, span)
    pairs of one call of layer class `cls` (positional arguments come first)."""
    positional, aliases = cls.positional, cls.arg_aliases
    return {(positional[k] if isinstance(k, int) and k < len(positional) else aliases.get(k, k)): s
            for k, s in places}


def _written_arg_places(cls, call: ast.Call) -> dict[str, Span]:
    return _arg_places(cls, [(i if a.name is None else a.name, a.span) for i, a in enumerate(call.args)])


def _syntax_key(call: ast.Call) -> tuple | None:
    """A call's function and arguments as written, spans aside: calls with equal keys
    convert to equal PyCalls (outside blocks with parameters). None for a `name=`
    argument (each layer has its own) or a value too rare to bother with."""
    key: list = [call.func]
    for a in call.args:
        v = a.value
        t = type(v)
        if t is ast.Num:  # the common cases inline: the key costs little when it misses
            key += (a.name, t, v.text)  # equal texts give equal numbers (1 and 1.0 differ)
        elif t is ast.Name:
            key += (a.name, t, v.id)
        else:
            item = _value_key(v)
            if item is None:
                return None
            key += (a.name, item)
        if a.name == "name":
            return None
    return tuple(key)


def _value_key(v) -> tuple | None:
    t = type(v)
    if t is ast.Num:
        return (t, v.text)
    if t is ast.Name:
        return (t, v.id)
    if t is ast.Str:
        return (t, v.value)
    if t is ast.Call:
        inner = _syntax_key(v)
        return None if inner is None else (t, *inner)
    if t is ast.ListV or t is ast.TupleV:
        items = [_value_key(i) for i in v.items]
        return None if None in items else (t, *items)
    return None


def _call_key(call: PyCall) -> tuple | None:
    """A hashable key for a call's arguments (types included: 1, 1.0 and True differ),
    or None when an argument cannot be hashed."""
    key = _frozen(call)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _frozen(v: Any) -> Any:
    t = type(v)
    if t is str:
        return v
    if t is list:
        return (list, *map(_frozen, v))
    if t is PyCall:
        return (PyCall, v.func, *map(_frozen, v.args), *[(k, _frozen(x)) for k, x in v.kwargs.items()])
    return (t, v)  # numbers and booleans: 1, 1.0 and True are equal in Python


@functools.lru_cache(maxsize=None)
def _arg_fields(cls) -> tuple[str, dict[str, Any], dict[str, str | None]]:
    """(kind, argument fields, role of each: a catalogue name, "layer", or None for a plain
    value) of a layer class, computed once per class rather than once per layer."""
    fields = {k: f for k, f in cls.model_fields.items() if k not in ("kind", "span", "name")}
    roles = {}
    for k, f in fields.items():
        extra = f.json_schema_extra or {}
        roles[k] = extra.get("catalog") or ("layer" if extra.get("layer") else None)
    return cls.model_fields["kind"].default, fields, roles


def _layer_sig(cls) -> str:
    """usage: Conv2D(filters, kernel_size, ...); options: ... (no dangling comma when a
    kind takes nothing by position: `BatchNormalization(...)`)."""
    kind = cls.model_fields["kind"].default
    req = [k for k, f in cls.model_fields.items() if f.is_required() and k not in cls.positional]
    opt = [k for k, f in cls.model_fields.items() if not f.is_required() and k not in ("kind", "span", "name")]
    parts = [*cls.positional, *req, *(["..."] if opt else [])]
    return f"usage: {kind}({', '.join(parts)})" + (f"; options: {', '.join(opt[:12])}" if opt else "")


def _arg_help(cls, key: str) -> str:
    """The help line of a bad value: what the argument takes, then how the kind is called
    ("strides: int or [int, int] (>= 1), default 1; usage: Conv2D(filters, kernel_size, ...)")."""
    f = cls.model_fields[key]
    catalog = _arg_fields(cls)[2][key]
    kind = f"{catalog} name or call (docs/catalog.md)" if catalog not in (None, "layer") else \
        type_text(_declared_type(f))
    default = f.get_default(call_default_factory=True) if not f.is_required() else None
    default = "required" if f.is_required() else \
        f"default {default.name if isinstance(default, Fn) else default if isinstance(default, str) else show(default)}"
    return f"{key}: {kind}, {default}; {_layer_sig(cls).split(';')[0]}"


def _declared_type(f) -> Any:
    """A field's type with its range (pydantic keeps Annotated metadata apart)."""
    return Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation


@functools.lru_cache(maxsize=None)
def _converters(cls) -> dict[str, Callable[[Any], Any]]:
    """Per plain-value argument of a layer class, the function checking and converting a
    spec value (catalog.base.converter), made once per class."""
    _kind, fields, roles = _arg_fields(cls)
    return {k: converter(_declared_type(f)) for k, f in fields.items() if roles[k] is None}


def _article(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _call_value(call: PyCall, key: str, cls) -> Any:
    """The value written for argument `key` in `call` (by position, name or alias)."""
    if key in cls.positional and cls.positional.index(key) < len(call.args):
        return call.args[cls.positional.index(key)]
    for k, v in call.kwargs.items():
        if cls.arg_aliases.get(k, k) == key:
            return v
    return None


def _value_code(key: str) -> str:
    """E401 for the dropout rates (a Keras habit of its own: the fraction KEPT), else E203."""
    return "E401" if key in ("rate", "dropout", "recurrent_dropout") else "E203"


def _block_sig(d: ast.BlockDef) -> str:
    return f"usage: {d.name}(" + ", ".join(p.name if p.default is None else f"{p.name}=..." for p in d.params) + ")"


def _scan_user_names(body) -> dict[str, Span]:
    """Every name the network body defines (tensors, outputs, shared layers) -> where it
    is first defined: generated names avoid them, forward references point at them."""
    names: dict[str, Span] = {}

    def steps(ss):
        for s in ss:
            if isinstance(s, ast.StepOutput):
                names.setdefault(s.name, s.span)
            elif isinstance(s, ast.StepRepeat):
                steps(s.steps)
    for stmt in body:
        if isinstance(stmt, ast.InputDecl):
            names.setdefault(stmt.name, stmt.span)
        elif isinstance(stmt, ast.Assign):
            names.setdefault(stmt.target, stmt.span)
            steps(stmt.chain.steps)
        elif isinstance(stmt, ast.ChainStmt):
            steps(stmt.chain.steps)
        elif isinstance(stmt, ast.LayerDecl):
            names.setdefault(stmt.name, stmt.span)
    return names


# ---------------------------------------------------------------- train / expect / test sections

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
        return elab.guard(elab.resolve_fn, catalog, v, span, f"train setting '{key}'")

    def written(catalog: str, key: str) -> list[tuple[Fn | None, Any, Span]]:
        """(Fn or None where it failed, the item as written, the setting's span) of a list setting."""
        if key not in raw:
            return []
        v, span = raw[key]
        items = v if isinstance(v, list) else [v]
        return [(elab.guard(elab.resolve_fn, catalog, i, span, f"each of '{key}'"), i, span) for i in items]

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
            data = elab.guard(elab.resolve_fn, "data", v, span, "train setting 'data'")
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
    from .catalog.metrics import history_names
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
        elab.guard(elab.files.named_file, given, span.file, "data file", where)


def _confine_written_files(callback: Fn, item: Any, span: Span, elab: Elaborator) -> None:
    """E109 for a callback's output file that would leave the run folder: the trainer writes
    it relative to the run folder (runs/NAME or --out)."""
    from .compile import output_path_problem
    for param in CATALOGS["callback"].get(callback.name).info.get("writes", ()):
        problem = output_path_problem(callback.args[param])
        if problem:
            elab.report(SpecError(
                "E109", f"{callback.name} {param} {problem}", _arg_span(item, "callback", callback, param, span),
                hint=f"{callback.name} writes into the run folder (runs/NAME, or --out DIR): give a file name "
                     f"relative to it, e.g. {param}=\"{CATALOGS['callback'].get(callback.name).param(param).default}\""))


def _precision(raw: dict, elab: Elaborator) -> str:
    """`precision = mixed_bfloat16`: one of the training policies (ir.TRAIN_PRECISIONS)."""
    from .ir import TRAIN_PRECISIONS
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
        resolved = [elab.guard(elab.resolve_fn, "loss", item, lspan, "each loss") for item in v]
    else:
        resolved = [elab.guard(elab.resolve_fn, "loss", v, lspan, "train setting 'loss'")] * max(len(outputs), 1)
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
        v = ast.value_to_python(s.value) if not isinstance(s.value, ast.Call) else None
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
        from .passes.cost import read_expected_macs
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
