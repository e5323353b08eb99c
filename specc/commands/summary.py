"""specc summary SPEC: per layer kind, output shape, parameters and cost (MACs, activation
and weight bytes); totals, peak activation memory and a training memory estimate."""
from __future__ import annotations

import argparse
import json

from ..summary import summary_data, summary_text

HELP = "print the layers, shapes, parameter counts and cost (MACs, memory) of a spec"


def _size(text: str) -> int:
    """A --batch or --dim size (catalog.base.whole_at_least_one, the rule network_cost applies)."""
    from ..catalog.base import whole_at_least_one
    try:
        n = int(text)
    except ValueError:
        n = 0
    if problem := whole_at_least_one(n, written=text):
        raise argparse.ArgumentTypeError(problem)
    return n


def _dims(text: str) -> dict[str, int]:
    out = {}
    for item in text.split(","):
        name, eq, value = item.partition("=")
        if not eq or not name.strip().isidentifier():
            raise argparse.ArgumentTypeError(f"'{item}' is not NAME=SIZE (e.g. --dim seq=200)")
        out[name.strip()] = _size(value.strip())
    return out


def add_arguments(p) -> None:
    p.add_argument("spec")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--batch", type=_size, default=1, metavar="N",
                   help="batch size for activation memory and the training estimate (default 1; MACs are per sample)")
    p.add_argument("--dim", type=_dims, action="append", default=[], metavar="NAME=SIZE",
                   help="size of a symbolic dimension, e.g. --dim seq=200 (repeatable or comma-separated); "
                        "without it, costs that depend on it are formulas")
    p.add_argument("--no-cost", dest="cost", action="store_false",
                   help="leave out the cost (MACs, activation and weight memory): the table and JSON keys of "
                        "specc 0.1")


def run(args) -> int:
    from ..passes.cost import symbolic_names
    from ._common import eprint, load_network, root_of
    net = load_network(args.spec, root=root_of(args))
    dims = {k: v for d in args.dim for k, v in d.items()}
    known = symbolic_names(net)
    unknown = [k for k in dims if k not in known]
    if unknown:
        eprint(f"error: --dim {unknown[0]}: the spec has no symbolic dimension '{unknown[0]}' "
               f"({'its symbolic dimensions: ' + ', '.join(known) if known else 'all its dimensions are numbers'})")
        return 2
    try:
        if args.format == "json":
            text = json.dumps(summary_data(net, args.batch, dims, args.cost), indent=2)
        else:
            text = summary_text(net, args.batch, dims, args.cost)
    except ValueError as e:  # sizes that empty a tensor
        eprint(f"error: {e}")
        return 2
    print(text)
    return 0
