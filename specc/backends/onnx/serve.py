"""HTTP serving for `specc serve MODEL.onnx` (Starlette + uvicorn).

Endpoints:
  GET  /health    {"status": "ok", "provider": ...}
  GET  /openapi.json  the OpenAPI 3.1 document generated from the model (openapi.py)
  GET  /docs      an interactive page for it (self-contained HTML: works offline)
  GET  /metadata  inputs/outputs (names, shapes, dtypes), the model's metadata_props, provider,
                  precision (float32, float16 or int8: docs/precision.md)
  POST /predict   JSON {"inputs": {name: nested list}} -> {"outputs": {name: nested list}}
                  or a binary body: Content-Type application/x-npy (single-input models) or
                  application/x-npz (arrays named like the inputs; application/octet-stream is
                  read as either, by its signature) -> .npy bytes for a single-output model,
                  .npz for several (Accept: application/json for JSON). JSON NaN/Infinity,
                  booleans among numbers, empty batches and values beyond float32 get a 4xx
                  that names them.

Every request is validated before the model runs; bad requests get a 4xx with a JSON body
{"error": ..., "expected": ...} (400 malformed body, 413 too large, 415 unknown content
type, 422 data that does not fit the model, 404/405 routing). A 5xx means a fault in
specc or onnxruntime. One InferenceSession serves all requests; decoding, validation,
inference and encoding run in a worker thread, never on the event loop.
"""
from __future__ import annotations

import json
import os
import re
import socket
import sys
from typing import Any

import numpy as np

from .runtime import (ArchiveTooLarge, InputError, Runner, dump_npy, dump_npz, find_bool, is_input_fault, load_npy,
                      load_npz, physical_cores, validate_inputs)

try:  # orjson is faster (and serializes numpy arrays directly); json is the fallback
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None

DEFAULT_MAX_BODY = 16 * 1024 * 1024
NPY = "application/x-npy"
NPZ = "application/x-npz"
JSON = "application/json"
OCTET = "application/octet-stream"  # taken as .npy or .npz by the bytes' signature


