from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grounding.models.temporal import (
    TEMPORAL_KINDS,
    MultiHeadSelfAttention,
    RecurrentTemporal,
    ResidualTemporal,
    build_temporal,
)


def _fixed_mhssa(dim: int = 4, heads: int = 2) -> MultiHeadSelfAttention:
    m = MultiHeadSelfAttention(dim, heads=heads, activation="sigmoid")
    gen = np.random.default_rng(0)
    with torch.no_grad():
        for lin in (m.q, m.k, m.v, m.out):
            lin.weight.copy_(torch.from_numpy(gen.normal(size=lin.weight.shape)).float())
            lin.bias.copy_(torch.from_numpy(gen.normal(size=lin.bias.shape)).float())
    return m


def _hand_mhssa(m: MultiHeadSelfAttention, x: np.ndarray) -> np.ndarray:
    """Eqs. 10-14 written out with loops: per head sigmoid(q k / sqrt(d_k)) v, concat, W_o."""
    w = {
        n: (
            getattr(m, n).weight.detach().double().numpy(),
            getattr(m, n).bias.detach().double().numpy(),
        )
        for n in ("q", "k", "v", "out")
    }
    t_len, dk = x.shape[0], m.head_dim
    q, k, v = (x @ w[n][0].T + w[n][1] for n in ("q", "k", "v"))
    concat = np.zeros((t_len, m.heads * dk))
    for h in range(m.heads):
        sl = slice(h * dk, (h + 1) * dk)
        for i in range(t_len):
            acc = np.zeros(dk)
            for j in range(t_len):
                s = float(q[i, sl] @ k[j, sl]) / math.sqrt(dk)
                acc += 1.0 / (1.0 + math.exp(-s)) * v[j, sl]
            concat[i, sl] = acc
    return concat @ w["out"][0].T + w["out"][1]


def test_mhssa_matches_hand_computation():
    m = _fixed_mhssa()
    x = np.array([[0.5, -1.0, 0.2, 0.0], [1.0, 0.3, -0.4, 0.8], [-0.6, 0.1, 0.9, -0.2]])
    out = m(torch.from_numpy(x).float()[None])[0].detach().double().numpy()
    np.testing.assert_allclose(out, _hand_mhssa(m, x), rtol=1e-5, atol=1e-5)


def test_mhssa_uses_sigmoid_rows_do_not_sum_to_one():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 8)
    sig = MultiHeadSelfAttention(8, heads=2, activation="sigmoid")
    w = sig.attention_weights(x)
    assert w.shape == (2, 2, 6, 6)
    assert ((w > 0) & (w < 1)).all()
    assert not torch.allclose(w.sum(-1), torch.ones(2, 2, 6), atol=1e-3)
    soft = MultiHeadSelfAttention(8, heads=2, activation="softmax")
    torch.testing.assert_close(soft.attention_weights(x).sum(-1), torch.ones(2, 2, 6))


@pytest.mark.parametrize("kind", TEMPORAL_KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_temporal_module_keeps_shape(kind, bidirectional):
    torch.manual_seed(0)
    x = torch.randn(3, 5, 12)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    m = build_temporal(kind, dim=12, heads=6, bidirectional=bidirectional)
    assert m(x).shape == (3, 5, 12)
    out = m(x, mask)
    assert out.shape == (3, 5, 12)
    assert (out[~mask] == 0).all()
    wrapped = ResidualTemporal(m, 12)
    assert wrapped(x, mask).shape == (3, 5, 12)


@pytest.mark.parametrize("kind", ["mhssa", "softmax", "gru"])
def test_mask_hides_padded_steps(kind):
    torch.manual_seed(0)
    m = build_temporal(kind, dim=8, heads=2).eval()
    x = torch.randn(1, 6, 8)
    mask = torch.tensor([[True, True, True, True, False, False]])
    y = x.clone()
    y[0, 4:] = 100.0  # changes only in padded steps
    torch.testing.assert_close(m(x, mask), m(y, mask))
    torch.testing.assert_close(m(x, mask)[:, :4], m(x[:, :4]))


def test_head_dim_rule_and_errors():
    m = MultiHeadSelfAttention(1024, heads=6)
    assert m.head_dim == 170 and m.out.in_features == 1020 and m.out.out_features == 1024
    assert m(torch.randn(1, 3, 1024)).shape == (1, 3, 1024)
    with pytest.raises(ValueError, match="too small for 8 heads"):
        MultiHeadSelfAttention(4, heads=8)
    with pytest.raises(ValueError, match=r"expected \(B, T, 8\), got \(2, 3, 9\)"):
        build_temporal("mhssa", dim=8)(torch.randn(2, 3, 9))
    with pytest.raises(ValueError, match="unknown temporal module 'transformer'"):
        build_temporal("transformer", dim=8)
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        build_temporal("mhssa", dim=8)(torch.randn(2, 3, 8), torch.ones(2, 3))
    rnn = RecurrentTemporal(8, cell="gru")
    with pytest.raises(ValueError, match="valid steps come first"):
        rnn(torch.randn(1, 3, 8), torch.tensor([[False, True, True]]))
