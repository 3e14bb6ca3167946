from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from grounding.models.grounding_model import GroundingModelConfig, build_grounding_model
from grounding.models.localization import (
    moment_iou_targets,
    scaled_iou_loss,
    valid_moment_mask,
)
from grounding.models.temporal import MultiHeadSelfAttention

TINY = GroundingModelConfig(
    in_dim=16,
    num_clips=8,
    text_dim=12,
    hidden_dim=32,
    heads=2,
    map_dim=32,
    head_layers=2,
    head_kernel=3,
    dropout=0.0,
)


def test_forward_shape_and_masking():
    torch.manual_seed(0)
    model = build_grounding_model(config=TINY)
    assert isinstance(model.temporal.module, MultiHeadSelfAttention)
    assert model.temporal.module.activation == "sigmoid"
    logits = model(torch.randn(3, 8, 16), torch.randn(3, 12))
    assert logits.shape == (3, 8, 8)
    valid = valid_moment_mask(8)
    assert torch.isneginf(logits[:, ~valid]).all() and torch.isfinite(logits[:, valid]).all()
    preds = model.predict(torch.randn(2, 8, 16), torch.randn(2, 12), [30.0, 12.0], top_k=5)
    assert len(preds) == 2 and preds[0].shape == (5, 3) and preds[1][:, 1].max() <= 12.0
    assert model.training  # predict restores the mode


@pytest.mark.parametrize("kind", ["softmax", "gru", "none"])
def test_temporal_variants_and_injected_module(kind):
    cfg = dataclasses.replace(TINY, temporal=kind)
    assert build_grounding_model(config=cfg)(torch.randn(2, 8, 16), torch.randn(2, 12)).shape == (
        2,
        8,
        8,
    )


def test_injected_temporal_module_without_mask_argument():
    class Plain(nn.Module):
        def forward(self, x):
            return x * 2

    model = build_grounding_model(config=TINY, temporal=Plain())
    assert model(torch.randn(2, 8, 16), torch.randn(2, 12)).shape == (2, 8, 8)


def test_bad_inputs_name_shapes():
    model = build_grounding_model(config=TINY)
    with pytest.raises(ValueError, match=r"\(B, 8, 16\).*got \(2, 8, 15\)"):
        model(torch.randn(2, 8, 15), torch.randn(2, 12))
    with pytest.raises(ValueError, match=r"\(B, 8, 16\).*got \(2, 9, 16\)"):
        model(torch.randn(2, 9, 16), torch.randn(2, 12))
    with pytest.raises(ValueError, match=r"sentence embeddings must be \(2, 12\), got \(2, 384\)"):
        model(torch.randn(2, 8, 16), torch.randn(2, 384))
    clips = torch.randn(3, 8, 16)
    clips[2, 4, 1] = float("nan")
    with pytest.raises(ValueError, match=r"clip features contain NaN or inf in batch rows \[2\]"):
        model(clips, torch.randn(3, 12))