class HTTPError(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(body.get("error"))
        self.status = status
        self.body = body


def _default(o: Any) -> Any:
    if isinstance(o, (np.ndarray, np.generic)):
        return o.tolist()
    raise TypeError(f"cannot serialize {type(o).__name__}")


def _dumps(obj: Any) -> bytes:
    if _orjson is not None:
        return _orjson.dumps(obj, default=_default, option=_orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(obj, default=_default).encode()


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _loads(data: bytes, allow_nonfinite: bool = False) -> Any:
    """Strict JSON: NaN/Infinity (what Python's json.dumps writes for float('nan')) are refused
    unless the server runs with --allow-nonfinite."""
    if allow_nonfinite:
        return json.loads(data)
    if _orjson is not None:
        return _orjson.loads(data)
    return json.loads(data, parse_constant=_no_constant)


_NONFINITE = re.compile(rb"-?(NaN|Infinity)")


def _nonfinite_token(body: bytes, error: Exception) -> str | None:
    """'NaN', 'Infinity' or '-Infinity' when the JSON parse failed on one (at the error's
    position, or anywhere in the body when the parser does not say where)."""
    pos = getattr(error, "pos", None)
    m = _NONFINITE.match(body, pos - 1) if isinstance(pos, int) and pos > 0 else None  # "-Infinity"
    if m is None and isinstance(pos, int):
        m = _NONFINITE.match(body, pos)
    if m is None and not isinstance(pos, int):
        m = _NONFINITE.search(body)
    return m.group(0).decode() if m else None


class MicroBatcher:
    """Optional micro-batching: requests that arrive within `wait_s` of each other are run as
    one batch (up to `max_rows` rows) and the outputs split back; a request that is alone
    (no other request in flight) runs at once. Only for models whose
    inputs and outputs all have a symbolic first (batch) dimension; requests whose other
    dims differ are never merged. One background thread owns the batched session.run."""

    def __init__(self, runner: Runner, max_rows: int, wait_s: float):
        import queue
        import threading
        self.runner = runner
        self.max_rows = max_rows
        self.wait_s = wait_s
        self.queue: "queue.Queue" = queue.Queue()
        self.batches = 0  # number of session runs (for tests and stats)
        self.merged = 0   # requests that shared a run with another
        self.inflight = 0  # requests waiting in run(): when all of them are in the batch, it runs at once
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="specc-batcher", daemon=True)
        self._thread.start()

    @staticmethod
    def applies(info) -> bool:
        return all(t.shape and not isinstance(t.shape[0], int) for t in info.inputs + info.outputs)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from concurrent.futures import Future
        fut: Future = Future()
        with self._lock:
            self.inflight += 1
        try:
            self.queue.put((feeds, fut))
            return fut.result()
        finally:
            with self._lock:
                self.inflight -= 1

    def _loop(self) -> None:
        import queue
        import time
        pending: list = []
        while True:
            first = pending.pop(0) if pending else self.queue.get()
            key = {k: v.shape[1:] for k, v in first[0].items()}
            group = [first]
            rows = next(iter(first[0].values())).shape[0]
            deadline = time.perf_counter() + self.wait_s
            while rows < self.max_rows:
                if len(group) + len(pending) >= self.inflight and self.queue.empty():
                    break  # nobody else is waiting: do not make a lone request sit out the window
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    item = self.queue.get(timeout=left)
                except queue.Empty:
                    break
                n = next(iter(item[0].values())).shape[0]
                if {k: v.shape[1:] for k, v in item[0].items()} == key and rows + n <= self.max_rows:
                    group.append(item)
                    rows += n
                else:
                    pending.append(item)  # runs in a later batch
            self._run_group(group)

    def _run_group(self, group: list) -> None:
        self.batches += 1
        try:
            if len(group) == 1:
                group[0][1].set_result(self.runner.run(group[0][0]))
                return
            self.merged += len(group)
            names = list(group[0][0])
            feeds = {k: np.concatenate([g[0][k] for g in group], axis=0) for k in names}
            outs = self.runner.run(feeds)
            start = 0
            for g_feeds, fut in group:
                n = next(iter(g_feeds.values())).shape[0]
                fut.set_result({k: v[start:start + n] for k, v in outs.items()})
                start += n
        except BaseException as e:  # every waiting request gets the fault
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(e)


class Service:
    """The request logic, independent of the web framework (easy to unit-test)."""

    def __init__(self, runner: Runner, max_body_bytes: int = DEFAULT_MAX_BODY, allow_nonfinite: bool = False,
                 max_batch: int = 1, batch_wait_ms: float = 2.0):
        self.runner = runner
        self.info = runner.info
        self.max_body_bytes = max_body_bytes
        self.allow_nonfinite = allow_nonfinite
        self.batcher = (MicroBatcher(runner, max_batch, batch_wait_ms / 1e3)
                        if max_batch > 1 and MicroBatcher.applies(runner.info) else None)

    def metadata(self) -> dict:
        from ... import __version__
        d = self.info.to_dict()
        from .precision import precision_of
        d.update({"provider": self.runner.provider, "precision": precision_of(self.info.metadata),
                  "specc_version": __version__,
                  "max_body_bytes": self.max_body_bytes,
                  "micro_batching": {"max_batch": self.batcher.max_rows, "wait_ms": self.batcher.wait_s * 1e3}
                  if self.batcher is not None else None})
        return d

    def _bad(self, status: int, message: str, **extra) -> HTTPError:
        body = {"error": message, "expected": self.info.expected()}
        body.update(extra)
        return HTTPError(status, body)

    def decode(self, body: bytes, content_type: str) -> dict[str, Any]:
        ctype = content_type.split(";")[0].strip().lower()
        # curl -d sends application/x-www-form-urlencoded by default: read it as JSON too
        if ctype in ("", JSON, "text/json", "text/plain", "application/x-www-form-urlencoded") \
                or ctype.endswith("+json"):
            try:
                obj = _loads(body, self.allow_nonfinite)
            except (ValueError, UnicodeDecodeError, TypeError) as e:
                token = _nonfinite_token(body, e)
                if token is not None:
                    raise self._bad(400, f"request body holds {token}: NaN and Infinity are not allowed (they are not "
                                         "valid JSON, though Python's json.dumps writes them); send finite numbers, "
                                         "or start the server with --allow-nonfinite") from None
                raise self._bad(400, f"request body is not valid JSON ({str(e).splitlines()[0] if str(e) else e}); "
                                     "expected {\"inputs\": {name: nested list}}") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("inputs"), dict):
                raise self._bad(400, "expected a JSON object {\"inputs\": {name: nested list}}")
            if b"true" in body or b"false" in body:  # numpy would take a true among numbers as 1
                self._refuse_booleans(obj["inputs"])
            return obj["inputs"]
        if ctype == OCTET:
            if body[:6] != b"\x93NUMPY" and body[:2] != b"PK":
                raise self._bad(400, "an application/octet-stream body must hold .npy bytes (starting with "
                                     "\\x93NUMPY) or .npz bytes (a zip archive); send JSON otherwise")
            ctype = NPZ if body[:2] == b"PK" else NPY
        if ctype == NPY:
            if len(self.info.inputs) != 1:
                raise self._bad(400, f"an application/x-npy body holds one array but the model has "
                                     f"{len(self.info.inputs)} inputs; send application/x-npz or JSON")
            try:
                arr = load_npy(body)
            except Exception as e:
                raise self._bad(400, f"request body is not a valid .npy array ({e})") from None
            return {self.info.inputs[0].name: arr}
        if ctype == NPZ:
            try:
                return load_npz(body, max_bytes=4 * self.max_body_bytes)
            except ArchiveTooLarge as e:
                raise HTTPError(413, {"error": f"request body: {e}",
                                      "expected": {"max_unpacked_bytes": 4 * self.max_body_bytes}}) from None
            except Exception as e:
                raise self._bad(400, f"request body is not a valid .npz archive ({e})") from None
        raise HTTPError(415, {"error": f"unsupported Content-Type '{ctype}'",
                              "expected": [JSON, NPY, NPZ, OCTET]})

    def _refuse_booleans(self, inputs: dict) -> None:
        for spec in self.info.inputs:
            if spec.dtype is not None and spec.dtype.kind != "b" and spec.name in inputs:
                where = find_bool(inputs[spec.name])
                if where is not None:
                    raise HTTPError(422, InputError(
                        f"input '{spec.name}': expected {spec.dtype.name} numbers, received a boolean (true/false) "
                        f"at {where}; send 1 and 0", spec.expected, {"dtype": "bool"}, spec.name).to_dict())

    def predict(self, body: bytes, content_type: str, accept: str = "") -> tuple[int, bytes, str]:
        """(status, body, media type) for a POST /predict; raises HTTPError for client faults."""
        raw = self.decode(body, content_type)
        try:
            feeds = validate_inputs(self.info, raw, self.allow_nonfinite)
        except InputError as e:
            raise HTTPError(422, e.to_dict() if e.expected is not None else
                            {**e.to_dict(), "expected": self.info.expected()}) from None
        try:
            outs = self.batcher.run(feeds) if self.batcher is not None else self.runner.run(feeds)
        except Exception as e:
            if is_input_fault(e):
                raise self._bad(422, f"the model rejected the input: {str(e).strip().splitlines()[0]}") from None
            raise
        ctype = content_type.split(";")[0].strip().lower()
        want_binary = ctype in (NPY, NPZ, OCTET)
        accept = accept.lower()
        if NPY in accept or NPZ in accept:
            want_binary = True
        elif JSON in accept:
            want_binary = False
        if want_binary:
            if len(outs) == 1 and NPZ not in accept:
                return 200, dump_npy(next(iter(outs.values()))), NPY
            return 200, dump_npz(outs), NPZ
        return 200, _dumps({"outputs": outs}), JSON


