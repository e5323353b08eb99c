"""`specc serve`: endpoints (Starlette TestClient), a real uvicorn server in a subprocess,
and a bounded load test (2000 requests, ~20 % malformed) asserting 0 5xx and answers
equal to a direct session.run."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import warnings

with warnings.catch_warnings():  # starlette 1.x nags about httpx vs httpx2 in its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import _ort_models as models
from specc.backends.onnx.runtime import Runner
from specc.backends.onnx.serve import create_app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NPY = {"content-type": "application/x-npy"}


def npy_bytes(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


@pytest.fixture(scope="module")
def mlp_runner():
    return Runner(models.mlp().SerializeToString(), provider="cpu", spinning=False)


@pytest.fixture(scope="module")
def client(mlp_runner):
    with TestClient(create_app(mlp_runner, max_body_bytes=4096), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def client2():
    r = Runner(models.two_inputs().SerializeToString(), provider="cpu", spinning=False)
    with TestClient(create_app(r), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def client_gather():
    r = Runner(models.gather().SerializeToString(), provider="cpu", spinning=False)
    with TestClient(create_app(r), raise_server_exceptions=False) as c:
        yield c


def test_health_and_metadata(client):
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.json()["provider"] in ("CPUExecutionProvider", "CUDAExecutionProvider")
    m = client.get("/metadata").json()
    assert m["inputs"] == [{"name": "x", "shape": ["batch", 4], "dtype": "float32"}]
    assert m["outputs"] == [{"name": "probs", "shape": ["batch", 3], "dtype": "float32"}]
    assert m["metadata"]["specc.spec"] == "mlp" and m["max_body_bytes"] == 4096


def test_predict_json_equals_direct_run(client, mlp_runner):
    x = [[1, 2, 3, 4], [0.5, -1, 2, 0]]
    r = client.post("/predict", json={"inputs": {"x": x}})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    want = mlp_runner.session.run(None, {"x": np.array(x, np.float32)})[0]
    np.testing.assert_array_equal(np.array(r.json()["outputs"]["probs"], np.float32), want)


def test_predict_npy_binary(client, mlp_runner):
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    r = client.post("/predict", content=npy_bytes(x), headers=NPY)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-npy"
    got = np.load(io.BytesIO(r.content))
    np.testing.assert_array_equal(got, mlp_runner.session.run(None, {"x": x})[0])
    # Accept: application/json turns the binary request's answer into JSON
    r = client.post("/predict", content=npy_bytes(x), headers={**NPY, "accept": "application/json"})
    assert r.status_code == 200 and len(r.json()["outputs"]["probs"]) == 3


def test_two_outputs_npz(client2):
    a, b = np.ones((2, 3), np.float32), np.full((2, 3), 3, np.float32)
    buf = io.BytesIO()
    np.savez(buf, a=a, b=b)
    r = client2.post("/predict", content=buf.getvalue(), headers={"content-type": "application/x-npz"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-npz"
    with np.load(io.BytesIO(r.content)) as z:
        np.testing.assert_array_equal(z["sum"], a + b)
        np.testing.assert_array_equal(z["prod"], a * b)
    r = client2.post("/predict", json={"inputs": {"a": a.tolist(), "b": b.tolist()}})
    assert r.json()["outputs"]["prod"] == (a * b).tolist()
    r = client2.post("/predict", content=npy_bytes(a), headers=NPY)  # one array for a two-input model
    assert r.status_code == 400 and "2 inputs" in r.json()["error"]


@pytest.mark.parametrize("kwargs, status, words", [
    (dict(json={"inputs": {"x": [[1, 2, 3]]}}), 422, ["expected shape [batch, 4]", "received shape [1, 3]"]),
    (dict(json={"inputs": {"y": [[1, 2, 3, 4]]}}), 422, ["missing input(s) 'x'", "unknown input(s) 'y'"]),
    (dict(json={"inputs": {"x": [[1, 2], [3]]}}), 422, ["ragged"]),
    (dict(json={"inputs": {"x": [["a", "b", "c", "d"]]}}), 422, ["expected float32"]),
    (dict(json={"inputs": {"x": "abc"}}), 422, ["nested list"]),
    (dict(json={"x": [[1, 2, 3, 4]]}), 400, ['{"inputs"']),
    (dict(json=[1, 2]), 400, ['{"inputs"']),
    (dict(content=b"{not json", headers={"content-type": "application/json"}), 400, ["not valid JSON"]),
    (dict(content=b"", headers={"content-type": "application/json"}), 400, ["not valid JSON"]),
    (dict(content=b"\xff\xfe", headers={"content-type": "application/json"}), 400, ["not valid JSON"]),
    (dict(content=b"garbage", headers=NPY), 400, ["not a valid .npy"]),
    (dict(content=npy_bytes(np.full((1, 4), np.nan, np.float32)), headers=NPY), 422, ["NaN"]),
    (dict(content=npy_bytes(np.ones((2, 5), np.float32)), headers=NPY), 422, ["received shape [2, 5]"]),
    (dict(content=npy_bytes(np.ones((1, 4), np.complex64)), headers=NPY), 422, ["complex64"]),
    (dict(content=b"x", headers={"content-type": "image/png"}), 415, ["image/png"]),
    (dict(content=b"[" + b"1," * 3000 + b"1]", headers={"content-type": "application/json"}), 413, ["4096"]),
])
def test_bad_requests_get_4xx_json(client, kwargs, status, words):
    r = client.post("/predict", **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    for w in words:
        assert w in body["error"], body
    assert "expected" in body


JSON_HDR = {"content-type": "application/json"}


@pytest.mark.parametrize("body, status, words", [
    # what Python's json.dumps writes for float('nan') / float('inf'): not JSON, named as such
    (json.dumps({"inputs": {"x": [[float("nan"), 1, 2, 3]]}}), 400, ["holds NaN", "not allowed"]),
    (json.dumps({"inputs": {"x": [[1, float("-inf"), 2, 3]]}}), 400, ["holds -Infinity", "not allowed"]),
    (json.dumps({"inputs": {"x": [[1e39, 1, 2, 3]]}}), 422, ["1e+39 is out of float32 range"]),
    (json.dumps({"inputs": {"x": [[True, False, True, True]]}}), 422, ["received a boolean", "at [0][0]"]),
    (json.dumps({"inputs": {"x": [[1, 2, 3, 4], [1, 2, 3, False]]}}), 422, ["received a boolean", "at [1][3]"]),
    (json.dumps({"inputs": {"x": []}}), 422, ["input 'x' is empty: no samples", "received shape [0]"]),
    (json.dumps({"inputs": {"x": [[]]}}), 422, ["input 'x' is empty", "received shape [1, 0]"]),
])
def test_json_edge_cases_get_clear_4xx(client, body, status, words):
    r = client.post("/predict", content=body.encode(), headers=JSON_HDR)
    assert r.status_code == status, r.text
    for w in words:
        assert w in r.json()["error"], r.json()
    assert "contains Inf" not in r.json()["error"] and "expected" in r.json()


def test_edge_cases_leave_no_numpy_warnings(mlp_runner):
    """Out-of-range floats from JSON and .npy (float64 1e300) are refused without a numpy
    RuntimeWarning (which would land in the server log); .npy float32 overflow is impossible."""
    from specc.backends.onnx.serve import HTTPError, Service
    service = Service(mlp_runner)
    bodies = [(json.dumps({"inputs": {"x": [[1e39, 1, 2, 3]]}}).encode(), "application/json"),
              (npy_bytes(np.full((1, 4), -1e300)), "application/x-npy"),
              (npy_bytes(np.zeros((0, 4), np.float32)), "application/octet-stream")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for body, ctype in bodies:
            with pytest.raises(HTTPError) as e:
                service.predict(body, ctype)
            assert e.value.status == 422 and ("out of float32 range" in e.value.body["error"]
                                              or "is empty" in e.value.body["error"])


def test_allow_nonfinite_accepts_json_nan(mlp_runner):
    with TestClient(create_app(mlp_runner, allow_nonfinite=True), raise_server_exceptions=False) as c:
        r = c.post("/predict", content=json.dumps({"inputs": {"x": [[float("nan"), 1, 2, 3]]}}).encode(),
                   headers=JSON_HDR)
        assert r.status_code == 200, r.text


def test_octet_stream_bodies_are_npy_or_npz(client, client2, mlp_runner):
    x = np.array([[1, 2, 3, 4]], np.float32)
    r = client.post("/predict", content=npy_bytes(x), headers={"content-type": "application/octet-stream"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-npy"
    np.testing.assert_array_equal(np.load(io.BytesIO(r.content)), mlp_runner.session.run(None, {"x": x})[0])
    a, b = np.ones((2, 3), np.float32), np.full((2, 3), 2, np.float32)
    buf = io.BytesIO()
    np.savez(buf, a=a, b=b)
    r = client2.post("/predict", content=buf.getvalue(), headers={"content-type": "application/octet-stream"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-npz"
    r = client.post("/predict", content=b"plain bytes", headers={"content-type": "application/octet-stream"})
    assert r.status_code == 400 and ".npy bytes" in r.json()["error"]


def test_oversize_chunked_body_is_rejected(client):
    def gen():
        for _ in range(10):
            yield b" " * 1000
    r = client.post("/predict", content=gen(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "exceeds the limit" in r.json()["error"]


def test_routing_errors_are_json(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["error"] == "Not Found"
    r = client.get("/predict")
    assert r.status_code == 405 and "POST /predict" in r.json()["expected"]


def test_integer_inputs(client_gather):
    r = client_gather.post("/predict", json={"inputs": {"tokens": [[1, 2]]}})
    assert r.status_code == 200 and r.json()["outputs"]["emb"] == [[[4, 5, 6, 7], [8, 9, 10, 11]]]
    r = client_gather.post("/predict", json={"inputs": {"tokens": [[1, 99]]}})
    assert r.status_code == 422 and r.json()["expected"]["range"] == [0, 10]
    r = client_gather.post("/predict", json={"inputs": {"tokens": [[1.5]]}})
    assert r.status_code == 422 and "non-integer" in r.json()["error"]


# ---------------------------------------------------------------- the API description

def _validator(document: dict, schema_name: str):
    """A JSON-schema validator for one of the document's component schemas (refs resolved)."""
    import jsonschema
    schema = {**document["components"]["schemas"][schema_name], "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("which", ["client", "client2", "client_gather"])
def test_openapi_document_is_valid_and_matches_the_server(which, request):
    from openapi_spec_validator import validate
    c = request.getfixturevalue(which)
    r = c.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    validate(doc)  # raises on an invalid OpenAPI 3.1 document
    assert doc["openapi"] == "3.1.0" and set(doc["paths"]) == {"/predict", "/metadata", "/health",
                                                               "/openapi.json", "/docs"}
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]
    # the example the document gives is a body the server takes
    example = body["application/json"]["example"]
    _validator(doc, "PredictRequest").validate(example)
    answer = c.post("/predict", json=example)
    assert answer.status_code == 200
    _validator(doc, "PredictResponse").validate(answer.json())
    n_inputs = len(c.get("/metadata").json()["inputs"])
    assert ("application/x-npy" in body) == (n_inputs == 1) and "application/x-npz" in body


