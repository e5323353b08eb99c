"""Property tests over the spec library (hypothesis).

- the IR JSON of every spec round-trips exactly;
- random mutations of every spec's text never make specc.compile.compile_source raise:
  it returns diagnostics, and those diagnostics render;
- `specc check` (through specc.cli.main) on mutated files and on hostile input (binary
  junk, empty file, a directory, a 1 MB line, deep nesting, non-UTF-8) exits 0, 1 or 2
  without a traceback or an "internal error".
"""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden_tools import ROOT, compile_text, compiled, extra_net_files, render, spec_names, spec_rel
from specc.compile import Result
from specc.errors import render_text
from specc.ir import Network

RELS = [spec_rel(n) for n in spec_names()] + extra_net_files()
TEXTS = {rel: (ROOT / rel).read_text(encoding="utf-8") for rel in RELS}
TOKEN = re.compile(r"\s+|[A-Za-z_][A-Za-z0-9_.]*|[0-9.eE+-]+|->|\"[^\"\n]*\"|#[^\n]*|.", re.S)
JUNK = ["->", "(", ")", "[", "]", "{", "}", ",", "=", ":", "#", "\"", "\n", " ", "0", "-1", "1e309", "nan",
        "network", "block", "input", "output", "layer", "repeat", "from", "import", "train", "expect",
        "Dense(", "LSTM(", "int64[", "batch", "é", "\u202e", "\t", "\x0b", "\\", "**", "repeat 0 {", "x -> x"]
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------ IR round trip


@pytest.mark.parametrize("rel", RELS)
def test_ir_json_round_trips(rel):
    net = compiled(rel).network
    text = net.model_dump_json()
    back = Network.model_validate_json(text)
    assert back == net
    assert back.model_dump_json() == text
    assert back.model_dump_json(indent=2) == net.model_dump_json(indent=2)


# ------------------------------------------------------------------ mutations


@st.composite
def char_mutation(draw):
    rel = draw(st.sampled_from(RELS))
    text = TEXTS[rel]
    n = len(text)
    op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "truncate", "replace"]))
    i = draw(st.integers(0, n - 1))
    j = min(n, i + draw(st.integers(1, 40)))
    if op == "delete":
        text = text[:i] + text[j:]
    elif op == "duplicate":
        text = text[:j] + text[i:j] + text[j:]
    elif op == "swap":
        k = draw(st.integers(0, n - 1))
        a, b = sorted((i, k))
        if a != b:
            text = text[:a] + text[b] + text[a + 1:b] + text[a] + text[b + 1:]
    elif op == "insert":
        junk = draw(st.one_of(st.sampled_from(JUNK), st.text(max_size=12)))
        text = text[:i] + junk + text[i:]
    elif op == "truncate":
        text = text[:i]
    else:
        text = text[:i] + draw(st.text(min_size=1, max_size=8)) + text[j:]
    return rel, text


@st.composite
def token_mutation(draw):
    rel = draw(st.sampled_from(RELS))
    toks = TOKEN.findall(TEXTS[rel])
    for _ in range(draw(st.integers(1, 3))):
        n = len(toks)
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "move"]))
        i, k = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        if op == "delete":
            del toks[i]
        elif op == "duplicate":
            toks.insert(i, toks[i])
        elif op == "swap":
            toks[i], toks[k] = toks[k], toks[i]
        elif op == "insert":
            toks.insert(i, draw(st.sampled_from(JUNK + toks)))
        else:
            toks.insert(k, toks.pop(i))
    return rel, "".join(toks)


def _compiles_without_raising(rel: str, text: str) -> Result:
    result = compile_text(text, rel)
    assert isinstance(result, Result)
    for d in result.diagnostics:
        assert d.code and d.message
        render_text(d, result.sources, color=False)  # every diagnostic renders
    if result.network is not None and result.ok:
        render(result.network)  # summary and IR of an accepted network work too
    return result


@settings(FAST, max_examples=150)
@given(char_mutation())
def test_char_mutations_never_raise(case):
    _compiles_without_raising(*case)


@settings(FAST, max_examples=150)
@given(token_mutation())
def test_token_mutations_never_raise(case):
    _compiles_without_raising(*case)


def test_unmutated_specs_pass_the_same_harness():
    """The harness itself accepts the library (so a failure above means the mutation)."""
    for rel in RELS[:5]:
        assert _compiles_without_raising(rel, TEXTS[rel]).ok


# ------------------------------------------------------------------ fmt on mutated specs


def _without_spans(obj):
    if isinstance(obj, dict):
        return {k: _without_spans(v) for k, v in obj.items() if k not in ("span", "spans")}
    if isinstance(obj, list):
        return [_without_spans(v) for v in obj]
    return obj


@settings(FAST, max_examples=60)
@given(st.one_of(token_mutation(), st.sampled_from(RELS).map(lambda r: (r, TEXTS[r]))))
def test_fmt_is_idempotent_and_keeps_the_ir(case):
    """fmt of any text that parses is a fixed point, and compiles to the same IR (spans aside)."""
    from specc.errors import SpecError
    from specc.format import format_source
    rel, text = case
    try:
        once = format_source(text, rel)
    except SpecError:
        return  # not parseable: fmt refuses it with a diagnostic, which is fine
    assert format_source(once, rel) == once
    before, after = compile_text(text, rel), compile_text(once, rel)
    # errors only: fmt may join a wrapped call onto the line of its `# specc: ignore[...]`
    # comment, which then (rightly) suppresses a warning it did not reach before
    assert [d.code for d in before.errors] == [d.code for d in after.errors]
    if before.network is not None:
        assert after.network is not None
        assert (_without_spans(after.network.model_dump(mode="json"))
                == _without_spans(before.network.model_dump(mode="json")))


