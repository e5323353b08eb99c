"""specc graph SPEC [-o model.svg|model.png|model.dot]: the model diagram.

DOT text is made by specc itself (specc/diagram.py) and always written (`-o x.dot`, or
beside an .svg/.png as x.dot; to stdout without -o). SVG and PNG are rendered by the
Graphviz `dot` program when it is installed; otherwise the .dot is still written and the
message says how to install Graphviz. Exit codes: 0 written, 1 the spec has errors,
2 usage or I/O error (unknown extension, cannot write, Graphviz missing or failing).
"""
from __future__ import annotations

import os
import shutil
import subprocess

HELP = "draw the network as a diagram (Graphviz DOT; SVG/PNG through Graphviz when installed)"

FORMATS = (".dot", ".gv", ".svg", ".png", ".pdf")
INSTALL = ("Graphviz is not installed (no `dot` on PATH). Install it with `apt-get install graphviz` "
           "(Debian/Ubuntu), `brew install graphviz` (macOS) or `conda install graphviz`, then run "
           "`dot -T{fmt} {dot} -o {out}`")


def add_arguments(p) -> None:
    p.add_argument("spec")
    p.add_argument("-o", "--output", help="model.svg, model.png, model.pdf or model.dot (default: DOT to stdout)")
    p.add_argument("--direction", choices=["TB", "LR"], default="TB", help="top-to-bottom (default) or left-to-right")
    p.add_argument("--no-params", action="store_true", help="leave parameter counts off the boxes")


def run(args) -> int:
    from ..diagram import to_dot
    from ._common import eprint, load_result, root_of, write_atomic

    out = args.output
    ext = os.path.splitext(out)[1].lower() if out else ".dot"
    if out and ext not in FORMATS:
        eprint(f"error: -o {out}: unknown diagram format '{ext or '(none)'}'; use .svg, .png, .pdf or .dot")
        return 2
    result = load_result(args.spec, root=root_of(args))
    net = result.network
    dot = to_dot(net, direction=args.direction, params=not args.no_params, expansions=result.expansions)
    if not out:
        print(dot, end="")
        return 0
    dot_path = out if ext in (".dot", ".gv") else os.path.splitext(out)[0] + ".dot"
    try:
        write_atomic(dot_path, dot)
    except OSError as e:
        eprint(f"error: cannot write {dot_path}: {e.strerror or e}")
        return 2
    if ext in (".dot", ".gv"):
        print(f"wrote {dot_path} ({len(net.layers)} layers)")
        return 0
    exe = shutil.which("dot")
    if exe is None:
        eprint(f"wrote {dot_path}, but not {out}: " + INSTALL.format(fmt=ext[1:], dot=dot_path, out=out))
        return 2
    tmp = os.path.join(os.path.dirname(os.path.abspath(out)), f".tmp-{os.getpid()}-{os.path.basename(out)}")
    try:
        proc = subprocess.run([exe, f"-T{ext[1:]}", dot_path, "-o", tmp], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or not os.path.exists(tmp):
            eprint(f"error: Graphviz failed to render {out}: {proc.stderr.strip() or proc.returncode}")
            return 2
        os.replace(tmp, out)
    except (OSError, subprocess.TimeoutExpired) as e:
        eprint(f"error: cannot render {out} with Graphviz: {e}")
        return 2
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"wrote {out} and {dot_path}")
    return 0