def create_app(runner: Runner, max_body_bytes: int = DEFAULT_MAX_BODY, allow_nonfinite: bool = False,
               max_batch: int = 1, batch_wait_ms: float = 2.0):
    """The Starlette application serving `runner` (micro-batching when max_batch > 1)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import Response
    from starlette.routing import Route

    service = Service(runner, max_body_bytes, allow_nonfinite, max_batch, batch_wait_ms)
    # a plain executor: about half the per-request cost of starlette's anyio threadpool hop;
    # with micro-batching, threads wait on the batcher, so enough of them to fill a batch
    threads = max(4, 2 * physical_cores(), 2 * max_batch if service.batcher is not None else 0)
    pool = ThreadPoolExecutor(max_workers=min(threads, 64), thread_name_prefix="specc-infer")
    from .openapi import docs_page, openapi_document
    health_body = _dumps({"status": "ok", "provider": runner.provider})
    meta_body = _dumps(service.metadata())
    document = openapi_document(runner.info, max_body_bytes)
    openapi_body = _dumps(document)
    docs_body = docs_page(runner.info, document).encode()

    def jresp(status: int, body: dict) -> Response:
        return Response(_dumps(body), status_code=status, media_type=JSON)

    async def health(request: Request) -> Response:
        return Response(health_body, media_type=JSON)

    async def metadata(request: Request) -> Response:
        return Response(meta_body, media_type=JSON)

    async def openapi(request: Request) -> Response:
        return Response(openapi_body, media_type=JSON)

    async def docs(request: Request) -> Response:
        return Response(docs_body, media_type="text/html; charset=utf-8")

    async def predict(request: Request) -> Response:
        limit = service.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return jresp(400, {"error": f"bad Content-Length header '{length}'"})
            if n > limit:
                return jresp(413, {"error": f"request body of {n} bytes exceeds the limit of {limit} bytes",
                                   "expected": {"max_body_bytes": limit}})
        chunks = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return jresp(413, {"error": f"request body exceeds the limit of {limit} bytes",
                                       "expected": {"max_body_bytes": limit}})
                chunks.append(chunk)
        except ClientDisconnect:
            return Response(status_code=400)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        ctype = request.headers.get("content-type", "")
        accept = request.headers.get("accept", "")
        try:
            status, out, media = await asyncio.get_running_loop().run_in_executor(
                pool, service.predict, body, ctype, accept)
        except HTTPError as e:
            return jresp(e.status, e.body)
        return Response(out, status_code=status, media_type=media)

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return jresp(exc.status_code, {"error": exc.detail or "error",
                                       "expected": "GET /health, GET /metadata, GET /openapi.json, GET /docs, "
                                                   "POST /predict"})

    async def internal_error(request: Request, exc: Exception) -> Response:
        return jresp(500, {"error": f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})

    routes = [Route("/health", health, methods=["GET"]), Route("/metadata", metadata, methods=["GET"]),
              Route("/predict", predict, methods=["POST"]), Route("/openapi.json", openapi, methods=["GET"]),
              Route("/docs", docs, methods=["GET"])]
    app = Starlette(routes=routes, exception_handlers={StarletteHTTPException: http_error, Exception: internal_error})
    app.state.service = service
    return app


# ---------------------------------------------------------------- multi-worker entry point

ENV = "SPECC_SERVE_CONFIG"


def app_from_env():
    """uvicorn factory for --workers > 1: each worker process builds its own session."""
    cfg = json.loads(os.environ[ENV])
    runner = Runner(cfg["model"], provider=cfg["provider"], threads=cfg["threads"], spinning=False)
    return create_app(runner, cfg["max_body_bytes"], cfg["allow_nonfinite"], cfg["max_batch"], cfg["batch_wait_ms"])


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
    # protocol is explicit; without it Nagle + delayed ACK add ~40 ms to every response
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(model: str, host: str = "127.0.0.1", port: int = 8000, max_body_bytes: int = DEFAULT_MAX_BODY,
          workers: int = 1, provider: str = "auto", threads: int | None = None, allow_nonfinite: bool = False,
          log_level: str = "warning", announce=None, max_batch: int = 1, batch_wait_ms: float = 2.0) -> int:
    """Run the server until interrupted. Raises RuntimeSetupError/OSError for setup faults."""
    import uvicorn

    from .runtime import physical_cores
    if threads is None:
        threads = max(1, physical_cores() // max(1, workers))
    # load once up front: a bad model or provider fails here with a clear message
    runner = Runner(model, provider=provider, threads=threads, spinning=False)
    sock = bind_socket(host, port)
    bound_port = sock.getsockname()[1]
    if announce:
        batching = f", micro-batching up to {max_batch} rows / {batch_wait_ms:g} ms" if max_batch > 1 else ""
        announce(f"serving {model} on http://{host}:{bound_port} ({runner.provider}, {workers} worker(s), "
                 f"{threads} thread(s) each{batching}); POST /predict, API page http://{host}:{bound_port}/docs")
    common = dict(log_level=log_level, access_log=False, timeout_keep_alive=30, lifespan="off")
    if workers <= 1:
        app = create_app(runner, max_body_bytes, allow_nonfinite, max_batch, batch_wait_ms)
        server = uvicorn.Server(uvicorn.Config(app, **common))
        server.run(sockets=[sock])
        return 0
    del runner
    os.environ[ENV] = json.dumps({"model": os.path.abspath(model), "provider": provider, "threads": threads,
                                  "max_body_bytes": max_body_bytes, "allow_nonfinite": allow_nonfinite,
                                  "max_batch": max_batch, "batch_wait_ms": batch_wait_ms})
    config = uvicorn.Config("specc.backends.onnx.serve:app_from_env", factory=True, workers=workers,
                            host=host, port=bound_port, **common)
    from uvicorn.supervisors import Multiprocess
    Multiprocess(config, sockets=[sock]).run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(serve(sys.argv[1]))