# ------------------------------------------------------------------ the CLI on hostile files


def _cli(args, capsys) -> tuple[int, str]:
    from specc.cli import main
    capsys.readouterr()
    rc = main(args)
    out = capsys.readouterr()
    text = out.out + out.err
    assert rc in (0, 1, 2), f"specc {' '.join(args)} exited {rc}\n{text[-2000:]}"
    assert "Traceback" not in text, text[-4000:]
    assert "internal error" not in text, text[-4000:]
    return rc, text


HOSTILE = {
    "empty.net": b"",
    "blank.net": b"   \n\n\t\n",
    "binary.net": bytes(range(256)) * 8,
    "binary_no_nul.net": bytes(range(1, 256)) * 8,
    "latin1.net": "network caf\xe9 { input x: [4]  x -> Dense(2) -> output y }".encode("latin-1"),
    "bad_utf8_tail.net": b"network n { input x: [4] x -> Dense(2) -> output y }\n# \xff\xfe\xc3",
    "bom.net": b"\xef\xbb\xbfnetwork n { input x: [4] x -> Dense(2) -> output y }",
    "long_line.net": b"network n { input x: [4] x -> Dense(2) -> output y } #" + b"x" * (1 << 20),
    "long_token.net": b"network " + b"n" * (1 << 20) + b" { }",
    "long_chain.net": (b"network n { input x: [4] x" + b" -> Dense(4)" * 1500 + b" -> output y }"),
    "deep_parens.net": b"network n { input x: [4] x -> Dense(" + b"(" * 5000 + b"1" + b")" * 5000 + b") -> output y }",
    "deep_brackets.net": b"network n { input x: " + b"[" * 5000 + b"4" + b"]" * 5000 + b" x -> output y }",
    "deep_braces.net": b"network n " + b"{" * 5000 + b"}" * 5000,
    "deep_repeat.net": (b"network n { input x: [4] x -> " + b"repeat 1 { " * 300 + b"Dense(4)" + b" }" * 300
                        + b" -> output y }"),
    "unclosed.net": b"network n { input x: [4] x -> Dense(4",
    "only_comment.net": b"# nothing here\n",
    "crlf.net": b"network n {\r\n input x: [4]\r\n x -> Dense(2) -> output y\r\n}\r\n",
    "self_import.net": b'from "self_import.net" import b\nnetwork n { input x: [4] x -> b() -> output y }',
    "missing_import.net": b'from "nowhere/lib.net" import b\nnetwork n { input x: [4] x -> b() -> output y }',
    "big_numbers.net": b"network n { input x: [99999999999999999999] x -> Dense(1e400) -> output y }",
}


ACCEPTED = {"bom.net", "crlf.net", "long_line.net", "long_chain.net", "deep_repeat.net"}  # valid specs


@pytest.mark.parametrize("fname", sorted(HOSTILE))
def test_cli_check_on_hostile_files(fname, tmp_path, capsys):
    path = tmp_path / fname
    path.write_bytes(HOSTILE[fname])
    rc, text = _cli(["check", str(path)], capsys)
    assert rc != 0 or fname in ACCEPTED, f"{fname} was accepted:\n{text}"
    if len(HOSTILE[fname]) < 10_000:
        _cli(["summary", str(path)], capsys)


def test_cli_check_on_a_directory_and_missing_paths(tmp_path, capsys):
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    rc, _ = _cli(["check", str(empty)], capsys)
    assert rc == 2
    rc, _ = _cli(["check", str(tmp_path / "missing.net")], capsys)
    assert rc == 2
    odd = tmp_path / "dir.net"  # a directory whose name looks like a spec
    odd.mkdir()
    (odd / "junk.net").write_bytes(b"\x00\x01")
    rc, _ = _cli(["check", str(odd)], capsys)
    assert rc == 1
    rc, _ = _cli(["summary", str(odd)], capsys)
    assert rc in (1, 2)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(case=st.one_of(char_mutation(), token_mutation()))
def test_cli_check_on_mutated_files(case, tmp_path_factory, capsys):
    rel, text = case
    folder = tmp_path_factory.mktemp("mutated")
    path = folder / "model.net"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _cli(["check", str(path)], capsys)
    _cli(["check", "--format", "json", str(path)], capsys)


# ------------------------------------------------------------------ crashes the fuzzing found
# (kept as plain regression tests so a failure names the bug directly)

REGRESSIONS = {
    # the output chain fails (unknown tensor 'h'), so the network has no outputs, and the
    # data-fit lint indexed net.outputs[0]
    "no_outputs_with_data": ("network n {\n  input x: [4]\n  h -> Dense(3, activation=softmax) -> output y\n"
                             "  train { loss = categorical_crossentropy  data = iris }\n}\n"),
    # a shared layer applied to inputs of different sizes: the shape pass returned a
    # SpecError instead of its Diagnostic
    "shared_layer_shape_mismatch": ("network n {\n  input a: [4]\n  input b: [5]\n  layer enc = Dense(2)\n"
                                    "  x = a -> enc\n  y = b -> enc\n  z = (x, y) -> Concatenate()\n  output z\n}\n"),
}


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_fuzz_regressions(case):
    result = _compiles_without_raising("specs/regression/model.net", REGRESSIONS[case])
    assert result.errors, "these specs are wrong and must give an error diagnostic"