def test_openapi_schemas_state_shapes_dtypes_and_ranges(client, client_gather):
    doc = client.get("/openapi.json").json()
    req = _validator(doc, "PredictRequest")
    x = doc["components"]["schemas"]["PredictRequest"]["properties"]["inputs"]["properties"]["x"]
    assert x["x-specc-shape"] == ["batch", 4] and x["x-specc-dtype"] == "float32"
    assert x["minItems"] == 1 and x["items"]["minItems"] == x["items"]["maxItems"] == 4
    assert x["items"]["items"]["maximum"] == pytest.approx(3.4028234663852886e38)  # what the server accepts
    assert "raw value range not recorded" in x["description"]
    # the schema refuses what the server refuses (422), and takes what it takes
    for bad in ({"inputs": {"x": [[1, 2, 3]]}}, {"inputs": {"x": []}}, {"inputs": {}},
                {"inputs": {"x": [[1, 2, 3, 4]], "y": [[1]]}}, {"inputs": {"x": [[1, 2, 3, "4"]]}},
                {"inputs": {"x": [[1, 2, 3, 1e39]]}}):
        assert not req.is_valid(bad), bad
        assert client.post("/predict", json=bad).status_code == 422, bad
    assert req.is_valid({"inputs": {"x": [[1, 2, 3, 4], [5, 6, 7, 8]]}})
    probs = doc["components"]["schemas"]["PredictResponse"]["properties"]["outputs"]["properties"]["probs"]
    assert probs["items"]["items"]["minimum"] == 0 and probs["items"]["items"]["maximum"] == 1
    assert "softmax: each row sums to 1" in probs["description"]
    tokens = (client_gather.get("/openapi.json").json()["components"]["schemas"]["PredictRequest"]
              ["properties"]["inputs"]["properties"]["tokens"])
    assert tokens["items"]["items"] == {"type": "integer", "format": "int64", "minimum": 0, "maximum": 9}
    assert "table of 10 rows" in tokens["description"] and tokens["items"]["description"] == "dimension 'seq'"