def _toy_batch(gen: torch.Generator, b: int, n: int, words: torch.Tensor, signs: torch.Tensor):
    """Clips are noise; the queried action's signature fills its GT clips, another action's
    signature fills a distractor span, so the sentence is needed to pick the right one."""
    clips = 0.3 * torch.randn(b, n, signs.shape[1], generator=gen)
    gt = torch.zeros(b, 2)
    which = torch.randint(0, len(words), (b,), generator=gen)
    for k in range(b):
        s = int(torch.randint(0, n // 2, (1,), generator=gen))
        e = s + int(torch.randint(1, n // 2, (1,), generator=gen))
        other = (int(which[k]) + 1) % len(words)
        clips[k, (s + n // 2) % n] += signs[other]
        clips[k, s:e] += signs[which[k]]
        gt[k] = torch.tensor([s / n, e / n])
    return clips, words[which], gt


def test_learns_toy_grounding_task():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    words, signs = torch.randn(4, 12, generator=gen), torch.randn(4, 16, generator=gen)
    model = build_grounding_model(config=TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(120):
        clips, sent, gt = _toy_batch(gen, 32, 8, words, signs)
        loss = scaled_iou_loss(model(clips, sent), moment_iou_targets(gt, 8), t_min=0.3)
        opt.zero_grad()
        loss.backward()
        opt.step()
    clips, sent, gt = _toy_batch(gen, 128, 8, words, signs)

    def r1_at_05(sentences: torch.Tensor) -> float:
        preds = model.predict(clips, sentences, [1.0] * len(clips), top_k=1)
        top1, g = np.stack([p[0, :2] for p in preds]), gt.numpy()
        inter = np.clip(np.minimum(top1[:, 1], g[:, 1]) - np.maximum(top1[:, 0], g[:, 0]), 0, None)
        iou = inter / ((top1[:, 1] - top1[:, 0]) + (g[:, 1] - g[:, 0]) - inter)
        return float((iou >= 0.5).mean())

    assert r1_at_05(sent) >= 0.9
    shuffled = sent[torch.randperm(len(sent), generator=gen)]
    assert r1_at_05(shuffled) <= 0.6  # the sentence matters (distractor spans)


def _twin(**kw) -> tuple[nn.Module, nn.Module]:
    """Two models with the same weights: without query fusion and positions, and with ``kw``."""
    torch.manual_seed(0)
    plain = dataclasses.replace(TINY, query_fusion=False, positional=False)
    base = build_grounding_model(config=plain)
    other = build_grounding_model(config=dataclasses.replace(plain, **kw))
    missing, unexpected = other.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("film", "position")) for k in missing)
    return base.eval(), other.eval()


def test_query_fusion_starts_as_identity_and_then_depends_on_the_sentence():
    base, fused = _twin(query_fusion=True)
    clips, sent = torch.randn(2, TINY.num_clips, TINY.in_dim), torch.randn(2, TINY.text_dim)
    mask = valid_moment_mask(TINY.num_clips)
    torch.testing.assert_close(fused(clips, sent)[:, mask], base(clips, sent)[:, mask])
    with torch.no_grad():
        fused.film.weight.normal_()
    assert not torch.allclose(fused(clips, sent)[:, mask], base(clips, sent)[:, mask])


def test_positions_break_the_order_blindness_of_self_attention():
    base, model = _twin(positional=True)
    assert model.position.shape == (TINY.num_clips, TINY.hidden_dim)
    with torch.no_grad():
        model.position.normal_()
    x = base.proj(torch.randn(1, TINY.num_clips, TINY.in_dim))
    # without positions, self-attention commutes with reversing the clips; with them it doesn't
    torch.testing.assert_close(base.temporal(x.flip(1)).flip(1), base.temporal(x))
    a = model.temporal(x + model.position)
    b = model.temporal(x.flip(1) + model.position).flip(1)
    assert not torch.allclose(a, b)


def test_sentence_standardizer_fits_train_statistics():
    torch.manual_seed(0)
    train = torch.randn(50, 12) * 0.05 + 0.3
    model = build_grounding_model(config=TINY)
    x = torch.randn(4, 12)
    assert torch.equal(model.sentence_norm(x), x)  # identity before fitting
    model.fit_sentence_stats(train.numpy())
    z = model.sentence_norm(train)
    assert torch.allclose(z.mean(0), torch.zeros(12), atol=1e-5)
    assert torch.allclose(z.std(0), torch.ones(12), atol=1e-4)
    # the statistics are buffers: they travel in the state dict
    other = build_grounding_model(config=TINY)
    other.load_state_dict(model.state_dict())
    assert torch.allclose(other.sentence_norm(x), model.sentence_norm(x))


@pytest.mark.parametrize(
    "bad", [torch.randn(1, 12), torch.randn(5, 11), torch.full((5, 12), float("nan"))]
)
def test_sentence_standardizer_rejects_bad_statistics_input(bad):
    with pytest.raises(ValueError, match="sentence"):
        build_grounding_model(config=TINY).fit_sentence_stats(bad)


def test_cross_attention_reads_the_tokens():
    torch.manual_seed(0)
    config = dataclasses.replace(TINY, cross_layers=2, word_dim=10)
    model = build_grounding_model(config=config).eval()
    assert len(model.cross) == 2
    clips, sentence = torch.randn(2, 8, 16), torch.randn(2, 12)
    words, mask = torch.randn(2, 3, 10), torch.tensor([[True, True, False], [True] * 3])
    logits = model(clips, sentence, words, mask)
    assert logits.shape == (2, 8, 8)
    other = words.clone()
    other[0, 2] = 5.0  # padding: no effect
    torch.testing.assert_close(model(clips, sentence, other, mask), logits)
    other[0, 0] = 5.0  # a real token: the scores change
    valid = valid_moment_mask(8)
    assert not torch.allclose(model(clips, sentence, other, mask)[0][valid], logits[0][valid])
    preds = model.predict(clips, sentence, [10.0, 20.0], top_k=3, words=words, word_mask=mask)
    assert [p.shape for p in preds] == [(3, 3), (3, 3)]
    with pytest.raises(ValueError, match="pass words"):
        model(clips, sentence)
    with pytest.raises(ValueError, match=r"token states must be \(2, L, 10\)"):
        model(clips, sentence, words[..., :4], mask)
    bad = words.clone()
    bad[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or inf in batch rows \[1\]"):
        model(clips, sentence, bad, mask)
    with pytest.raises(ValueError, match="cross_layers must be >= 0"):
        build_grounding_model(config=dataclasses.replace(TINY, cross_layers=-1))
