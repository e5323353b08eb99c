"""PyTorch modules and lowerings of the attention kinds (the emitter copies the module
classes into standalone scripts: they use torch, F and the helpers of
specc.backends.torch.modules only)."""
import torch
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import simple
from ...backends.torch.modules import Layer


class _Attending(Layer):
    """Shared by the attention modules (a class, so that emitted scripts copy it with them):
    inputs in Keras' order and the additive mask of the scores."""

    @staticmethod
    def split_padding(xs):
        """(query, value, key) with Keras' defaults, and the keys' padding ids or None: a last
        integer input holds the keys' token ids (0: padding)."""
        ids = None
        if len(xs) > 1 and not xs[-1].is_floating_point():
            xs, ids = xs[:-1], xs[-1]
        query = xs[0]
        value = xs[1] if len(xs) > 1 else query
        key = xs[2] if len(xs) > 2 else value
        return query, value, key, ids

    @staticmethod
    def score_bias(ids, causal, tq, dtype):
        """The additive mask of scores [B, Tq, Tk] from the padding ids [B, Tk]: Keras' large
        negative number (-1e9; -65504 in float16) at padded keys (ids == 0) and, when causal,
        above the diagonal. Never -inf: a query whose keys are all masked attends them all
        evenly, as in Keras (no NaN)."""
        masked = (ids == 0).unsqueeze(1)  # [B, 1, Tk]
        if causal:
            masked = masked | torch.ones(tq, ids.shape[-1], dtype=torch.bool, device=ids.device).triu(1)
        return masked.to(dtype) * (-65504.0 if dtype == torch.float16 else -1e9)


class MultiHeadAttention(_Attending):
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

    def compute(self, *xs):
        query, value, key, ids = self.split_padding(xs)
        q, k, v = self._heads(query, "query"), self._heads(key, "key"), self._heads(value, "value")
        dropout = self.dropout if self.training else 0.0
        if ids is None:  # SDPA's own causal mask (no mask tensor)
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=self.use_causal_mask)
        else:  # [B, 1, 1 or Tq, Tk] over the heads
            mask = self.score_bias(ids, self.use_causal_mask, q.shape[-2], q.dtype).unsqueeze(1)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        return F.linear(y.transpose(1, 2).flatten(2), self.output_weight.flatten(1), self.param("output_bias"))


torch_lowering("MultiHeadAttention")(simple(num_heads=lambda l: l.num_heads,
                                            use_causal_mask=lambda l: l.use_causal_mask,
                                            dropout=lambda l: l.dropout))


class _ScoreAttention(_Attending):
    """Keras' Attention / AdditiveAttention: softmax over the key positions of `scores`
    (masked scores lowered by 1e9, as Keras does), attention dropout, times value."""

    def __init__(self, use_causal_mask=False, dropout=0.0, **kw):
        super().__init__(**kw)
        self.use_causal_mask, self.dropout = use_causal_mask, dropout

    def compute(self, *xs):
        query, value, key, ids = self.split_padding(xs)
        scores = self.scores(query, key)
        if ids is not None:
            scores = scores + self.score_bias(ids, self.use_causal_mask, scores.shape[-2], scores.dtype)
        elif self.use_causal_mask:
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
