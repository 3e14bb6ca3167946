"""The COCO-17 keypoint layout: joint names, bones, left-right mirror, a tree, torso joints.

One table for the synthetic renderer, the skeleton datasets, the person crops and the skeleton
baselines' graphs. Bottom layer: imports nothing from the package.
"""

from __future__ import annotations

#: COCO keypoint names in the official order (index = joint id).
COCO17_JOINTS: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

#: joint id by name
COCO17_INDEX: dict[str, int] = {name: i for i, name in enumerate(COCO17_JOINTS)}

#: COCO skeleton bones as (joint, joint) pairs, 0-based (the COCO ``skeleton`` field minus one).
COCO17_BONES: tuple[tuple[int, int], ...] = (
    (15, 13),
    (13, 11),
    (16, 14),
    (14, 12),
    (11, 12),
    (5, 11),
    (6, 12),
    (5, 6),
    (5, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (1, 2),
    (0, 1),
    (0, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
)


def _mirrored(name: str) -> str:
    for a, b in (("left_", "right_"), ("right_", "left_")):
        if name.startswith(a):
            return b + name[len(a) :]
    return name


#: joint order under a left-right flip (the nose stays, left/right pairs swap)
COCO17_MIRROR: tuple[int, ...] = tuple(COCO17_INDEX[_mirrored(n)] for n in COCO17_JOINTS)

#: parent of each joint in a tree rooted at the nose (-1), as the skeleton graphs use it (a
#: choice: COCO has no neck or pelvis joint)
COCO17_PARENTS: tuple[int, ...] = (-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14)

#: left and right shoulder, left and right hip
COCO17_SHOULDERS: tuple[int, int] = (COCO17_INDEX["left_shoulder"], COCO17_INDEX["right_shoulder"])
COCO17_HIPS: tuple[int, int] = (COCO17_INDEX["left_hip"], COCO17_INDEX["right_hip"])
