"""specc serve MODEL.onnx [--host 127.0.0.1] [--port 8000]: an HTTP inference server (uvicorn)."""
from __future__ import annotations

HELP = ("serve an ONNX model over HTTP: POST /predict (JSON or .npy/.npz), GET /health, GET /metadata, "
        "GET /openapi.json (OpenAPI 3.1) and GET /docs (an interactive page)")


def add_arguments(p) -> None:
    p.add_argument("model", help="model.onnx (from `specc build SPEC --emit onnx`)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--max-body-bytes", type=int, default=16 * 1024 * 1024,
                   help="largest accepted request body (default 16 MiB); larger ones get 413")
    p.add_argument("--workers", type=int, default=1, help="server processes, each with its own session (default 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="onnxruntime intra-op threads per worker (default: physical cores / workers)")
    p.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: CUDA when a GPU is really present, else CPU")
    p.add_argument("--max-batch", type=int, default=1,
                   help="micro-batching: merge concurrent requests into runs of up to N rows (default 1: off)")
    p.add_argument("--batch-wait-ms", type=float, default=2.0,
                   help="micro-batching: how long the first request of a batch waits for others (default 2 ms)")
    p.add_argument("--allow-nonfinite", action="store_true", help="accept NaN/Inf in float inputs")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])


def run(args) -> int:
    from ._common import eprint
    for flag, value, low in (("--port", args.port, 0), ("--max-body-bytes", args.max_body_bytes, 1),
                             ("--workers", args.workers, 1), ("--max-batch", args.max_batch, 1)):
        if value < low or (flag == "--port" and value > 65535):
            eprint(f"error: {flag} {value} is out of range")
            return 2
    if not 0 <= args.batch_wait_ms <= 1000:
        eprint(f"error: --batch-wait-ms {args.batch_wait_ms} is out of range (0..1000)")
        return 2
    if args.threads is not None and args.threads < 1:
        eprint(f"error: --threads must be at least 1 (got {args.threads})")
        return 2
    from ..backends.onnx.runtime import RuntimeSetupError
    from ..backends.onnx.serve import serve
    try:
        return serve(args.model, host=args.host, port=args.port, max_body_bytes=args.max_body_bytes,
                     workers=args.workers, provider=args.provider, threads=args.threads,
                     allow_nonfinite=args.allow_nonfinite, log_level=args.log_level,
                     announce=lambda msg: eprint(msg), max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms)
    except RuntimeSetupError as e:
        eprint(f"error: {e}")
        return e.code
    except OSError as e:
        eprint(f"error: cannot listen on {args.host}:{args.port}: {e.strerror or e}")
        return 2