def test_openapi_uses_ranges_and_meanings_the_model_states():
    """Entries of the model's specc.inputs/specc.outputs metadata may carry "range" and
    "meaning"; the document and the page show them."""
    from specc.backends.onnx.openapi import openapi_document, tensor_facts
    m = models.mlp()
    for k, v in {"specc.inputs": json.dumps({"x": {"shape": ["batch", 4], "dtype": "float32", "range": [0, 16],
                                                   "meaning": "pixel intensities"}}),
                 "specc.outputs": json.dumps({"probs": {"meaning": "digit probabilities"}})}.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    r = Runner(m.SerializeToString(), provider="cpu", spinning=False)
    facts = tensor_facts(r.info, r.info.inputs[0], output=False)
    assert facts["range"] == [0, 16] and facts["range_from"] == "the model's metadata"
    doc = openapi_document(r.info, 4096)
    x = doc["components"]["schemas"]["PredictRequest"]["properties"]["inputs"]["properties"]["x"]
    assert x["items"]["items"]["minimum"] == 0 and x["items"]["items"]["maximum"] == 16
    assert "pixel intensities" in x["description"]
    with TestClient(create_app(r), raise_server_exceptions=False) as c:
        page = c.get("/docs").text
    assert "pixel intensities" in page and "digit probabilities" in page and "[0, 16]" in page


