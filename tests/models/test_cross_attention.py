import pytest
import torch

from grounding.models.cross_attention import CrossAttentionBlock, WordProjection


def _inputs(b=2, n=5, length=4, d=8):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, n, d, generator=g)
    words = torch.randn(b, length, d, generator=g)
    mask = torch.ones(b, length, dtype=torch.bool)
    mask[1, 2:] = False
    return x, words, mask


def test_keeps_shape_and_ignores_padded_tokens():
    block = CrossAttentionBlock(8, heads=2).eval()
    x, words, mask = _inputs()
    out = block(x, words, mask)
    assert out.shape == x.shape
    changed = words.clone()
    changed[1, 2:] = 1e3  # padding content must not matter
    assert torch.allclose(block(x, changed, mask), out, atol=1e-6)
    changed[1, 0] += 1.0  # a real token does
    assert not torch.allclose(block(x, changed, mask)[1], out[1])


def test_attention_is_a_softmax_over_real_tokens_only():
    block = CrossAttentionBlock(8, heads=2).eval()
    x, words, mask = _inputs()
    w = block.attention_weights(x, words, mask)
    assert w.shape == (2, 5, 4)
    assert torch.allclose(w.sum(dim=-1), torch.ones(2, 5), atol=1e-6)
    assert torch.all(w[1, :, 2:] == 0)


def test_bad_inputs_are_named():
    block = CrossAttentionBlock(8, heads=2)
    x, words, mask = _inputs()
    with pytest.raises(ValueError, match="divisible"):
        CrossAttentionBlock(8, heads=3)
    with pytest.raises(ValueError, match="clips must be"):
        block(x[..., :4], words, mask)
    with pytest.raises(ValueError, match="projected words"):
        block(x, words[:1], mask[:1])
    with pytest.raises(ValueError, match="word mask"):
        block(x, words, mask.float())
    empty = mask.clone()
    empty[0] = False
    with pytest.raises(ValueError, match=r"without any token in batch rows \[0\]"):
        block(x, words, empty)


def test_word_projection_width():
    assert WordProjection(6, 8)(torch.randn(2, 3, 6)).shape == (2, 3, 8)
