"""Small hand-built ONNX models for the runtime/predict/serve tests (no lowering needed)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 9
OPSET = 17


def _model(graph, meta: dict[str, str] | None = None) -> onnx.ModelProto:
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="specc-tests")
    m.ir_version = IR_VERSION
    for k, v in (meta or {}).items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m, full_check=True)
    return m


def mlp(n_in: int = 4, hidden: int = 8, n_out: int = 3, seed: int = 0) -> onnx.ModelProto:
    """x: float32[batch, n_in] -> Gemm -> Relu -> Gemm -> Softmax -> probs: float32[batch, n_out]."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((n_in, hidden)).astype(np.float32)
    b1 = rng.standard_normal(hidden).astype(np.float32)
    w2 = rng.standard_normal((hidden, n_out)).astype(np.float32)
    b2 = rng.standard_normal(n_out).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
             helper.make_node("Relu", ["h"], ["hr"]),
             helper.make_node("Gemm", ["hr", "w2", "b2"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)]
    g = helper.make_graph(nodes, "mlp",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
                          [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", n_out])],
                          [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
                           numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(b2, "b2")])
    return _model(g, {"specc.spec": "mlp", "specc.version": "0.1.0"})


def two_inputs(n: int = 3) -> onnx.ModelProto:
    """a, b: float32[batch, n] -> sum = a + b, prod = a * b."""
    nodes = [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "b"], ["prod"])]
    g = helper.make_graph(nodes, "two",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", n]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", n])],
                          [helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", n]),
                           helper.make_tensor_value_info("prod", TensorProto.FLOAT, ["batch", n])])
    return _model(g, {"specc.spec": "two"})


def gather(vocab: int = 10, dim: int = 4) -> onnx.ModelProto:
    """tokens: int64[batch, seq] -> Gather(table) -> emb: float32[batch, seq, dim]."""
    table = np.arange(vocab * dim, dtype=np.float32).reshape(vocab, dim)
    g = helper.make_graph([helper.make_node("Gather", ["table", "tokens"], ["emb"], axis=0)], "gather",
                          [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "seq"])],
                          [helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["batch", "seq", dim])],
                          [numpy_helper.from_array(table, "table")])
    return _model(g, {"specc.spec": "gather"})


def image(c: int = 1, h: int = 8, w: int = 8, n_out: int = 5) -> onnx.ModelProto:
    """x: float32[batch, c, h, w] -> Flatten -> MatMul -> y: float32[batch, n_out] (fixed non-batch dims)."""
    rng = np.random.default_rng(1)
    wt = rng.standard_normal((c * h * w, n_out)).astype(np.float32)
    nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=1), helper.make_node("MatMul", ["f", "w"], ["y"])]
    g = helper.make_graph(nodes, "image",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", c, h, w])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_out])],
                          [numpy_helper.from_array(wt, "w")])
    return _model(g)


def save(model: onnx.ModelProto, path) -> str:
    onnx.save(model, str(path))
    return str(path)