def test_openapi_for_specc_image_model():
    """A model specc built: 4-d inputs are its channels-first images; its softmax head is read
    from the graph; LogSoftmax-like open bounds are written as -inf/inf."""
    from specc.backends.onnx import build_model
    from specc.backends.onnx.openapi import _bounds, openapi_document
    from specc.compile import compile_file
    net = compile_file(os.path.join(ROOT, "specs", "resnet_cnn", "model.net")).network
    r = Runner(build_model(net, seed=0).SerializeToString(), provider="cpu", spinning=False)
    doc = openapi_document(r.info, 4096)
    schemas = doc["components"]["schemas"]
    image = schemas["PredictRequest"]["properties"]["inputs"]["properties"]["image"]
    assert "images, channels-first [batch, channels, height, width]" in image["description"]
    assert image["x-specc-shape"] == ["batch", 3, 16, 16]
    example = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert np.array(example["inputs"]["image"]).shape == (1, 3, 16, 16)  # 768 values: small enough to show
    assert r.predict(example["inputs"])["probs"].shape == (1, 10)
    probs = schemas["PredictResponse"]["properties"]["outputs"]["properties"]["probs"]
    assert "values in [0, 1] (the model's Softmax output)" in probs["description"]
    assert _bounds([None, 0.0]) == "[-inf, 0]"
    from specc.backends.onnx.openapi import example_inputs
    big = Runner(models.mlp(n_in=1100).SerializeToString(), provider="cpu", spinning=False)
    assert example_inputs(big.info) is None  # over 1,024 values: the /docs page builds zeros itself
    assert "example" not in openapi_document(big.info, 4096)["paths"]["/predict"]["post"]["requestBody"][
        "content"]["application/json"]


