"""Turning a :class:`~grounding.data.synthetic.script.VideoScript` into frames and skeletons.

:func:`player_tracks` runs the motion generators of every player and projects joints and ball
into the court panorama; :func:`render_frames` then yields one BGR frame per time step: the
background warped by the camera, the players drawn far-to-near with cv2 primitives (so nearer
players occlude farther ones), the ball, then lighting and sensor noise. :func:`skeleton_array`
gives the matching ``(T, M, 17, 3)`` joints in frame pixels with a visibility flag.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from grounding.data.synthetic.actions import MotionContext, concat_motions, generate_motion
from grounding.data.synthetic.court import BALL_RADIUS
from grounding.data.synthetic.scene import Degradation, Scene, apply_affine
from grounding.data.synthetic.script import Player, Segment, VideoScript, video_rng
from grounding.data.synthetic.skeleton import J

SHIFT = 4  # sub-pixel bits for cv2 drawing
ONE = 1 << SHIFT
LINE = cv2.LINE_AA
BALL_BGR = (20, 110, 235)
SHOE_BGR = (30, 30, 30)


@dataclass
class PlayerTrack:
    """One player's joints and ball in panorama pixels over the whole video.

    Attributes:
        player: who.
        joints: ``(T, 17, 2)`` panorama pixels.
        ball: ``(T, 2)`` panorama pixels, NaN where the player has no ball.
        scale: ``(T,)`` panorama pixels per metre at the player's depth.
        depth: ``(T,)`` depth in ``[0, 1]`` (larger = nearer the camera).
    """

    player: Player
    joints: np.ndarray
    ball: np.ndarray
    scale: np.ndarray
    depth: np.ndarray

    def window(self, start: int, end: int) -> PlayerTrack:
        return PlayerTrack(
            self.player,
            self.joints[start:end],
            self.ball[start:end],
            self.scale[start:end],
            self.depth[start:end],
        )


def _context(script: VideoScript, seg: Segment) -> MotionContext:
    return MotionContext(
        fps=script.fps,
        body=script.players[seg.player].body,
        start=seg.start_pos,
        end=seg.end_pos,
        hoop_x=seg.hoop_x,
        hand=seg.hand,
        tempo=seg.tempo,
        amplitude=seg.amplitude,
        facing=seg.facing,
    )


def player_tracks(script: VideoScript, scene: Scene) -> list[PlayerTrack]:
    """Motions of all players, projected into the panorama."""
    tracks = []
    for player in script.players:
        segs = script.player_segments(player.index)
        motions = [
            generate_motion(
                s.action,
                _context(script, s),
                s.n_frames,
                video_rng(script.seed, script.index, "motion", player.index, s.order),
            )
            for s in segs
        ]
        m = concat_motions(motions, script.fps)
        gx, gd = m.ground[:, 0:1], m.ground[:, 1:2]
        joints, _ = scene.project(gx + m.joints[..., 0], m.joints[..., 1], gd)
        ball, _ = scene.project(m.ball[:, 0], m.ball[:, 1], m.ball[:, 2])
        _, scale = scene.project(m.ground[:, 0], np.zeros(len(m)), m.ground[:, 1])
        tracks.append(PlayerTrack(player, joints, ball, np.array(scale), m.ground[:, 1].copy()))
    return tracks


def view_bounds(tracks: list[PlayerTrack]) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame top-left and bottom-right panorama corners of all players: ``(T, 2)`` each."""
    pts = np.concatenate([t.joints for t in tracks], axis=1)
    return pts.min(axis=1), pts.max(axis=1)


