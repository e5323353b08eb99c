"""The fast hand-written parser and the Lark (reference) parser build identical trees."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specc import lark_parser
from specc import parse as ast
from specc.errors import SpecError
from specc.fastparse import Bail, parse_fast

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").rglob("*.net")) + \
    sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))


def lark_items(text: str, file: str):
    return lark_parser._ToAst(file).transform(lark_parser._parser().parse(text))


def both(text: str, file: str = "t.net"):
    try:
        slow = lark_items(text, file)
    except Exception:
        slow = "error"
    try:
        fast = parse_fast(text, file)
    except (Bail, SpecError, RecursionError):
        fast = "bail"
    return slow, fast


@pytest.mark.parametrize("rel", [f for f in FILES if f.endswith(".net")])
def test_same_tree_on_every_spec(rel):
    text = (ROOT / rel).read_bytes().decode("utf-8", errors="replace")
    slow, fast = both(text, rel)
    if slow == "error":
        assert fast == "bail"
    else:
        assert fast == slow  # dataclass equality: same nodes, same spans


def test_fast_path_is_taken_on_the_library():
    text = (ROOT / "specs/digits_mlp/model.net").read_text()
    assert parse_fast(text, "x") == lark_items(text, "x")


_LIBRARY = [(ROOT / f).read_text(errors="replace") for f in FILES if f.endswith(".net") and "invalid" not in f]
_PIECES = ["->", "(", ")", "[", "]", "{", "}", ",", "=", ":", "output ", "input ", "repeat 2 ", "layer ", " x ",
           "Dense(3)", "1e-3", "-1", '"s"', "\n", "# c\n", "network", "(a, b)", "relu", " ",
           "*", "//", "+1", "/", "%", "-", "(n+1)", "repeat n ", "2*", "8 - "]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(_LIBRARY))), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3),
                                                                  st.sampled_from(_PIECES)), max_size=4))
def test_agree_on_mutations(index, edits):
    text = _LIBRARY[index]
    for where, op, piece in edits:
        i = int(where * len(text))
        if op == 0:
            text = text[:i] + piece + text[i:]
        elif op == 1:
            text = text[:i] + text[i + len(piece):]
        elif op == 2:
            text = text[:i] + piece + text[i + len(piece):]
        else:
            text = text[:i]
    slow, fast = both(text)
    if fast != "bail":
        assert fast == slow, "fast parser accepted text differently from Lark"


def test_keyword_setting_keys_follow_lark():
    # found by test_agree_on_mutations: after a call value, Lark lexes `input` / `output` /
    # `layer` as keywords and rejects them as setting keys; elsewhere it takes them as names
    base = "network n {\n input x: [2]\n x -> Dense(1) -> output y\n train {\n %s\n }\n}\n"
    for body in ("optimizer = SGD(lr=0.05)\n input = 32", "optimizer = SGD()\n layer = 1",
                 "loss = mse\n input = 32", "repeat = 2"):
        slow, fast = both(base % body)
        assert fast == "bail" or fast == slow, body
