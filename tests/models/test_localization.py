from __future__ import annotations

import numpy as np
import pytest
import torch

from grounding.models.localization import (
    MomentMapHead,
    build_moment_map,
    moment_iou_targets,
    predict_moments,
    rank_moments,
    scale_iou,
    scaled_iou_loss,
    valid_moment_mask,
)


def test_moment_map_pooling_by_hand():
    clips = torch.tensor([[[1.0, 0.0], [3.0, -1.0], [2.0, 5.0]]])  # (1, N=3, D=2)
    mx = build_moment_map(clips, pooling="max")
    avg = build_moment_map(clips, pooling="avg")
    assert mx.shape == avg.shape == (1, 2, 3, 3)
    for i in range(3):
        for j in range(3):
            if j < i:
                assert (mx[0, :, i, j] == 0).all() and (avg[0, :, i, j] == 0).all()
            else:
                seg = clips[0, i : j + 1]
                torch.testing.assert_close(mx[0, :, i, j], seg.max(dim=0).values)
                torch.testing.assert_close(avg[0, :, i, j], seg.mean(dim=0))


def test_moment_map_gradients_flow():
    clips = torch.randn(2, 5, 4, requires_grad=True)
    build_moment_map(clips, pooling="max").sum().backward()
    assert clips.grad is not None and clips.grad.abs().sum() > 0


def test_max_moment_map_matches_a_loop_in_value_and_gradient():
    torch.manual_seed(0)
    clips = torch.randn(2, 7, 3, dtype=torch.float64, requires_grad=True)
    ref = torch.zeros(2, 3, 7, 7, dtype=torch.float64)
    for i in range(7):
        for j in range(i, 7):
            ref[:, :, i, j] = clips[:, i : j + 1].amax(dim=1)
    out = build_moment_map(clips, pooling="max")
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    weights = torch.randn_like(ref)
    (got,) = torch.autograd.grad((out * weights).sum(), clips)
    (want,) = torch.autograd.grad((ref * weights).sum(), clips)
    torch.testing.assert_close(got, want)


def _head(**kw):
    torch.manual_seed(0)
    return MomentMapHead(clip_dim=8, text_dim=6, hidden=16, num_layers=2, kernel_size=3, **kw)


def test_head_masks_invalid_moments():
    head = _head().eval()
    n = 6
    clips, sent = torch.randn(2, n, 8), torch.randn(2, 6)
    logits = head(clips, sent)
    assert logits.shape == (2, n, n)
    valid = valid_moment_mask(n)
    assert torch.isneginf(logits[:, ~valid]).all()
    assert torch.isfinite(logits[:, valid]).all()
    other = head(torch.randn(2, n, 8) * 10, torch.randn(2, 6))
    assert torch.equal(logits[:, ~valid], other[:, ~valid])  # invalid cells ignore the input
    assert not torch.equal(logits[:, valid], other[:, valid])
    ranked = rank_moments(logits[0], 30.0)
    assert len(ranked) == n * (n + 1) // 2
    assert (ranked[:, 1] > ranked[:, 0]).all()
    assert np.isfinite(ranked).all()


def test_head_sentence_changes_scores_and_avg_pooling():
    head = _head(pooling="avg")
    clips = torch.randn(1, 4, 8)
    a = head(clips, torch.randn(1, 6))
    b = head(clips, torch.randn(1, 6))
    valid = valid_moment_mask(4)
    assert not torch.allclose(a[:, valid], b[:, valid])


def test_iou_targets_and_scaling_by_hand():
    # N = 4 cells of 0.25; GT [0.25, 0.75] covers clips 1..2
    iou = moment_iou_targets(torch.tensor([[0.25, 0.75]]), 4)[0]
    assert iou.shape == (4, 4)
    assert iou[1, 2] == pytest.approx(1.0)
    assert iou[1, 1] == pytest.approx(0.5)  # [0.25, 0.5] vs [0.25, 0.75]
    assert iou[0, 2] == pytest.approx(0.5 / 0.75)  # [0, 0.75]
    assert iou[0, 3] == pytest.approx(0.5)  # [0, 1]
    assert iou[3, 3] == 0.0 and iou[0, 0] == 0.0
    assert (iou[1, 0] == 0) and (iou[3, 2] == 0)  # invalid cells
    scaled = scale_iou(iou, t_min=0.5, t_max=1.0)
    assert scaled[1, 2] == 1.0 and scaled[1, 1] == 0.0
    assert scaled[0, 2] == pytest.approx((0.5 / 0.75 - 0.5) / 0.5)
    s2 = scale_iou(torch.tensor([0.2, 0.3, 0.5, 0.7, 0.9]), t_min=0.3, t_max=0.7)
    torch.testing.assert_close(s2, torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))


