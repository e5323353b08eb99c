"""PyTorch modules and lowerings of the attention kinds (the emitter copies the module
classes into standalone scripts: they use torch, F and the helpers of
specc.backends.torch.modules only)."""
import torch
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import simple
from ...backends.torch.modules import Layer


class MultiHeadAttention(Layer):
    """Keras' MultiHeadAttention on [B, T, F] through F.scaled_dot_product_attention (its
    scale 1/sqrt(key_dim) and its causal mask, top-left aligned, are Keras'). Weights are
    [heads, size, in] (projections) and [out, heads, value_dim]: flattened, nn.Linear ones."""

    def __init__(self, num_heads, use_causal_mask=False, dropout=0.0, **kw):
        super().__init__(**kw)
        self.num_heads, self.use_causal_mask, self.dropout = num_heads, use_causal_mask, dropout

    def _heads(self, x, role):
        """[B, T, F] -> [B, heads, T, size] through the role's projection."""
        w, b = self.param(f"{role}_weight"), self.param(f"{role}_bias")
        y = F.linear(x, w.flatten(0, 1), None if b is None else b.flatten())
        return y.unflatten(-1, (self.num_heads, w.shape[1])).transpose(1, 2)

    def compute(self, query, value=None, key=None):
        value = query if value is None else value
        key = value if key is None else key
        q, k, v = self._heads(query, "query"), self._heads(key, "key"), self._heads(value, "value")
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=self.use_causal_mask)
        return F.linear(y.transpose(1, 2).flatten(2), self.output_weight.flatten(1), self.param("output_bias"))


torch_lowering("MultiHeadAttention")(simple(num_heads=lambda l: l.num_heads,
                                            use_causal_mask=lambda l: l.use_causal_mask,
                                            dropout=lambda l: l.dropout))


class _ScoreAttention(Layer):
    """Keras' Attention / AdditiveAttention: softmax over the key positions of `scores`
    (masked scores lowered by 1e9, as Keras does), attention dropout, times value."""

    def __init__(self, use_causal_mask=False, dropout=0.0, **kw):
        super().__init__(**kw)
        self.use_causal_mask, self.dropout = use_causal_mask, dropout

    def compute(self, query, value=None, key=None):
        value = query if value is None else value
        key = value if key is None else key
        scores = self.scores(query, key)
        if self.use_causal_mask:
            tq, tv = scores.shape[-2:]
            allowed = torch.ones(tq, tv, dtype=torch.bool, device=scores.device).tril()
            scores = torch.where(allowed, scores, scores - 1e9)
        weights = F.dropout(torch.softmax(scores, dim=-1), self.dropout, self.training)
        return weights @ value


class Attention(_ScoreAttention):
    def __init__(self, score_mode="dot", **kw):
        super().__init__(**kw)
        self.score_mode = score_mode

    def scores(self, query, key):
        scale = self.param("scale")
        if self.score_mode == "dot":
            s = query @ key.transpose(-1, -2)
            return s if scale is None else s * scale
        summed = query.unsqueeze(-2) + key.unsqueeze(-3)
        return self.concat_score_weight * torch.tanh(summed if scale is None else scale * summed).sum(-1)


class AdditiveAttention(_ScoreAttention):
    def scores(self, query, key):
        t = torch.tanh(query.unsqueeze(-2) + key.unsqueeze(-3))
        scale = self.param("scale")
        return (t if scale is None else scale * t).sum(-1)


_SCORE_ARGS = dict(use_causal_mask=lambda l: l.use_causal_mask, dropout=lambda l: l.dropout)
torch_lowering("Attention")(simple(score_mode=lambda l: l.score_mode, **_SCORE_ARGS))
torch_lowering("AdditiveAttention")(simple(**_SCORE_ARGS))
