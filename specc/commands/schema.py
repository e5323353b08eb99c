"""specc schema: the JSON Schema of the IR."""
from __future__ import annotations

import json

HELP = "print the JSON Schema of the IR"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from ..ir import schema
    print(json.dumps(schema(), indent=2))
    return 0
