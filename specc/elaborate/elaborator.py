"""The Elaborator: syntax tree -> the IR's layers, nodes and tensors (names, imports,
blocks, `repeat`, shared layers). Sections are read by sections.py."""
from __future__ import annotations

import functools
import os
import re
from collections import defaultdict
from typing import Any

from pydantic import ValidationError

from .. import parse as ast
from ..catalog import CATALOGS, Fn
from ..catalog.base import NotWhole, construct, construct_from, describe, show
from ..errors import Diagnostic, Source, SpecError, Span, did_you_mean
from ..ir import Node, TensorInfo
from ..layers import REGISTRY, Layer
from .arithmetic import computed_size, evaluate, evaluate_value, is_arithmetic, shape_dimension
from .call_keys import arg_places, copy_layer, key_as_written, key_of_values, written_arg_places
from .layer_args import (arg_fields, arg_help, catalog_fields, converters, declared_type, field_defaults, layer_usage,
                         required_fields, value_code, with_article, written_value)
from .scope import MAX_LAYERS, BlockRef, DeclaredShape, Env, Expansions, PyCall, TooLarge

KNOWN_DTYPES = {"float32", "float16", "float64", "int64", "int32", "bool"}
RESERVED_DIMS = {"batch"}


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
        self.placeholders: set[str] = set()  # tensors standing for a step that failed (reported)
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.output_spans: dict[str, Span] = {}
        self.applications: dict[str, int] = defaultdict(int)
        self.tied_layers: list[Layer] = []  # ReverseEmbedding layers made by `-> NAME(reverse=true)`
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
        self.expansions = Expansions()
        self.within: tuple[str, ...] = ()  # ids of the block calls / repeats being expanded
        self.failed_imports: set[str] = set()  # names promised by imports that failed
        self.declared_shapes: list[DeclaredShape] = []  # block inputs written with a shape, per call

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
        self.assign_sources.update({t: {n for n, _ in st.chain.sources} for st in net.body
                                    if isinstance(st, ast.AssignMany) for t, _ in st.targets})
        env = Env(blocks=blocks)
        for stmt in net.body:
            try:
                self.call_or_report(self.statement, stmt, env)
            except TooLarge as e:
                self.report(e)
                break
        for layer in self.tied_layers:
            source = layer.tied_to()
            if not self.applications[source]:
                # the tied matrix is the source layer's weight, which exists where it is applied
                self.report(SpecError("E203", f"'{source}' is applied only reversed: weight tying reuses the "
                                      "matrix of an Embedding that the network also applies to token ids",
                                      layer.span, hint=f"embed the tokens with it (`tokens -> {source}`), or "
                                      "write an untied projection, Dense(units, use_bias=false)"))
        if not self.outputs and not any(d.severity == "error" for d in self.diags):
            self.report(SpecError("E208", f"network '{net.name}' declares no output", net.span,
                                  hint="end a chain with `-> output NAME`, or write `output NAME`"))
        return {"name": net.name, "span": net.span, "sections": self.sections}

    def report(self, err: SpecError) -> None:
        self.diags.append(err.diagnostic)

    def call_or_report(self, fn, *args):
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
                    env.tensors.setdefault(stmt.target, self.placeholder(stmt.span))  # no echo at its uses
                    raise SpecError("E207", f"'{stmt.target}' would name {len(result)} tensors", stmt.span,
                                    hint=self.several_outputs_hint(result) or
                                    "merge them first (Concatenate, Add, ...), or name each: `(a, b) = ...`")
                self.bind(stmt.target, result[0], env, stmt.span)
        elif isinstance(stmt, ast.AssignMany):
            self.assign_many(stmt, env)
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

    def assign_many(self, stmt: ast.AssignMany, env: Env) -> None:
        """`(seq, h, c) = chain`: one name per tensor the chain ends with (a layer with
        several outputs, a block with several outputs, several sources)."""
        names = [n for n, _ in stmt.targets]
        seen: dict[str, Span] = {}
        for name, span in stmt.targets:
            if name in seen:
                for n in names:  # no echo at their uses
                    env.tensors.setdefault(n, self.placeholder(stmt.span))
                raise SpecError("E206", f"'{name}' is named twice in one assignment", span,
                                hint="give each tensor its own name", related=[(seen[name], "first here")])
            seen[name] = span
        try:
            result = self.chain(stmt.chain, env)
        except SpecError:
            for name in names:  # placeholders: later uses must not echo "used before it is defined"
                env.tensors.setdefault(name, self.placeholder(stmt.span))
            raise
        if result is None:
            return
        if len(result) != len(names) and not self.placeholders.intersection(result):
            for name in names:
                env.tensors.setdefault(name, self.placeholder(stmt.span))
            what = self.several_outputs_hint(result) if len(result) > 1 else None
            raise SpecError("E207", f"{len(names)} names for {len(result)} tensor(s)", stmt.span,
                            hint=what or ("the chain ends with one tensor: name it with `name = ...`" if len(result) == 1
                                          else f"write {len(result)} names in the parentheses"))
        if len(result) != len(names):  # an earlier step failed (reported): stand-ins, no echo
            result = [self.placeholder(stmt.span) for _ in names]
        for (name, span), tensor in zip(stmt.targets, result):
            self.bind(name, tensor, env, span)

    def input_decl(self, stmt: ast.InputDecl, env: Env) -> None:
        if env.in_block:
            # bound by the caller before the body runs; a written shape is checked against
            # the tensor passed in once shapes are known (passes/shapes.check_declared)
            if stmt.shape is not None:
                self.declared_shapes.append(DeclaredShape(
                    env.tensors[stmt.name], stmt.name, self.input_dims(stmt, env), stmt.dtype, stmt.span,
                    env.call_span, env.prefix))
            return
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
        try:
            shape: list[int | str] | None = ["batch", *self.input_dims(stmt, env)]
        except SpecError as e:
            self.report(e)
            shape = None  # still define the input, so its uses do not report more errors
        self.tensors[stmt.name] = construct(TensorInfo, name=stmt.name, shape=shape, dtype=dtype, producer=None,
                                            span=stmt.span)
        self.inputs.append(stmt.name)
        env.tensors[stmt.name] = stmt.name

    def input_dims(self, stmt: ast.InputDecl, env: Env) -> list[int | str]:
        """The dimensions written in `input x: [...]` (batch not included), arithmetic
        evaluated with the block's parameters; SpecError (E210, E213) at the first bad one."""
        dims = []
        for d, span in stmt.shape:
            if type(d) is str and d in RESERVED_DIMS:
                raise SpecError("E210", "the batch dimension is implicit; do not write it", span,
                                hint=f"write the shape of one sample, e.g. `input {stmt.name}: [64]`")
            dims.append(shape_dimension(d, span, env.params, env.in_block))
        return dims

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
        for i, step in enumerate(chain.steps):
            try:
                if i and len(current) > 1:
                    self.refuse_unnamed_outputs(current, step)
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
        self.placeholders.add(name)
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
            def times_of(s: ast.StepRepeat) -> int:  # `repeat 3`, or `repeat depth` in a block
                return s.times if type(s.times) is int else evaluate(s.times, env.params, env.in_block)
            times = times_of(step)
            if times < 1:
                raise SpecError("E203", "repeat needs a count of at least 1", step.span,
                                hint=None if type(step.times) is int else f"the count is {times} here")
            expansion = _expansion(step, times_of)
            if expansion + len(self.layers) > MAX_LAYERS:
                raise TooLarge("E203", f"this repeat expands to {expansion:,} layers, more than the "
                               f"limit of {MAX_LAYERS:,}", step.span, hint="check the nested `repeat` counts")
            outer = self.within
            rid = self.open_expansion(f"repeat:{len(self.expansions.labels)}", f"repeat {times}")
            try:
                for i in range(times):
                    if len(step.steps) > 1:  # iterations of a longer body are told apart too
                        self.open_expansion(f"{rid}:{i}", f"{i + 1} of {times}", (*outer, rid))
                    for inner in step.steps:
                        current = self.step(inner, current, env)
                        if current is None:
                            return None
                    self.within = (*outer, rid)
            finally:
                self.within = outer
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
        skey = None if env.params else key_as_written(call)
        first = self.by_syntax.get(skey) if skey is not None else None
        if first is not None and call.func not in env.blocks and call.func not in env.layers:
            self.check_room(call.span)
            layer = copy_layer(first, call.span)
            if call.args:  # its own arguments' places (for errors at an argument), on first use
                layer.keep_arg_spans(functools.partial(written_arg_places, type(layer), call))
            base = f"{env.prefix}_{snake(layer.kind)}" if env.prefix else snake(layer.kind)
            self.add_layer(layer, self.unique_layer_name(base))
            return self.apply(layer, current, call.span, env)
        pycall = self.to_pycall(call, env)
        if call.func in env.blocks:
            return self.expand_block(env.blocks[call.func], pycall, current, env)
        if call.func in env.layers:
            return self.apply_shared_with_args(call, pycall, current, env)
        if REGISTRY.get(call.func) is None:
            raise self.unknown_callable(call.func, call.name_span, env, call)
        layer = self.new_layer(call.func, call.span, env, pycall=pycall, syntax_key=skey)
        if layer is None:
            return None
        return self.apply(layer, current, call.span, env)

    def apply_shared_with_args(self, call: ast.Call, pycall: PyCall, current: list[str], env: Env) -> list[str]:
        """`-> wte(reverse=true)`: a shared Embedding applied reversed, projecting vectors onto
        its vocabulary with its own matrix (weight tying, keras-hub's ReversibleEmbedding
        called with reverse=True): a ReverseEmbedding layer that reads the Embedding's
        weight. `reverse=false` is the plain application. Any other argument is refused:
        a shared layer's arguments are fixed where it is declared."""
        name = call.func
        shared = self.layers[env.layers[name]]
        other = [k for k in pycall.kwargs if k != "reverse"]
        if pycall.args or other or "reverse" not in pycall.kwargs:
            at = pycall.arg_spans.get(0, call.span) if pycall.args else \
                pycall.arg_spans.get(other[0], call.span) if other else call.span
            raise SpecError("E200", f"'{name}' is a shared layer; apply it without arguments", at,
                            hint=f"write `-> {name}`" + (f", or `-> {name}(reverse=true)` for the output "
                                                         "projection that reuses its matrix (weight tying)"
                                                         if shared.kind == "Embedding" else ""))
        reverse = pycall.kwargs["reverse"]
        at = pycall.arg_spans.get("reverse", call.span)
        if not isinstance(reverse, bool):
            raise SpecError("E203", f"reverse must be true or false, got {reverse!r}", at,
                            hint=f"`-> {name}(reverse=true)` projects vectors onto the vocabulary")
        if not reverse:
            return self.apply(shared, current, call.span, env)
        if shared.kind != "Embedding":
            raise SpecError("E203", f"reverse=true ties weights to an Embedding, but '{name}' is a {shared.kind}",
                            at, hint="declare the token embedding as a shared layer, `layer wte = Embedding(V, D)`, "
                                     "and write `-> wte(reverse=true)` for the output projection",
                            related=[(shared.span, f"'{name}' is declared here")] if shared.span else [])
        self.check_room(call.span)
        base = f"{env.prefix}_{name}_reverse" if env.prefix else f"{name}_reverse"
        layer = self.build_layer(PyCall("ReverseEmbedding", [], {
            "embedding": shared.name, "input_dim": shared.input_dim, "output_dim": shared.output_dim}, call.span))
        self.add_layer(layer, self.unique_layer_name(base))
        self.tied_layers.append(layer)
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
            hint = ((self.several_outputs_hint(inputs) or "merge the tensors first, e.g. `(a, b) -> Concatenate()`")
                    if n > 1 else f"give it several tensors: `(a, b) -> {layer.kind}()`")
            raise SpecError("E207", f"{layer.kind} '{layer.name}' takes {want} input(s), got {n}", span, hint=hint)
        lname = layer.name
        k = self.applications[lname]
        self.applications[lname] = k + 1
        node = lname if k == 0 else f"{lname}_call{k}"
        outs = [self.fresh_name(node)]
        for role in layer.extra_outputs():  # several outputs (return_state): <node>_state_h ...
            outs.append(self.fresh_name(f"{node}_{role}"))
        self.nodes.append(construct(Node, name=node, layer=lname, inputs=list(inputs), outputs=outs, span=span))
        self.node_by_name[node] = self.nodes[-1]
        for out in outs:
            self.tensors[out] = construct(TensorInfo, name=out, shape=None, dtype="float32", producer=node, span=span)
            self.unnamed.add(out)
        return outs

    def refuse_unnamed_outputs(self, current: list[str], step) -> None:
        """The outputs of a multi-output layer (return_state) go on only by name: chained
        straight into the next layer, an LSTM would read the states as its initial states
        and a merge would mix a sequence with its states, silently."""
        hint = self.several_outputs_hint(current)
        if hint is not None:
            raise SpecError("E207", f"{len(current)} tensors from one layer flow into the next step; name them first",
                            step.span, hint=hint)

    def several_outputs_hint(self, tensors: list[str]) -> str | None:
        """When `tensors` are the outputs of one multi-output layer (return_state), how to
        name them, for the errors of a step that wanted one tensor."""
        node = self.node_by_name.get(self.tensors[tensors[0]].producer) if tensors[0] in self.tensors else None
        if node is None or node.outputs != tensors:
            return None
        layer = self.layers[node.layer]
        roles = ["output", *layer.extra_outputs()]
        return (f"{layer.kind} '{layer.name}' gives {len(roles)} tensors ({', '.join(roles)}): name each, "
                f"`({', '.join(r.removeprefix('state_') if r != 'output' else 'y' for r in roles)}) = ...`, "
                "then use them by name")

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
        for i, p in enumerate(d.params):
            if p.name not in params:
                if p.default is None:
                    raise SpecError("E212", f"block '{d.name}' needs the argument '{p.name}'", call.span,
                                    hint=_block_sig(d))
                # a default may use the parameters written before it: `block b(filters, mid=filters//4)`
                block_env.params = {q.name: params[q.name] for q in d.params[:i]}
                params[p.name] = self.to_python(p.default, block_env)
        block_env.params = params
        k = self.counters[f"block:{d.name}"]
        self.counters[f"block:{d.name}"] += 1
        base = d.name if k == 0 else f"{d.name}_{k}"
        block_env.prefix = f"{env.prefix}_{base}" if env.prefix else base
        block_env.call_span = call.span
        if len(self.import_stack) > 50 or env.prefix.count("_") > 200:
            raise SpecError("E212", f"block '{d.name}' is nested too deeply (recursive?)", call.span)
        for decl, tensor in zip(inputs, current):
            block_env.tensors[decl.name] = tensor
        outer = self.within
        self.open_expansion(block_env.prefix, f"{d.name}(" + ", ".join(f"{k}={show(v)}" for k, v in params.items())
                            + ")")
        try:
            for stmt in d.body:
                self.call_or_report(self.statement, stmt, block_env)
        finally:
            self.within = outer
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
        if is_arithmetic(v):
            return evaluate_value(v, env.params, env.in_block)
        return ast.value_to_python(v)

    def to_pycall(self, call: ast.Call, env: Env) -> PyCall:
        args, kwargs, spans = [], {}, {}
        for a in call.args:
            value = self.to_python(a.value, env)
            if type(a.value) in (ast.ListV, ast.TupleV) and any(map(is_arithmetic, a.value.items)):
                self.check_computed_sizes(call, a, len(args), env)
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

    def check_computed_sizes(self, call: ast.Call, a: ast.Arg, position: int, env: Env) -> None:
        """A list of sizes (Layer.size_lists: Reshape's target_shape) whose items are
        computed: each must come out at least 1. -1 ("infer this size") is written as -1;
        `w // 2 - 1` coming out -1 is a mistake, not a request to infer (E203 at the item)."""
        cls = REGISTRY.get(call.func) if call.func not in env.blocks else None
        if cls is None or not cls.size_lists:
            return
        key = a.name if a.name is not None else cls.positional[position] if position < len(cls.positional) else None
        key = cls.arg_aliases.get(key, key)
        if key in cls.size_lists:
            for item in a.value.items:
                if is_arithmetic(item):
                    computed_size(item, env.params, env.in_block, f"{call.func}'s {key}")

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
        cls = REGISTRY.get(kind)
        if cls is not None and cls.written_as is not None:
            # a kind made from another spelling (ReverseEmbedding: apply_shared_with_args)
            raise SpecError("E200", f"{cls.model_fields['kind'].default} is not written by name: write "
                            f"`-> {cls.written_as}`", span,
                            hint="NAME is a shared layer, declared with `layer NAME = Kind(...)` "
                                 "(docs/language.md, Weight tying)")
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
        if self.within:
            self.expansions.of_layer[name] = self.within
        return layer

    def open_expansion(self, eid: str, label: str, outer: tuple[str, ...] | None = None) -> str:
        """Enter a block call or repeat (inside `outer`, default: the current one): the layers
        made from now on are recorded in it (Expansions)."""
        self.expansions.labels[eid] = label
        self.within = (*(self.within if outer is None else outer), eid)
        return eid

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
        call as written (key_as_written), remembered for call_step's shortcut."""
        cls = REGISTRY.get(call.func)
        if cls is None:
            raise SpecError("E200", f"unknown layer '{call.func}'", call.span,
                            hint=did_you_mean(call.func, REGISTRY.all_names()))
        kind, fields, roles = arg_fields(cls)
        # Identical calls (a `repeat` body, a generated spec) validate once; later ones
        # copy the first layer with their own span (pydantic validation is most of the
        # cost of a layer). Calls holding a nested layer are built afresh each time.
        key = None if "layer" in roles.values() else key_of_values(call)
        if key is None:
            layer = self._build_layer(call, cls, kind, fields, roles, prefix)
        else:
            first = self.built.get(key)
            if first is None:
                layer = first = self.built[key] = self._build_layer(call, cls, kind, fields, roles, prefix)
            else:
                layer = copy_layer(first, call.span)
            if syntax_key is not None:
                self.by_syntax[syntax_key] = first
            if layer is not first and call.arg_spans:  # a copy: its own arguments' places
                layer.keep_arg_spans(arg_places(cls, call.arg_spans.items()))
        return layer

    def _build_layer(self, call: PyCall, cls, kind: str, fields: dict, roles: dict, prefix: str) -> Layer:
        aliases = cls.arg_aliases
        data: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        if len(call.args) > len(cls.positional):
            extra = call.arg_spans.get(len(cls.positional), call.span)
            raise SpecError("E203", f"{kind} takes at most {len(cls.positional)} positional argument(s) "
                            f"({', '.join(cls.positional) or 'none'}), got {len(call.args)}", extra,
                            hint=layer_usage(cls))
        for i, v in enumerate(call.args):
            data[cls.positional[i]] = v
            spans[cls.positional[i]] = call.arg_spans.get(i, call.span)
        for k, v in call.kwargs.items():
            if k == "name":
                continue
            key = aliases.get(k, k)
            if key not in fields and k in cls.keras_not_taken:
                raise SpecError("E201", f"{kind} does not take Keras' argument '{k}'", call.arg_spans.get(k, call.span),
                                hint=cls.keras_not_taken[k])
            if key not in fields:
                hint = did_you_mean(k, [*fields, *aliases])
                raise SpecError("E201", f"{kind} has no argument '{k}'", call.arg_spans.get(k, call.span),
                                hint=hint or layer_usage(cls))
            if key in data:
                raise SpecError("E209", f"argument '{key}' of {kind} given twice", call.arg_spans.get(k, call.span),
                                hint=f"keep one '{key}' (by position or by name, not both); {layer_usage(cls)}")
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
                                hint=layer_usage(cls))
            else:  # a plain value: its type and range, in specc's words (catalog.base.coerce)
                try:
                    data[key] = converters(cls)[key](v)
                except NotWhole as err:
                    raise SpecError("E213", f"'{key}' of {kind} {err}", span, hint=err.hint) from None
                except ValueError as err:
                    raise SpecError(value_code(key), f"'{key}' of {kind} {err}", span,
                                    hint=arg_help(cls, key)) from None
        if all(k in data for k in required_fields(cls)) and all(data.get(k, 0) is not None for k in catalog_fields(cls)):
            # every value is converted and checked above (the converters, resolve_fn, inner
            # layers) and kinds declare no pydantic validators: building the pydantic schema of
            # each kind used (~5 ms a kind, most of a small spec's `specc check`) would only
            # check them again
            data["kind"], data["span"] = kind, call.span
            values = {k: data[k] if k in data else d if f is None else f.get_default(call_default_factory=True)
                      for k, d, f in field_defaults(cls)}  # (get_default: a copy of a mutable default)
            layer = construct_from(cls, values, set(data))  # = model_construct, cheaper
            layer.keep_arg_spans(spans)
            layer.validate_args()
            return layer
        try:
            layer = cls.model_validate({**data, "kind": kind, "span": call.span})
        except ValidationError as e:
            err = e.errors()[0]
            key = str(err["loc"][0]) if err["loc"] else ""
            if err["type"] == "missing":
                raise SpecError("E202", f"{kind} needs the argument '{key}'", call.span, hint=layer_usage(cls)) from None
            # plain values passed coerce above; what is left is a kind's own validator
            # (its ValueError says "must be ..., got ...") or an odd catalogue value: never
            # pydantic's own wording
            if err["type"] == "value_error":
                msg = err["msg"].removeprefix("Value error, ")
            elif roles.get(key) not in (None, "layer"):  # none given for a catalogue reference
                cat = CATALOGS[roles[key]]
                msg = f"must name {with_article(cat.kind)} (e.g. {cat.names()[0]}), got {show(written_value(call, key, cls))}"
            else:
                msg = f"must be {describe(declared_type(fields[key])) if key in fields else 'another value'}, " \
                      f"got {show(data.get(key))}"
            raise SpecError(value_code(key), f"'{key}' of {kind} {msg}", spans.get(key, call.span),
                            hint=arg_help(cls, key) if key in fields else layer_usage(cls)) from None
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
        raise SpecError("E203", f"{who} must name {with_article(cat.kind)} (e.g. {cat.names()[0]}), got {show(v)}", span,
                        hint=f"{cat.kind}s: {', '.join(cat.names())} (docs/catalog.md)")


def _expansion(step, times_of) -> int:
    """How many layer applications a step expands to (blocks counted as one); `times_of`
    gives a `repeat`'s count."""
    if isinstance(step, ast.StepRepeat):
        return max(times_of(step), 0) * sum(_expansion(s, times_of) for s in step.steps)
    return 0 if isinstance(step, ast.StepOutput) else 1


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
        elif isinstance(stmt, ast.AssignMany):
            for name, span in stmt.targets:
                names.setdefault(name, span)
            steps(stmt.chain.steps)
        elif isinstance(stmt, ast.ChainStmt):
            steps(stmt.chain.steps)
        elif isinstance(stmt, ast.LayerDecl):
            names.setdefault(stmt.name, stmt.span)
    return names
