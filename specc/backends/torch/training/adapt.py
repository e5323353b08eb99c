"""Keras' `adapt`: before the first epoch, the statistics of the Normalization layers that
were given none (mean and variance per kept position, over every other axis and every
training sample; the biased variance, as Keras), computed from the training split and
written into the layers' non-trainable weights, so model.safetensors and the exported ONNX
file carry them. Torch only (the emitted training program may copy it)."""
from __future__ import annotations

import torch


def adapt_plan(net) -> list[tuple[str, list[int]]]:
    """(layer name, kept axes (batch = 0)) of every Normalization layer that adapts, in
    network order; a shared layer adapts to its first call's input. (specc only: the
    Trainer and the emitter read it; the emitted program gets the table.)"""
    from ..lower import _types
    plan: dict[str, list[int]] = {}
    for node in net.nodes:
        layer = net.layers[node.layer]
        if getattr(layer, "adapts", lambda: False)() and node.layer not in plan:
            plan[node.layer] = layer.kept_axes(_types(net, node.inputs[:1])[0])
    return list(plan.items())


class _Captured(Exception):
    """Raised by the hook once a layer's input is seen: the rest of the forward is not needed."""


def adapt_statistics(model: torch.nn.Module, targets: list[tuple[torch.nn.Module, list[int]]],
                     xs: list[torch.Tensor], batch_size: int) -> None:
    """For each (layer module, kept axes (batch = 0)) in network order: run `model` (eval
    mode, no gradients) over the samples `xs` (one tensor per input) in batches up to that
    layer, merge the per-batch statistics of its input in float64 (Chan's parallel update),
    and copy the mean and variance into its `mean` and `variance` buffers. In order, one at
    a time: a later layer's input may depend on an earlier one's statistics."""
    was_training = model.training
    model.eval()
    try:
        for layer, kept in targets:
            mean, var = _input_statistics(model, layer, kept, xs, batch_size)
            with torch.no_grad():
                layer.mean.copy_(mean.reshape(layer.mean.shape))
                layer.variance.copy_(var.reshape(layer.variance.shape))
    finally:
        model.train(was_training)


def _input_statistics(model, layer, kept: list[int], xs, batch_size: int):
    n = torch.zeros((), dtype=torch.float64)
    mean = m2 = None
    seen: list[torch.Tensor] = []

    def capture(_module, args):
        seen.append(args[0])
        raise _Captured

    handle = layer.register_forward_pre_hook(capture)
    try:
        with torch.no_grad():
            for start in range(0, len(xs[0]), batch_size):
                seen.clear()
                try:
                    model(*[x[start:start + batch_size] for x in xs])
                except _Captured:
                    pass
                if not seen:  # the layer is not on the path of these inputs (cannot happen for a valid net)
                    raise RuntimeError("the Normalization layer's input was not computed")
                x = seen[0].double()
                dims = [d for d in range(x.dim()) if d not in kept]
                count = torch.tensor(x.numel() / max(1, _size(x, kept)), dtype=torch.float64)
                b_mean = x.mean(dim=dims, keepdim=True)
                b_m2 = (x - b_mean).square().sum(dim=dims, keepdim=True)
                if mean is None:
                    n, mean, m2 = count, b_mean, b_m2
                else:  # Chan et al.: merge two (count, mean, M2) summaries exactly
                    total = n + count
                    delta = b_mean - mean
                    mean = mean + delta * (count / total)
                    m2 = m2 + b_m2 + delta.square() * (n * count / total)
                    n = total
    finally:
        handle.remove()
    return mean.float().cpu().squeeze(), (m2 / n).float().cpu().squeeze()


def _size(x: torch.Tensor, kept: list[int]) -> int:
    s = 1
    for d in kept:
        s *= x.shape[d]
    return s
