"""The one COCO-17 keypoint table (grounding.data.keypoints)."""

from __future__ import annotations

from grounding.data.keypoints import (
    COCO17_BONES,
    COCO17_HIPS,
    COCO17_INDEX,
    COCO17_JOINTS,
    COCO17_MIRROR,
    COCO17_PARENTS,
    COCO17_SHOULDERS,
)


def test_mirror_swaps_left_and_right_and_is_an_involution() -> None:
    assert COCO17_MIRROR == (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
    assert all(COCO17_MIRROR[COCO17_MIRROR[i]] == i for i in range(17))


def test_bones_parents_and_torso_joints_index_the_17_joints() -> None:
    assert len(COCO17_JOINTS) == len(COCO17_INDEX) == len(COCO17_PARENTS) == 17
    assert all(0 <= a < 17 and 0 <= b < 17 and a != b for a, b in COCO17_BONES)
    assert len(set(map(frozenset, COCO17_BONES))) == len(COCO17_BONES) == 19
    assert COCO17_PARENTS[0] == -1 and all(0 <= p < i for i, p in enumerate(COCO17_PARENTS) if i)
    assert [COCO17_JOINTS[i] for i in COCO17_SHOULDERS + COCO17_HIPS] == [
        "left_shoulder",
        "right_shoulder",
        "left_hip",
        "right_hip",
    ]
