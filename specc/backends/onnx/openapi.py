"""The API description `specc serve` publishes: an OpenAPI 3.1 document (`GET /openapi.json`)
and an interactive page (`GET /docs`), both generated from the model being served.

The document is written here rather than by FastAPI: what it describes is the model's own
tensors (names, shapes as nested-array lengths, dtypes and their ranges, the meaning of each
output), known only once the .onnx file is loaded, and /predict reads raw bodies in four media
types; FastAPI would need all of that written by hand as well, would add its routing to every
request, and its /docs page loads Swagger UI from a CDN. The page here is one self-contained
HTML file (no script, style or font from elsewhere): it works offline and behind firewalls.

What is known about values, and where it comes from:
- every input: the range its dtype can hold (the server refuses float values beyond it);
- integer inputs that index an embedding table: 0 .. rows-1 (ModelInfo.index_limits);
- outputs: the range of the op that computes them (Softmax, Sigmoid, ...: ModelInfo.output_ops);
- optional "range" ([low, high]) and "meaning" (text) keys of an entry of the model's
  `specc.inputs` / `specc.outputs` metadata, when the model states them.
"""
from __future__ import annotations

import html
import json
from typing import Any

import numpy as np

from .runtime import ModelInfo, TensorSpec
from .serve import JSON, NPY, NPZ, OCTET

OPENAPI_VERSION = "3.1.0"
EXAMPLE_MAX_VALUES = 1024  # larger inputs get no inline example (the /docs page builds one)

# (minimum, maximum, meaning) of the values an output op produces
_OP_RANGES: dict[str, tuple[float | None, float | None, str]] = {
    "Softmax": (0.0, 1.0, "probabilities (softmax: each row sums to 1)"),
    "LogSoftmax": (None, 0.0, "log-probabilities (log-softmax)"),
    "Sigmoid": (0.0, 1.0, "probabilities, each in [0, 1] on its own (sigmoid)"),
    "HardSigmoid": (0.0, 1.0, "values in [0, 1] (hard sigmoid)"),
    "Tanh": (-1.0, 1.0, "values in [-1, 1] (tanh)"),
    "Relu": (0.0, None, "non-negative values (ReLU)"),
    "Softplus": (0.0, None, "positive values (softplus)"),
}
_UNBOUNDED = "unbounded values (no bounded activation at the end: logits, scores or regression values)"


def _stated(info: ModelInfo, key: str) -> dict[str, dict]:
    """The model's own `specc.inputs` / `specc.outputs` metadata entries (name -> dict)."""
    try:
        d = json.loads(info.metadata.get(key, "") or "{}")
    except ValueError:
        return {}
    return {k: v for k, v in d.items() if isinstance(v, dict)} if isinstance(d, dict) else {}


def _shape_text(shape: list) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _dtype_range(spec: TensorSpec) -> tuple[float | None, float | None]:
    dt = spec.dtype
    if dt is None or dt.kind == "b":
        return None, None
    if dt.kind == "f":
        m = float(np.finfo(dt).max)
        return -m, m
    ii = np.iinfo(dt)
    return int(ii.min), int(ii.max)


def _element(spec: TensorSpec, low, high) -> dict:
    """The JSON schema of one value of the tensor."""
    dt = spec.dtype
    if dt is None:
        return {"description": f"ONNX type {spec.onnx_type}"}
    if dt.kind == "b":  # JSON true/false, or 1/0
        return {"anyOf": [{"type": "boolean"}, {"type": "integer", "minimum": 0, "maximum": 1}]}
    s: dict[str, Any] = {"type": "integer" if dt.kind in "iu" else "number"}
    if dt.kind == "f":
        s["format"] = {"float32": "float", "float64": "double"}.get(dt.name, dt.name)
    elif dt.name in ("int32", "int64"):
        s["format"] = dt.name
    if low is not None:
        s["minimum"] = low
    if high is not None:
        s["maximum"] = high
    return s


def _nested(shape: list, element: dict, request: bool) -> dict:
    """Nested JSON arrays, outermost dimension first; fixed dims pin the length, named
    (symbolic) dims take any length of at least 1 in a request."""
    schema = element
    for d in reversed(shape):
        a: dict[str, Any] = {"type": "array", "items": schema}
        if isinstance(d, int):
            a["minItems"] = a["maxItems"] = d
        else:
            if request:
                a["minItems"] = 1
            if isinstance(d, str):
                a["description"] = f"dimension '{d}'"
        schema = a
    return schema


