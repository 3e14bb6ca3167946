"""Person boxes, crops and appearance descriptors from poses (grounding.data.persons)."""

from __future__ import annotations

import numpy as np
import pytest

from grounding.data.persons import (
    COLOUR_BINS,
    LAYOUT,
    crop_square,
    descriptor_dim,
    person_boxes,
    relative_layout,
    torso_colours,
)


def _standing(x: float, top: float, height: float) -> np.ndarray:
    """``(17, 3)`` joints of an upright person: a vertical column from ``top`` down."""
    j = np.zeros((17, 3), np.float32)
    j[:, 0] = x
    j[:, 1] = np.linspace(top, top + height, 17)
    j[:, 2] = 1
    for k, y in ((5, 0.25), (6, 0.25), (11, 0.6), (12, 0.6)):  # shoulders, hips
        j[k, 1] = top + y * height
    return j


def test_boxes_follow_the_visible_joints_and_mark_absent_people():
    joints = np.zeros((10, 2, 17, 3), np.float32)
    joints[:, 0] = _standing(40, 20, 30)
    joints[:5, 1] = _standing(100, 10, 50)  # person 1 leaves after frame 4
    boxes = person_boxes(joints, np.array([[0, 5], [5, 10]]), scale=2.0)
    np.testing.assert_allclose(boxes.centre[:, 0], [[40, 35], [40, 35]])
    np.testing.assert_allclose(boxes.height[:, 0], [30, 30])
    np.testing.assert_allclose(boxes.side[:, 0], [60, 60])
    np.testing.assert_array_equal(boxes.present, [[True, True], [True, False]])
    assert boxes.side[1, 1] == 0
    with pytest.raises(ValueError, match=r"\(T, M, V, 3\)"):
        person_boxes(joints[0], np.array([[0, 1]]))


def test_crop_square_maps_the_box_onto_the_output():
    frame = np.zeros((1, 40, 40, 1), np.uint8)
    frame[0, 10:20, 10:20] = 255  # a 10 px square at [10, 20)
    out = crop_square(frame, np.array([15.0, 15.0]), 10.0, 20)
    assert out.shape == (1, 20, 20, 1)
    assert out[0, 1:-1, 1:-1].min() == 255  # the box fills the crop
    edge = crop_square(frame, np.array([0.0, 0.0]), 40.0, 40)  # half outside: border repeats
    assert edge.shape == (1, 40, 40, 1) and edge[0, :20, :20].max() == 0
    assert edge[0, 30:34, 30:34].min() == 255  # [10, 20) lands at [30, 40) when shifted by 20
    with pytest.raises(ValueError, match="side"):
        crop_square(frame, np.array([1.0, 1.0]), 0.0, 8)


def test_torso_colours_bin_the_garment_and_stay_empty_when_occluded():
    frame = np.full((64, 64, 3), 90, np.uint8)
    frame[20:45, 28:33] = (220, 30, 30)  # a red vertical torso at x 28..32
    j = _standing(30, 12, 45)
    hist = torso_colours(frame, j)
    assert hist.shape == (COLOUR_BINS**3,) and hist.sum() == pytest.approx(1.0)
    red = (2 * COLOUR_BINS + 0) * COLOUR_BINS + 0
    assert hist[red] == pytest.approx(1.0)
    hidden = j.copy()
    hidden[11, 2] = 0  # a hip not visible: colour unknown, not black
    assert not torso_colours(frame, hidden).any()


def test_relative_layout_ranks_people_of_the_same_moment():
    joints = np.zeros((4, 3, 17, 3), np.float32)
    joints[:, 0] = _standing(10, 20, 30)
    joints[:, 1] = _standing(50, 10, 40)
    joints[:2, 2] = _standing(60, 30, 20)  # only in the first window
    boxes = person_boxes(joints, np.array([[0, 2], [2, 4]]))
    lay = relative_layout(boxes, frame_width=64)
    assert lay.shape == (2, 3, len(LAYOUT))
    np.testing.assert_array_equal(lay[0, :, :2], [[0, 0], [1, 0], [0, 1]])  # tallest, shortest
    np.testing.assert_array_equal(lay[0, :, 2:], [[1, 0], [0, 1], [0, 1]])  # left, right
    np.testing.assert_array_equal(lay[1, 2], 0)  # absent
    np.testing.assert_array_equal(lay[1, :2, :2], [[0, 1], [1, 0]])
    alone = relative_layout(person_boxes(joints[:, :1], np.array([[0, 4]])), 64)
    np.testing.assert_array_equal(alone[0, 0], [0, 0, 1, 0])  # no rank for one person
    assert descriptor_dim() == COLOUR_BINS**3 + len(LAYOUT)


def test_torso_colours_split_a_boundary_colour_between_its_two_levels():
    frame = np.full((64, 64, 3), 90, np.uint8)
    # green 85: halfway between the centres of levels 0 (42.7) and 1 (128) of 3
    frame[20:45, 28:33] = (220, 85, 30)
    hist = torso_colours(frame, _standing(30, 12, 45))
    cube = hist.reshape(COLOUR_BINS, COLOUR_BINS, COLOUR_BINS)
    assert cube[2, 0, 0] == pytest.approx(0.5, abs=0.01)
    assert cube[2, 1, 0] == pytest.approx(0.5, abs=0.01)
    assert hist.sum() == pytest.approx(1.0)