def test_docs_page_is_self_contained_html(client, client2):
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "<td>x</td><td>[batch, 4]</td><td>float32</td>" in page and "<td>probs</td>" in page
    assert 'href="openapi.json"' in page and 'fetch("predict"' in page
    # nothing loaded from elsewhere: no script, style, font or image from another origin
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I) and "@import" not in page
    assert "<td>a</td>" in client2.get("/docs").text


def test_docs_page_escapes_tensor_names():
    from onnx import TensorProto, helper
    name = "</script><b>x"
    g = helper.make_graph([helper.make_node("Identity", [name], ["y"])], "g",
                          [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])])
    r = Runner(models._model(g).SerializeToString(), provider="cpu", spinning=False)
    with TestClient(create_app(r), raise_server_exceptions=False) as c:
        page = c.get("/docs").text
        doc = c.get("/openapi.json").json()
    assert "</script><b>" not in page and "&lt;/script&gt;&lt;b&gt;x" in page
    assert name in doc["components"]["schemas"]["PredictRequest"]["properties"]["inputs"]["properties"]


@pytest.mark.skipif(__import__("shutil").which("node") is None, reason="needs node to run the page's script")
def test_docs_page_script_sends_a_request_the_server_answers(client, tmp_path):
    """The page's own script, run by node with a stand-in DOM and fetch: its zero-filled
    body is sent to /predict, and the server's 200 answer is what it shows."""
    page = client.get("/docs").text
    shapes = re.search(r'<script type="application/json" id="shapes">(.*?)</script>', page, re.S).group(1)
    script = re.findall(r"<script>(.*?)</script>", page, re.S)[-1]
    stub = """
const els = {}; const el = id => els[id] || (els[id] = {value: "", textContent: ""});
els.shapes = {textContent: SHAPES};
globalThis.document = {getElementById: el};
globalThis.fetch = async (url, opts) => { console.log(JSON.stringify({url, body: opts.body}));
  return {status: 200, statusText: "OK", text: async () => '{"outputs": {}}'}; };
"""
    (tmp_path / "page.js").write_text(stub.replace("SHAPES", json.dumps(shapes)) + script
                                      + "\nsend().then(() => console.log(els.status.textContent));\n")
    out = subprocess.run(["node", str(tmp_path / "page.js")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    sent = json.loads(out.stdout.splitlines()[0])
    assert sent["url"] == "predict" and out.stdout.splitlines()[-1] == "200 OK"
    r = client.post("/predict", content=sent["body"], headers={"content-type": "application/json"})
    assert r.status_code == 200 and len(r.json()["outputs"]["probs"]) == 1


def test_internal_fault_is_a_json_500():
    r = Runner(models.mlp().SerializeToString(), provider="cpu")
    app = create_app(r)

    def broken(feeds):
        raise RuntimeError("boom")
    r.run = broken
    with TestClient(app, raise_server_exceptions=False) as c:
        resp = c.post("/predict", json={"inputs": {"x": [[1, 2, 3, 4]]}})
    assert resp.status_code == 500 and "boom" in resp.json()["error"]


# ---------------------------------------------------------------- a real server

def start_server(model: str, tmp_path, *extra) -> tuple[subprocess.Popen, str]:
    log = open(tmp_path / "server.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "specc.cli", "serve", model, "--port", "0", *extra],
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.time() + 60
    while time.time() < deadline:
        log.seek(0)
        m = re.search(r"serving .* on (http://127\.0\.0\.1:\d+)", log.read())
        if m:
            url = m.group(1)
            while time.time() < deadline:
                try:
                    if httpx.get(url + "/health", timeout=2).status_code == 200:
                        return proc, url
                except httpx.TransportError:
                    time.sleep(0.05)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    log.seek(0)
    raise AssertionError("server did not start:\n" + log.read())


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    import onnx
    from specc.backends.onnx import build_model
    from specc.compile import compile_file
    net = compile_file(os.path.join(ROOT, "specs", "digits_mlp", "model.net")).network
    path = str(tmp_path_factory.mktemp("serve") / "digits.onnx")
    onnx.save(build_model(net), path)
    return path


def test_serve_command_errors(tmp_path):
    r = subprocess.run([sys.executable, "-m", "specc.cli", "serve", str(tmp_path / "missing.onnx")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_port_in_use(digits_model, tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = subprocess.run([sys.executable, "-m", "specc.cli", "serve", digits_model, "--port", str(port)],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    finally:
        s.close()
    assert r.returncode == 2 and "cannot listen" in r.stderr and "Traceback" not in r.stderr


def _malformed(i: int, rng) -> tuple[str, dict]:
    """One malformed request of kind i % 17: (kind, httpx request kwargs)."""
    k = i % 17
    good = rng.random((1, 64)).tolist()
    if k == 0:
        return "shape", dict(json={"inputs": {"image": rng.random((1, 63)).tolist()}})
    if k == 1:
        return "name", dict(json={"inputs": {"pixels": good}})
    if k == 2:
        return "garbage", dict(content=b"{\"inputs\": [", headers={"content-type": "application/json"})
    if k == 3:
        return "ragged", dict(json={"inputs": {"image": [good[0], good[0][:10]]}})
    if k == 4:
        return "strings", dict(json={"inputs": {"image": [["a"] * 64]}})
    if k == 5:
        return "nan", dict(content=npy_bytes(np.full((1, 64), np.nan, np.float32)), headers=NPY)
    if k == 6:
        return "ctype", dict(content=b"abc", headers={"content-type": "text/csv"})
    if k == 7:
        return "oversize", dict(content=b"[" + b"0," * 40000 + b"0]", headers={"content-type": "application/json"})
    if k == 8:
        return "npy-garbage", dict(content=b"\x93NUMPY\x01\x00garbage", headers=NPY)
    if k == 9:
        return "not-object", dict(json=[good])
    if k == 10:
        return "empty", dict(content=b"", headers={"content-type": "application/json"})
    if k == 11:
        return "json-nan", dict(content=json.dumps({"inputs": {"image": [[float("nan")] * 64]}}).encode(),
                                headers={"content-type": "application/json"})
    if k == 12:
        return "beyond-float32", dict(json={"inputs": {"image": [[1e39] * 64]}})
    if k == 13:
        return "booleans", dict(json={"inputs": {"image": [[True] + good[0][1:]]}})
    if k == 14:
        return "empty-batch", dict(json={"inputs": {"image": []}})
    if k == 15:
        return "octet-garbage", dict(content=b"abc", headers={"content-type": "application/octet-stream"})
    return "npy-shape", dict(content=npy_bytes(np.ones((2, 8, 8), np.float32)), headers=NPY)


def test_load_2000_requests_20_percent_malformed(digits_model, tmp_path):
    """0 5xx; every valid answer equals a direct session.run on the same input."""
    proc, url = start_server(digits_model, tmp_path, "--max-body-bytes", "65536")
    try:
        direct = Runner(digits_model, provider="cpu", spinning=False)
        rng = np.random.default_rng(0)
        n = 2000
        jobs = []
        for i in range(n):
            if i % 5 == 4:
                jobs.append(("bad",) + _malformed(i // 5, rng))
            else:
                x = rng.random((int(rng.integers(1, 5)), 64)).astype(np.float32)
                if i % 2:
                    jobs.append(("json", x, dict(json={"inputs": {"image": x.tolist()}})))
                else:
                    jobs.append(("npy", x, dict(content=npy_bytes(x), headers=NPY)))

        def worker(chunk):
            results = []
            with httpx.Client(base_url=url, timeout=30) as c:
                for job in chunk:
                    r = c.post("/predict", **job[2])
                    results.append((job, r.status_code, r.content, r.headers.get("content-type", "")))
            return results

        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            results = [r for part in pool.map(worker, [jobs[i::8] for i in range(8)]) for r in part]
        elapsed = time.perf_counter() - t0
        assert len(results) == n
        statuses = [s for _, s, _, _ in results]
        assert not [s for s in statuses if s >= 500], "server errors"
        kinds_seen = set()
        for job, status, content, ctype in results:
            if job[0] == "bad":
                kinds_seen.add(job[1])
                assert 400 <= status < 500, (job[1], status, content[:200])
                body = json.loads(content)
                assert body["error"] and "expected" in body, (job[1], body)
                continue
            assert status == 200, (job[0], content[:300])
            x = job[1]
            want = direct.session.run(None, {"image": x})[0]
            if job[0] == "npy":
                assert ctype == "application/x-npy"
                got = np.load(io.BytesIO(content))
            else:
                got = np.array(json.loads(content)["outputs"]["probs"], dtype=np.float32)
            np.testing.assert_array_equal(got, want)
        assert len(kinds_seen) == 17
        assert sum(1 for j in jobs if j[0] == "bad") == n // 5
        assert elapsed < 60, f"load test took {elapsed:.1f} s"
        assert proc.poll() is None  # still alive
        assert httpx.get(url + "/health").status_code == 200
        log = (tmp_path / "server.log").read_text()
        assert "Warning" not in log and "Traceback" not in log, log[-2000:]  # e.g. numpy's overflow in cast
    finally:
        stop_server(proc)


def test_two_worker_processes(digits_model, tmp_path):
    proc, url = start_server(digits_model, tmp_path, "--workers", "2")
    try:
        x = np.random.default_rng(3).random((2, 64)).astype(np.float32)
        want = Runner(digits_model, provider="cpu").session.run(None, {"image": x})[0]
        with httpx.Client(base_url=url, timeout=30) as c:
            for _ in range(20):
                r = c.post("/predict", content=npy_bytes(x), headers=NPY)
                assert r.status_code == 200
                np.testing.assert_array_equal(np.load(io.BytesIO(r.content)), want)
            assert c.get("/metadata").json()["metadata"]["specc.spec"] == "digits_mlp"
            doc = c.get("/openapi.json").json()  # every worker process builds the same document
            assert doc["info"]["title"] == "digits_mlp (specc serve)"
            probs = doc["components"]["schemas"]["PredictResponse"]["properties"]["outputs"]["properties"]["probs"]
            assert probs["items"]["items"]["maximum"] == 1  # specc's softmax head, read from the ONNX graph
            assert "<td>image</td><td>[batch, 64]</td>" in c.get("/docs").text
    finally:
        stop_server(proc)
    assert proc.returncode is not None


def test_npz_unpacked_limit(mlp_runner):
    from specc.backends.onnx.serve import Service, HTTPError
    s = Service(mlp_runner, max_body_bytes=100_000)
    buf = io.BytesIO()
    np.savez_compressed(buf, x=np.zeros((1000, 1000), np.float32))
    assert len(buf.getvalue()) < 100_000
    with pytest.raises(HTTPError) as e:
        s.predict(buf.getvalue(), "application/x-npz")
    assert e.value.status == 413 and "unpacks to" in e.value.body["error"]


def test_json_codec_without_orjson(monkeypatch, mlp_runner):
    """orjson is optional: the stdlib json fallback gives the same answers and errors."""
    import specc.backends.onnx.serve as serve_mod
    from specc.backends.onnx.serve import HTTPError, Service
    s = Service(mlp_runner)
    body = json.dumps({"inputs": {"x": [[1, 2, 3, 4]]}}).encode()
    fast = json.loads(s.predict(body, "application/json")[1])
    monkeypatch.setattr(serve_mod, "_orjson", None)
    slow = json.loads(s.predict(body, "application/json")[1])
    np.testing.assert_allclose(fast["outputs"]["probs"], slow["outputs"]["probs"], rtol=1e-6)
    with pytest.raises(HTTPError) as e:
        s.predict(b"{bad", "application/json")
    assert e.value.status == 400
    with pytest.raises(HTTPError) as e:
        s.predict(b'{"inputs": {"x": [[NaN, 1, 2, 3]]}}', "application/json")
    assert e.value.status == 400 and "holds NaN" in e.value.body["error"]  # as with orjson
    with pytest.raises(HTTPError) as e:
        s.predict(b'{"inputs": {"x": [[1, -Infinity, 2, 3]]}}', "application/json")
    assert e.value.status == 400 and "holds -Infinity" in e.value.body["error"]


def test_micro_batching_merges_concurrent_requests():
    from concurrent.futures import ThreadPoolExecutor as Pool

    from specc.backends.onnx.serve import Service
    runner = Runner(models.gather().SerializeToString(), provider="cpu")
    s = Service(runner, max_batch=64, batch_wait_ms=50)
    assert s.metadata()["micro_batching"] == {"max_batch": 64, "wait_ms": 50}
    rng = np.random.default_rng(5)
    # two sequence lengths: requests of different lengths must never share a run
    xs = [rng.integers(0, 10, size=(int(rng.integers(1, 3)), 3 if i % 2 else 5)) for i in range(24)]
    with Pool(24) as pool:
        answers = list(pool.map(lambda x: s.predict(npy_bytes(x), "application/x-npy"), xs))
    for x, (status, body, media) in zip(xs, answers):
        assert status == 200 and media == "application/x-npy"
        np.testing.assert_array_equal(np.load(io.BytesIO(body)), runner.session.run(None, {"tokens": x})[0])
    assert s.batcher.merged > 0 and s.batcher.batches < len(xs)
    # errors found by validation never reach the batcher; a model fault reaches every waiter
    status = None
    try:
        s.predict(npy_bytes(np.array([[1, 99]])), "application/x-npy")
    except Exception as e:
        status = e.status
    assert status == 422


def test_micro_batching_off_for_models_without_a_batch_dim(mlp_runner):
    from specc.backends.onnx.serve import MicroBatcher, Service
    assert MicroBatcher.applies(mlp_runner.info)
    assert Service(mlp_runner, max_batch=1).batcher is None
    fixed = Runner(models.image().SerializeToString(), provider="cpu")
    fixed.info.inputs[0].shape[0] = 1  # pretend the batch dim is fixed
    assert not MicroBatcher.applies(fixed.info)


def test_micro_batching_does_not_delay_a_lone_request(mlp_runner):
    from specc.backends.onnx.serve import Service
    s = Service(mlp_runner, max_batch=32, batch_wait_ms=500)
    body = npy_bytes(np.ones((1, 4), np.float32))
    s.predict(body, "application/x-npy")
    t = time.perf_counter()
    for _ in range(5):
        assert s.predict(body, "application/x-npy")[0] == 200
    assert time.perf_counter() - t < 1.0  # five lone requests, not 5 x 500 ms windows