def tensor_facts(info: ModelInfo, spec: TensorSpec, output: bool) -> dict:
    """shape, dtype, value range and meaning of one input or output, with where they come from."""
    stated = _stated(info, "specc.outputs" if output else "specc.inputs").get(spec.name, {})
    # an input's dtype range is what the server accepts; an output's is no news
    low, high = _dtype_range(spec) if not output else (None, None)
    meaning, source = None, "dtype"
    if output and spec.name in info.output_ops and info.output_ops[spec.name] in _OP_RANGES:
        low, high, meaning = _OP_RANGES[info.output_ops[spec.name]]
        source = f"the model's {info.output_ops[spec.name]} output"
    elif output and spec.dtype is not None and spec.dtype.kind == "f":
        meaning = _UNBOUNDED
    if not output and spec.name in info.index_limits:
        low, high, source = 0, info.index_limits[spec.name] - 1, "the embedding table's rows"
        meaning = f"ids (indices into a table of {info.index_limits[spec.name]} rows)"
    rng = stated.get("range")
    if isinstance(rng, list) and len(rng) == 2 and all(v is None or isinstance(v, (int, float)) for v in rng):
        low, high, source = rng[0], rng[1], "the model's metadata"
    if isinstance(stated.get("meaning"), str):
        meaning = stated["meaning"]
    if not output and meaning is None and len(spec.shape) == 4 and "specc.spec" in info.metadata:  # specc's layout
        meaning = "images, channels-first [batch, channels, height, width]"
    return {"shape": list(spec.shape), "dtype": spec.dtype.name if spec.dtype is not None else spec.onnx_type,
            "range": [low, high] if (low is not None or high is not None) else None,
            "range_from": source, "meaning": meaning}


def _tensor_schema(info: ModelInfo, spec: TensorSpec, output: bool) -> dict:
    f = tensor_facts(info, spec, output)
    low, high = f["range"] if f["range"] else (None, None)
    s = _nested(spec.shape, _element(spec, low, high), request=not output)
    words = [f"{'output' if output else 'input'} '{spec.name}': {f['dtype']}, shape {_shape_text(spec.shape)}"]
    if f["meaning"]:
        words.append(f["meaning"])
    if f["range"] and f["range_from"] != "dtype":
        words.append(f"values in {_bounds(f['range'])} ({f['range_from']})")
    elif f["range"]:
        words.append(f"raw value range not recorded in the model; accepted: any {f['dtype']}")
    s["description"] = "; ".join(words)
    s["x-specc-shape"] = list(spec.shape)
    s["x-specc-dtype"] = f["dtype"]
    return s


def _bounds(rng: list) -> str:
    """[low, high] as text; a missing bound is -inf / inf."""
    def num(v) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    return f"[{'-inf' if rng[0] is None else num(rng[0])}, {'inf' if rng[1] is None else num(rng[1])}]"


def example_inputs(info: ModelInfo) -> dict | None:
    """{"inputs": {name: zeros of shape (1 for every named dim)}}, or None when that is more
    than EXAMPLE_MAX_VALUES values or a dim or dtype is unknown."""
    out, total = {}, 0
    for t in info.inputs:
        if t.dtype is None or any(d is None for d in t.shape):
            return None
        shape = [d if isinstance(d, int) else 1 for d in t.shape]
        total += int(np.prod(shape)) if shape else 1
        if total > EXAMPLE_MAX_VALUES:
            return None
        zero = False if t.dtype.kind == "b" else 0 if t.dtype.kind in "iu" else 0.0
        out[t.name] = np.full(shape, zero).tolist() if shape else zero
    return {"inputs": out}


def _error_schema() -> dict:
    return {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string", "description": "what is wrong, in words"},
        "input": {"type": "string", "description": "the input it concerns"},
        "expected": {"description": "what the server expected (shapes and dtypes per input, a limit...)"},
        "received": {"description": "what it received"}}}


