"""Schedules, motions and queries of the synthetic dataset (no rendering, fast)."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from grounding.data.synthetic.actions import ACTIONS, MotionContext, generate_motion
from grounding.data.synthetic.court import MID_X
from grounding.data.synthetic.queries import (
    Descriptor,
    make_queries,
    resolve,
    segment_side,
    sentence_form,
)
from grounding.data.synthetic.script import MAX_VIDEO_S, MIN_VIDEO_S, make_script
from grounding.data.synthetic.skeleton import (
    COCO_BONES,
    NUM_JOINTS,
    Body,
    PoseParams,
    forward_kinematics,
)


@pytest.fixture(scope="module")
def scripts():
    return [make_script(i, seed=3) for i in range(60)]


@pytest.fixture(scope="module")
def queries(scripts):
    return {s.vid: make_queries(s) for s in scripts}


def test_script_is_a_function_of_seed_and_index():
    a, b = make_script(5, seed=1), make_script(5, seed=1)
    assert a.segments == b.segments and a.players == b.players and a.clips == b.clips
    assert make_script(5, seed=2).segments != a.segments
    assert make_queries(a) == make_queries(b)


def test_schedules_cover_each_video_and_players_overlap(scripts):
    multi = 0
    for s in scripts:
        assert MIN_VIDEO_S <= s.duration <= MAX_VIDEO_S + 1 / s.fps
        assert 1 <= len(s.players) <= 3
        assert len({p.colour for p in s.players}) == len(s.players)
        for p in s.players:
            own = s.player_segments(p.index)
            assert own[0].start == 0 and own[-1].end == s.n_frames
            for a, b in itertools.pairwise(own):
                assert a.end == b.start and a.action != b.action and a.end_pos == b.start_pos
        if len(s.players) > 1:
            starts = {g.start for g in s.segments if g.player == 0} ^ {
                g.start for g in s.segments if g.player == 1
            }
            multi += bool(starts)
    assert multi > 0
    used = Counter(g.action for s in scripts for g in s.segments)
    assert set(used) == set(ACTIONS) and len(ACTIONS) >= 8


def test_every_action_makes_a_plausible_motion():
    rng = np.random.default_rng(0)
    body = Body(1.9, 1.0)
    for action in ACTIONS:
        end = (8.0, 0.5) if action in ("run", "layup") else (5.0, 0.5)
        ctx = MotionContext(fps=24, body=body, start=(5.0, 0.5), end=end, hoop_x=1.4)
        m = generate_motion(action, ctx, 60, rng)
        assert m.joints.shape == (60, NUM_JOINTS, 2) and m.ground.shape == (60, 2)
        assert m.ball.shape == (60, 3)
        assert np.isfinite(m.joints).all()
        assert m.joints[..., 1].min() > -0.3, action  # feet near the floor, not below it
        head_y = m.joints[:, 0, 1]
        assert (head_y > 1.0).all(), action
    with pytest.raises(ValueError, match="unknown action"):
        generate_motion("moonwalk", ctx, 10, rng)


def test_forward_kinematics_bone_lengths_follow_the_body():
    p = PoseParams.neutral(5)
    for h in (1.7, 2.1):
        j = forward_kinematics(p, Body(h))
        assert j.shape == (5, 17, 2)
        lengths = [np.linalg.norm(j[:, a] - j[:, b], axis=-1) for a, b in COCO_BONES]
        assert all(np.isfinite(x).all() for x in lengths)
        shin = np.linalg.norm(j[:, 13] - j[:, 15], axis=-1)
        np.testing.assert_allclose(shin, Body(h).shin)


def test_queries_are_unique_in_their_video(scripts, queries):
    for s in scripts:
        for q in queries[s.vid]:
            assert resolve(q.descriptor, s) == [(q.start_frame, q.end_frame)], q.sentence
            assert q.end - q.start >= 1.0 - 1e-9
        sentences = [q.sentence for q in queries[s.vid]]
        assert len(set(sentences)) == len(sentences)


def test_resolve_is_conservative(scripts):
    s = next(x for x in scripts if len(x.players) >= 2)
    seg = s.segments[3]
    # "someone does X" matches every instance of X by anybody
    everyone = resolve(Descriptor(seg.action, None), s)
    assert len(everyone) == sum(g.action == seg.action for g in s.segments)
    # a side matches every instance that touches that half
    left = resolve(Descriptor(seg.action, None, "side", "left"), s)
    touching = [g for g in s.segments if g.action == seg.action and g.x_range[0] < MID_X + 0.5]
    assert len(left) == len(touching)
    for g in s.segments:
        side = segment_side(g)
        if side == "left":
            assert g.x_range[1] < MID_X


def test_at_least_200_distinct_sentence_forms(queries):
    allq = [q for qs in queries.values() for q in qs]
    assert len({sentence_form(q.sentence) for q in allq}) >= 200
    assert len({q.form for q in allq}) >= 200
    relations = Counter(q.descriptor.relation for q in allq)
    for rel in (
        "none",
        "right_after",
        "after",
        "right_before",
        "before",
        "ordinal",
        "side",
        "while",
        "then",
    ):
        assert relations[rel] > 0, rel
    assert any("after passing" in q.sentence or "after throwing" in q.sentence for q in allq)


def test_sentence_form_masks_attribute_values():
    assert sentence_form("The player in red dribbles on the left half.") == sentence_form(
        "The player in blue dribbles on the right half."
    )


def test_moment_lengths_and_positions_vary(scripts, queries):
    ratios = np.array([(q.end - q.start) / s.duration for s in scripts for q in queries[s.vid]])
    starts = np.array([q.start / s.duration for s in scripts for q in queries[s.vid]])
    assert 0.15 <= ratios.mean() <= 0.4
    assert ratios.std() > 0.05 and starts.std() > 0.2
    assert np.mean([len(v) for v in queries.values()]) >= 4
