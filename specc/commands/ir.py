"""specc ir SPEC: the resolved IR as JSON."""
from __future__ import annotations

HELP = "print the resolved IR of a spec as JSON"


def add_arguments(p) -> None:
    p.add_argument("spec")
    p.add_argument("-o", "--output", help="write to a file instead of stdout")


def run(args) -> int:
    from ._common import load_network, root_of, write_atomic
    net = load_network(args.spec, root=root_of(args))
    text = net.model_dump_json(indent=2)
    if args.output:
        write_atomic(args.output, text + "\n")
    else:
        print(text)
    return 0