def test_scaled_iou_loss_uses_valid_cells_only():
    n = 4
    iou = moment_iou_targets(torch.tensor([[0.0, 0.5], [0.5, 1.0]]), n)
    logits = torch.randn(2, n, n)
    target = scale_iou(iou)
    valid = valid_moment_mask(n)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[:, valid], target[:, valid]
    )
    torch.testing.assert_close(scaled_iou_loss(logits, iou), expected)
    logits[:, ~valid] = float("-inf")  # as the head returns them
    loss = scaled_iou_loss(logits, iou)
    assert torch.isfinite(loss)


def test_rank_moments_order_and_times():
    scores = torch.full((3, 3), float("-inf"))
    scores[0, 0], scores[0, 1], scores[0, 2] = 0.0, 2.0, 0.0
    scores[1, 1], scores[1, 2], scores[2, 2] = 1.0, 3.0, 0.0
    scores[2, 0] = 100.0  # invalid cell: never ranked
    out = rank_moments(scores, 9.0)
    assert out.shape == (6, 3)
    np.testing.assert_allclose(
        out[:, :2],
        [[3, 9], [0, 6], [3, 6], [0, 3], [0, 9], [6, 9]],  # ties (0.0) keep row-major order
    )
    np.testing.assert_allclose(out[:, 2], 1 / (1 + np.exp(-np.array([3, 2, 1, 0, 0, 0.0]))))
    np.testing.assert_allclose(rank_moments(scores.numpy(), 9.0, top_k=2), out[:2])


def test_predict_moments_applies_nms():
    scores = torch.full((4, 4), -5.0)
    scores[0, 1], scores[0, 2], scores[3, 3] = 3.0, 2.5, 1.0  # [0,2] suppresses [0,3]
    out = predict_moments(scores, 4.0, nms_thresh=0.5, top_k=2)
    np.testing.assert_allclose(out[:, :2], [[0, 2], [3, 4]])
    assert len(predict_moments(scores, 4.0, nms_thresh=None)) == 10


def test_bad_inputs():
    head = _head()
    with pytest.raises(ValueError, match=r"clips must be \(B, N, 8\), got \(2, 5, 7\)"):
        head(torch.randn(2, 5, 7), torch.randn(2, 6))
    with pytest.raises(ValueError, match=r"sentence must be \(2, 6\)"):
        head(torch.randn(2, 5, 8), torch.randn(3, 6))
    with pytest.raises(ValueError, match="row 1"):
        moment_iou_targets(torch.tensor([[0.1, 0.2], [0.5, 0.4]]), 4)
    with pytest.raises(ValueError, match="t_min"):
        scale_iou(torch.zeros(1), t_min=0.7, t_max=0.5)
    with pytest.raises(ValueError, match="NaN"):
        rank_moments(torch.full((2, 2), float("nan")), 3.0)
    with pytest.raises(ValueError, match="duration"):
        rank_moments(torch.zeros(2, 2), 0.0)
    with pytest.raises(ValueError, match="kernel_size"):
        MomentMapHead(clip_dim=4, text_dim=4, kernel_size=4)


def test_cell_prior_starts_at_zero_and_shifts_each_cell():
    plain, prior = _head().eval(), _head(cell_prior=5).eval()
    clips, sent = torch.randn(2, 5, 8), torch.randn(2, 6)
    torch.testing.assert_close(prior(clips, sent), plain(clips, sent), rtol=0, atol=0)
    with torch.no_grad():
        prior.cell_bias[1, 3] = 2.5
    delta = prior(clips, sent) - plain(clips, sent)
    valid = valid_moment_mask(5)
    assert torch.equal(delta[:, 1, 3], torch.full((2,), 2.5))
    assert (delta[:, valid].abs() > 0).sum() == 2  # that cell only, in both rows
    with pytest.raises(ValueError, match="cell prior of 5 clips, got 4"):
        prior(torch.randn(1, 4, 8), torch.randn(1, 6))
