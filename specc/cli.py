"""The `specc` command line. Each command lives in specc/commands/<name>.py with
HELP, add_arguments(parser) and run(args) -> exit code; heavy libraries (torch, onnx,
onnxruntime) are imported inside run() only, so `specc check` stays light.

Exit codes: 0 success, 1 the spec (or check) failed, 2 usage or I/O error.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys

from . import __version__

# name -> module under specc.commands (order = order in --help)
COMMANDS = ["check", "summary", "fmt", "ir", "schema", "build", "train", "verify", "predict", "serve",
            "test", "graph"]
# Commands that compile a spec (and its imports): they take --root DIR, the folder that
# imports may not leave (specc.compile.SpecFiles).
COMPILE_COMMANDS = {"check", "summary", "ir", "build", "train", "verify", "graph"}


def _module(name: str):
    return importlib.import_module(f"specc.commands.{name}")


def parser(only: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="specc", description="Compile, check and test neural-network specs (.net).")
    p.add_argument("--version", action="version", version=f"specc {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            sub.add_parser(name, help="")  # keep the name known without importing its module
            continue
        try:
            mod = _module(name)
        except ModuleNotFoundError as e:
            if e.name != f"specc.commands.{name}":
                raise
            continue  # not built yet
        sp = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(sp)
        if name in COMPILE_COMMANDS:
            from .commands._common import add_root_argument
            add_root_argument(sp)
        sp.set_defaults(_run=mod.run)
    return p


def _skip_pydantic_plugin_loader() -> None:
    """Even with plugins disabled, pydantic imports its plugin loader module when it builds
    the first validator, and that module imports importlib.metadata (and email, csv, ...):
    ~40 M instructions, 6% of `specc check`. With every plugin disabled the loader can only
    answer "no plugins", so a stand-in that says so replaces it."""
    name = "pydantic.plugin._loader"
    if name in sys.modules:
        return
    import types
    stub = types.ModuleType(name)
    stub.get_plugins = lambda *args, **kwargs: ()

    def real(attr: str):  # anything else (a newer pydantic's loader): the real module
        del sys.modules[name]
        import importlib
        return getattr(importlib.import_module(name), attr)

    stub.__getattr__ = real
    sys.modules[name] = stub


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # pydantic looks for third-party plugins by reading the metadata of every installed
    # distribution the first time it builds a validator (tens of ms with a large
    # environment, a fifth of `specc check`). specc's models are internal: no plugins.
    if os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__") == "__all__":
        _skip_pydantic_plugin_loader()
    # Import only the chosen command's module (fast start-up for `specc check`).
    chosen = next((a for a in argv if not a.startswith("-")), None)
    only = chosen if chosen in COMMANDS else None
    p = parser(only)
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if not getattr(args, "_run", None):
        p.print_help()
        return 2
    from .commands._common import Exit
    from .errors import UserError
    from .output import OutputError
    try:
        return int(args._run(args) or 0)
    except Exit as e:  # a command's own exit, after it printed why
        return e.code
    except UserError as e:  # the library refused an argument or a file: it says why, the CLI prints it
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except MemoryError as e:  # weights too large for this machine (specc.weights.check_memory), or out of memory
        print(f"error: {e}" if str(e) else "error: out of memory", file=sys.stderr)
        return 1
    except OutputError as e:  # an output path that cannot be written (atomic_output): I/O, exit 2
        print(f"error: cannot write '{e.filename}': {e.strerror}", file=sys.stderr)
        return 2
    except OSError as e:  # any other file the command could not read or write: I/O, exit 2
        where = f"'{e.filename}': " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug in specc: say so plainly, without a traceback wall
        import traceback
        if os.environ.get("SPECC_DEBUG"):
            traceback.print_exc()
        print(f"internal error in specc {args.command}: {type(e).__name__}: {e}\n"
              "  this is a bug in specc, not in your spec; rerun with SPECC_DEBUG=1 for the traceback",
              file=sys.stderr)
        return 2


# Commands that only compile specs and print: they run with the cyclic garbage collector
# off and end without interpreter teardown (flushing first), like mypy's hard exit.
# Freeing pydantic's many objects one by one took ~30 ms, a tenth of `specc check`.
QUICK_EXIT = {"check", "summary", "fmt", "ir", "schema"}


def entry() -> None:
    """The `specc` console script."""
    chosen = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if chosen not in QUICK_EXIT:
        sys.exit(main())
    gc.disable()
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed pipe: nothing left to deliver
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
