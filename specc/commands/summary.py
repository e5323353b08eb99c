"""specc summary SPEC: per layer kind, output shape and parameters; totals."""
from __future__ import annotations

import json

from ..summary import summary_data, summary_text

HELP = "print the layers, shapes and parameter counts of a spec"


def add_arguments(p) -> None:
    p.add_argument("spec")
    p.add_argument("--format", choices=["text", "json"], default="text")


def run(args) -> int:
    from ._common import load_network, root_of
    net = load_network(args.spec, root=root_of(args))
    if args.format == "json":
        print(json.dumps(summary_data(net), indent=2))
    else:
        print(summary_text(net))
    return 0