def _shade(c: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return (int(c[0] * f), int(c[1] * f), int(c[2] * f))


# extra drawing points appended after the 17 COCO joints
NECK, HIPS, L_THIGH, R_THIGH, HEAD, HAIR = range(17, 23)


@dataclass
class ScreenTracks:
    """Players in frame pixels, ready to draw.

    Attributes:
        players: the M players.
        joints: ``(T, M, 17, 2)`` float COCO joints in frame pixels.
        depth: ``(T, M)`` depth (larger = nearer).
        limb: ``(T, M)`` limb thickness in pixels.
        points: ``(T, M, 23, 2)`` int32 fixed-point (``SHIFT`` bits) joints plus neck, hips,
            thigh ends, head and hair centres.
        sizes: ``(T, M, 6)`` int32: limb and torso thickness (pixels), head, hair, shoe and ball
            radius (fixed point).
        ball: ``(T, M, 2)`` int32 fixed-point ball centre; ``has_ball`` ``(T, M)`` bool.
    """

    players: list[Player]
    joints: np.ndarray
    depth: np.ndarray
    limb: np.ndarray
    points: np.ndarray
    sizes: np.ndarray
    ball: np.ndarray
    has_ball: np.ndarray


def to_screen(tracks: list[PlayerTrack], camera: np.ndarray) -> ScreenTracks:
    """Apply the per-frame camera ``(T, 2, 3)`` to the players and precompute drawing data."""
    zoom = camera[:, 0, 0]
    joints = np.stack([apply_affine(camera, t.joints) for t in tracks], axis=1)
    ball = np.stack([apply_affine(camera, t.ball) for t in tracks], axis=1)
    scale = np.stack([t.scale for t in tracks], axis=1) * zoom[:, None]
    limb = scale * np.array([t.player.body.limb_width for t in tracks])[None, :]
    depth = np.stack([t.depth for t in tracks], axis=1)
    j = joints
    neck = 0.5 * (j[:, :, J["left_shoulder"]] + j[:, :, J["right_shoulder"]])
    hips = 0.5 * (j[:, :, J["left_hip"]] + j[:, :, J["right_hip"]])
    thighs = [
        j[:, :, J[f"{s}_hip"]] + 0.45 * (j[:, :, J[f"{s}_knee"]] - j[:, :, J[f"{s}_hip"]])
        for s in ("left", "right")
    ]
    head = (j[:, :, J["left_ear"]] + j[:, :, J["right_ear"]] + j[:, :, J["nose"]]) / 3.0
    r = np.linalg.norm(j[:, :, J["nose"]] - head, axis=-1) * 1.25 + 0.5
    hair = head + 0.3 * (head - j[:, :, J["nose"]])
    hair[..., 1] -= 0.3 * r
    extra = np.stack([neck, hips, *thighs, head, hair], axis=2)
    points = np.round(np.concatenate([j, extra], axis=2) * ONE).astype(np.int32)
    sizes = np.stack(
        [
            np.maximum(1, np.round(limb)),
            np.maximum(2, np.round(2.4 * limb)),
            np.round(r * ONE),
            np.round(0.9 * r * ONE),
            np.round(0.7 * limb * ONE),
            np.maximum(ONE, np.round(scale * BALL_RADIUS * ONE)),
        ],
        axis=-1,
    ).astype(np.int32)
    has_ball = np.isfinite(ball).all(axis=-1)
    ball_fp = np.round(np.nan_to_num(ball) * ONE).astype(np.int32)
    return ScreenTracks(
        [t.player for t in tracks], joints, depth, limb, points, sizes, ball_fp, has_ball
    )


def draw_player(img: np.ndarray, p: list, sz: list, player: Player) -> None:
    """Draw one stick-figure player in place.

    Args:
        img: ``(S, S, 3)`` uint8 BGR frame.
        p: 23 fixed-point points (COCO joints, neck, hips, thighs, head, hair) as ``[x, y]``.
        sz: limb and torso thickness, head, hair, shoe radius (see :class:`ScreenTracks`).
    """
    t, torso, head_r, hair_r, shoe_r = sz[:5]
    far_skin = _shade(player.skin, 0.75)
    far_shorts = _shade(player.shorts, 0.75)
    # far (left) leg and arm, torso, then the near (right) side on top
    for hip, knee, ankle, thigh, skin, shorts in (
        (11, 13, 15, L_THIGH, far_skin, far_shorts),
        (12, 14, 16, R_THIGH, player.skin, player.shorts),
    ):
        cv2.line(img, p[hip], p[knee], skin, t, LINE, SHIFT)
        cv2.line(img, p[knee], p[ankle], skin, t, LINE, SHIFT)
        cv2.line(img, p[hip], p[thigh], shorts, t + 1, LINE, SHIFT)
        cv2.circle(img, p[ankle], shoe_r, SHOE_BGR, -1, LINE, SHIFT)
    cv2.line(img, p[5], p[7], far_skin, t, LINE, SHIFT)
    cv2.line(img, p[7], p[9], far_skin, t, LINE, SHIFT)
    cv2.line(img, p[NECK], p[HIPS], player.jersey, torso, LINE, SHIFT)
    cv2.circle(img, p[HAIR], hair_r, player.hair, -1, LINE, SHIFT)
    cv2.circle(img, p[HEAD], head_r, player.skin, -1, LINE, SHIFT)
    cv2.line(img, p[6], p[8], player.skin, t, LINE, SHIFT)
    cv2.line(img, p[8], p[10], player.skin, t, LINE, SHIFT)


def render_frames(
    scene: Scene, screen: ScreenTracks, camera: np.ndarray, degradation: Degradation, size: int
) -> Iterator[np.ndarray]:
    """Yield the ``(S, S, 3)`` uint8 BGR frames."""
    order = np.argsort(screen.depth, axis=1, kind="stable")
    for i in range(len(camera)):
        frame = cv2.warpAffine(
            scene.pano,
            camera[i],
            (size, size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        pts, sizes, balls, has = (
            screen.points[i].tolist(),
            screen.sizes[i].tolist(),
            screen.ball[i].tolist(),
            screen.has_ball[i],
        )
        for m in order[i]:
            draw_player(frame, pts[m], sizes[m], screen.players[m])
            if has[m]:
                cv2.circle(frame, balls[m], sizes[m][5], BALL_BGR, -1, LINE, SHIFT)
        yield degradation.apply(frame, i)


def skeleton_array(screen: ScreenTracks, size: int) -> np.ndarray:
    """COCO joints in frame pixels with visibility: ``(T, M, 17, 3)`` float32.

    Visibility is 1 for a joint inside the frame and not covered by a nearer player's body box,
    else 0.
    """
    j = screen.joints
    t, m = j.shape[:2]
    inside = (j[..., 0] >= 0) & (j[..., 0] < size) & (j[..., 1] >= 0) & (j[..., 1] < size)
    vis = inside.copy()
    pad = screen.limb[..., None]
    lo = j.min(axis=2) - pad
    hi = j.max(axis=2) + pad
    for a in range(m):
        for b in range(m):
            if a == b:
                continue
            nearer = screen.depth[:, b] > screen.depth[:, a]
            cover = (
                (j[:, a, :, 0] > lo[:, b, None, 0])
                & (j[:, a, :, 0] < hi[:, b, None, 0])
                & (j[:, a, :, 1] > lo[:, b, None, 1])
                & (j[:, a, :, 1] < hi[:, b, None, 1])
            )
            vis[:, a] &= ~(cover & nearer[:, None])
    out = np.empty((t, m, 17, 3), np.float32)
    out[..., :2] = j
    out[..., 2] = vis
    return out
