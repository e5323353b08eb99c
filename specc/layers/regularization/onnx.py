"""ONNX lowerings of the noise layers (training only; the identity at inference)."""
from ...backends.registry import onnx_lowering


@onnx_lowering("Dropout", "AlphaDropout", "GaussianNoise")
def lower_noise(g, layer, xs, ins, out, w):
    return xs[0]  # the identity at inference
