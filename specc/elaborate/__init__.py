"""Syntax tree -> IR: resolve names, expand blocks and repeats, build layers from calls.

Shapes are not computed here (passes/shapes.py does that); this stage only knows which
layer is applied to which tensors. Problems become diagnostics and elaboration goes on,
so one run reports every error of a file.

  elaborator.py   the Elaborator: statements, chains, imports, blocks, `repeat`, layers
  scope.py        naming scopes (Env), calls as Python values (PyCall), the expansion limit,
                  Expansions (which block calls / repeats made each layer: diagram clusters)
  call_keys.py    keys that recognise a call seen before (identical layers validate once)
  layer_args.py   a layer class's arguments: roles, converters, usage and help lines
  arithmetic.py   integer expressions in values (`4*filters`, `repeat depth`), E213
  sections.py     the train / expect / test sections
"""
from .elaborator import Elaborator
from .scope import MAX_LAYERS, Env, Expansions, PyCall, TooLarge
from .sections import build_expect, build_test, build_train

__all__ = ["Elaborator", "Env", "Expansions", "MAX_LAYERS", "PyCall", "TooLarge", "build_expect", "build_test", "build_train"]