def openapi_document(info: ModelInfo, max_body_bytes: int) -> dict:
    """The OpenAPI 3.1 document of a server for this model."""
    from ... import __version__
    name = info.metadata.get("specc.spec") or info.graph_name or "model"
    sha = info.metadata.get("specc.spec_sha256", "")
    inputs = {t.name: _tensor_schema(info, t, False) for t in info.inputs}
    outputs = {t.name: _tensor_schema(info, t, True) for t in info.outputs}
    request = {"type": "object", "required": ["inputs"], "additionalProperties": False, "properties": {
        "inputs": {"type": "object", "required": list(inputs), "additionalProperties": False,
                   "properties": inputs}}}
    response = {"type": "object", "required": ["outputs"], "properties": {
        "outputs": {"type": "object", "required": list(outputs), "properties": outputs}}}
    named = sorted({d for t in info.inputs for d in t.shape if isinstance(d, str)})
    desc = [f"Inference for the network **{name}**, served by specc {__version__} with onnxruntime.",
            "Inputs are nested JSON lists (outermost dimension first), or .npy/.npz bytes."]
    if named:
        desc.append("Named dimensions (" + ", ".join(f"'{d}'" for d in named) + ") take any size of at least 1; "
                    "one name has the same size in every input.")
    if info.metadata.get("specc.meaning"):
        desc.append(f"Conventions: {info.metadata['specc.meaning']}.")
    if sha:
        desc.append(f"Spec sha256 {sha}.")
    json_body: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/PredictRequest"}}
    example = example_inputs(info)
    if example is not None:
        json_body["example"] = example
    body_content = {JSON: json_body}
    if len(info.inputs) == 1:
        body_content[NPY] = {"schema": {"type": "string", "contentMediaType": NPY,
                                        "description": f"one .npy array: input '{info.inputs[0].name}'"}}
    body_content[NPZ] = {"schema": {"type": "string", "contentMediaType": NPZ,
                                    "description": "an .npz archive with one array per input, named like it"}}
    body_content[OCTET] = {"schema": {"type": "string", "contentMediaType": OCTET,
                                      "description": ".npy or .npz bytes, told apart by their signature"}}
    ok_content = {JSON: {"schema": {"$ref": "#/components/schemas/PredictResponse"}}}
    if len(info.outputs) == 1:
        ok_content[NPY] = {"schema": {"type": "string", "contentMediaType": NPY,
                                      "description": "for a binary request or Accept: application/x-npy"}}
    ok_content[NPZ] = {"schema": {"type": "string", "contentMediaType": NPZ,
                                  "description": "one array per output; for a binary request to a model with "
                                                 "several outputs, or Accept: application/x-npz"}}

    def err(text: str) -> dict:
        return {"description": text, "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}

    def obj(text: str, props: dict) -> dict:
        return {"description": text, "content": {JSON: {"schema": {"type": "object", "properties": props}}}}

    paths = {
        "/predict": {"post": {
            "operationId": "predict", "summary": "Run the model",
            "description": "Every request is validated before the model runs. The answer is JSON for a JSON "
                           "request, .npy/.npz bytes for a binary one; the Accept header overrides that.",
            "requestBody": {"required": True, "content": body_content,
                            "description": f"at most {max_body_bytes:,} bytes"},
            "responses": {
                "200": {"description": "the model's outputs", "content": ok_content},
                "400": err("malformed body: not JSON, NaN/Infinity, not .npy/.npz"),
                "413": err(f"body larger than {max_body_bytes:,} bytes (or an .npz unpacking to more than 4 times that)"),
                "415": err("unsupported Content-Type"),
                "422": err("data that does not fit the model: names, shapes, dtypes, values out of range"),
                "500": err("a fault in specc or onnxruntime")}}},
        "/metadata": {"get": {"operationId": "metadata", "summary": "The model's inputs, outputs and metadata",
                              "responses": {"200": obj("inputs/outputs, metadata_props, provider, precision", {
                                  "inputs": {"type": "array"}, "outputs": {"type": "array"},
                                  "metadata": {"type": "object"}, "provider": {"type": "string"},
                                  "precision": {"type": "string"}})}}},
        "/health": {"get": {"operationId": "health", "summary": "Liveness",
                            "responses": {"200": obj("the server is up", {
                                "status": {"type": "string", "const": "ok"}, "provider": {"type": "string"}})}}},
        "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document",
                                  "responses": {"200": obj("the OpenAPI document", {})}}},
        "/docs": {"get": {"operationId": "docs", "summary": "An interactive page for this API (works offline)",
                          "responses": {"200": {"description": "HTML page",
                                                "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    }
    return {"openapi": OPENAPI_VERSION,
            "info": {"title": f"{name} (specc serve)", "version": sha[:12] or __version__,
                     "description": "\n\n".join(desc)},
            "paths": paths,
            "components": {"schemas": {"PredictRequest": request, "PredictResponse": response,
                                       "Error": _error_schema()}}}


# ---------------------------------------------------------------- the /docs page

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }} td, th {{ border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }} code, textarea, pre {{ font: 13px/1.4 ui-monospace, monospace; }}
textarea {{ width: 100%; height: 12em; box-sizing: border-box; }} pre {{ background: #f6f6f6; padding: .7em; overflow: auto; max-height: 24em; }}
button {{ font-size: 14px; margin: .4em .4em .4em 0; }} .status {{ font-weight: bold; }}
</style></head><body>
<h1>{title}</h1>
{description}
<h2>Inputs</h2>
{inputs}
<h2>Outputs</h2>
{outputs}
<h2>Try it: <code>POST /predict</code></h2>
<p>A JSON body <code>{{"inputs": {{name: nested list}}}}</code>; the zeros below are an example of the right shape
(named dimensions set to 1).</p>
<textarea id="body" spellcheck="false"></textarea>
<div><button id="send">Send</button><button id="zeros">Fill with zeros</button>
<span class="status" id="status"></span></div>
<pre id="answer"></pre>
<h2>Endpoints</h2>
<table><tr><th>method</th><th>path</th><th>what</th></tr>{endpoints}</table>
<p>Machine-readable: <a href="openapi.json">openapi.json</a> (OpenAPI {openapi}). From a shell:
<code>curl -s -H 'Content-Type: application/json' -d @body.json {base}/predict</code></p>
<script type="application/json" id="shapes">{shapes}</script>
<script>
"use strict";
const shapes = JSON.parse(document.getElementById("shapes").textContent);
function zeros(shape, dtype) {{
  if (shape.length === 0) return dtype === "bool" ? false : 0;
  const n = typeof shape[0] === "number" ? shape[0] : 1;
  return Array.from({{length: n}}, () => zeros(shape.slice(1), dtype));
}}
function fill() {{
  const inputs = {{}};
  for (const t of shapes) inputs[t.name] = zeros(t.shape, t.dtype);
  document.getElementById("body").value = JSON.stringify({{inputs: inputs}});
}}
async function send() {{
  const status = document.getElementById("status"), answer = document.getElementById("answer");
  status.textContent = "sending..."; answer.textContent = "";
  try {{
    const r = await fetch("predict", {{method: "POST", headers: {{"Content-Type": "application/json",
      "Accept": "application/json"}}, body: document.getElementById("body").value}});
    status.textContent = r.status + " " + r.statusText;
    const text = await r.text();
    try {{ answer.textContent = JSON.stringify(JSON.parse(text), null, 1); }} catch (e) {{ answer.textContent = text; }}
  }} catch (e) {{ status.textContent = "no answer: " + e; }}
}}
document.getElementById("send").onclick = send;
document.getElementById("zeros").onclick = fill;
fill();
</script>
</body></html>
"""


def _facts_table(info: ModelInfo, specs: list[TensorSpec], output: bool) -> str:
    rows = ["<table><tr><th>name</th><th>shape</th><th>dtype</th><th>values</th><th>meaning</th></tr>"]
    for t in specs:
        f = tensor_facts(info, t, output)
        if f["range"] and f["range_from"] != "dtype":
            values = f"{_bounds(f['range'])} ({f['range_from']})"
        elif f["range"]:
            values = f"raw range not recorded in the model; accepted: any {f['dtype']}"
        else:
            values = ""
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            t.name, _shape_text(t.shape), f["dtype"], values, f["meaning"] or "")) + "</tr>")
    return "".join(rows) + "</table>"


def docs_page(info: ModelInfo, document: dict) -> str:
    """The /docs page: what the model takes and gives, and a form that calls /predict."""
    endpoints = "".join(f"<tr><td>{m.upper()}</td><td><code>{html.escape(p)}</code></td>"
                        f"<td>{html.escape(op.get('summary', ''))}</td></tr>"
                        for p, ops in document["paths"].items() for m, op in ops.items())
    desc = "".join(f"<p>{html.escape(par).replace('**', '')}</p>"
                   for par in document["info"]["description"].split("\n\n"))
    shapes = json.dumps([{"name": t.name, "shape": t.shape, "dtype": t.dtype.name if t.dtype is not None else ""}
                         for t in info.inputs])
    return _PAGE.format(title=html.escape(document["info"]["title"]), description=desc,
                        inputs=_facts_table(info, info.inputs, False),
                        outputs=_facts_table(info, info.outputs, True), endpoints=endpoints,
                        openapi=OPENAPI_VERSION, base="http://HOST:PORT",
                        # inside <script>: "</" must not appear (a tensor named "</script>")
                        shapes=shapes.replace("<", "\\u003c"))
