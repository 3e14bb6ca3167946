from __future__ import annotations

import pytest
import torch

from grounding.models.spatial import (
    GlobalAvgPooling,
    LowRankBilinearPooling,
    SpatialAttentionPooling,
)


@pytest.mark.parametrize("attention", ["sigmoid", "softmax"])
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("fusion", ["sum", "concat"])
@pytest.mark.parametrize("rank", [None, 3])
def test_variants_shapes(attention, residual, fusion, rank):
    torch.manual_seed(0)
    m = SpatialAttentionPooling(
        32, attention=attention, residual=residual, fusion=fusion, bilinear_rank=rank
    )
    fmap = torch.randn(2, 32, 7, 7)
    assert m(fmap).shape == (2, 32)
    assert m.attention_map(fmap).shape == (2, 7, 7)
    assert m(torch.randn(2, 32, 4, 4)).shape == (2, 32)  # CPU-profile 4x4 map


def test_attention_values_sigmoid_vs_softmax():
    torch.manual_seed(0)
    fmap = torch.randn(2, 16, 7, 7)
    sig = SpatialAttentionPooling(16, attention="sigmoid").attention_map(fmap)
    assert ((sig > 0) & (sig < 1)).all()
    soft = SpatialAttentionPooling(16, attention="softmax").attention_map(fmap)
    torch.testing.assert_close(soft.sum(dim=(1, 2)), torch.ones(2))


def _force_attention(m: SpatialAttentionPooling, logit: float) -> None:
    with torch.no_grad():
        last = m.mlp[-1]
        last.weight.zero_()
        last.bias.fill_(logit)


def test_residual_identity_when_attention_is_zero():
    torch.manual_seed(0)
    fmap = torch.randn(2, 16, 7, 7)
    m = SpatialAttentionPooling(16, residual=True, fusion="sum")
    _force_attention(m, -1e4)  # sigmoid -> exactly 0, so f(x) = 0 and h(x) = x
    tokens = m.tokens(fmap)
    torch.testing.assert_close(m.reweight(tokens), tokens)
    expected = fmap.mean(dim=(2, 3)) + fmap.amax(dim=(2, 3))
    torch.testing.assert_close(m(fmap), expected)
    no_res = SpatialAttentionPooling(16, residual=False)
    _force_attention(no_res, -1e4)
    assert (no_res.reweight(tokens) == 0).all()
    _force_attention(no_res, 0.0)  # a = 0.5 everywhere
    torch.testing.assert_close(no_res.reweight(tokens), 0.5 * tokens)


def test_bilinear_pooling_hand_computation():
    torch.manual_seed(0)
    pool = LowRankBilinearPooling(5, 2)
    x = torch.randn(3, 4, 5)
    a, b = pool.a.weight, pool.b.weight  # (rank, C)
    expected = torch.stack(
        [torch.stack([a[k] @ x[i].T @ (x[i] @ b[k]) / 4 for k in range(2)]) for i in range(3)]
    )
    torch.testing.assert_close(pool(x), expected)


def test_bad_inputs():
    with pytest.raises(ValueError, match="attention must be"):
        SpatialAttentionPooling(8, attention="relu")
    with pytest.raises(ValueError, match=r"expected a map \(B, 8, H, W\), got \(2, 4, 3, 3\)"):
        SpatialAttentionPooling(8)(torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match="bilinear_rank"):
        LowRankBilinearPooling(8, 0)
    assert GlobalAvgPooling(8)(torch.randn(2, 8, 3, 3)).shape == (2, 8)
