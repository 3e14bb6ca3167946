"""The 17-joint COCO skeleton, body sizes and forward kinematics of the stick-figure players.

Poses are described by a few joint angles per frame (:class:`PoseParams`);
:func:`forward_kinematics`
turns them into COCO joint positions in metres, in a body frame whose origin is the point on the
floor below the hips, ``x`` pointing where the player faces and ``y`` up. The renderer mirrors and
scales these into pixels.

Angles are in radians, measured from the downward vertical, positive towards the facing direction
(an arm at ``pi`` points straight up). Elbows flex forward/up (forearm angle = shoulder + elbow),
knees flex backward (shin angle = hip - knee).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from grounding.data.keypoints import COCO17_BONES, COCO17_INDEX, COCO17_JOINTS

COCO_JOINTS = COCO17_JOINTS
NUM_JOINTS = len(COCO_JOINTS)
J = COCO17_INDEX
COCO_BONES = COCO17_BONES


@dataclass(frozen=True)
class Body:
    """Size of one player in metres. ``build`` scales limb thickness (1 = average)."""

    height: float = 1.9
    build: float = 1.0

    @property
    def thigh(self) -> float:
        return 0.245 * self.height

    @property
    def shin(self) -> float:
        return 0.25 * self.height

    @property
    def torso(self) -> float:
        return 0.29 * self.height

    @property
    def neck(self) -> float:
        return 0.075 * self.height

    @property
    def head_radius(self) -> float:
        return 0.062 * self.height

    @property
    def upper_arm(self) -> float:
        return 0.17 * self.height

    @property
    def forearm(self) -> float:
        return 0.17 * self.height

    @property
    def half_width(self) -> float:
        """Half the shoulder/hip separation as seen by the three-quarter camera."""
        return 0.045 * self.height * self.build

    @property
    def limb_width(self) -> float:
        return 0.055 * self.height * self.build


def sample_body(rng: np.random.Generator) -> Body:
    """A random adult player: 1.65-2.15 m tall, build 0.85-1.2."""
    return Body(height=float(rng.uniform(1.65, 2.15)), build=float(rng.uniform(0.85, 1.2)))


@dataclass
class PoseParams:
    """Per-frame joint angles of one player, each ``(T,)`` float64.

    ``jump`` lifts the whole body (metres), ``dx`` shifts it along the facing direction (metres),
    ``lean`` tilts the torso forward. ``sh_*``/``el_*`` are shoulder and elbow angles,
    ``hip_*``/``kn_*`` hip and knee angles of the left (``l``) and right (``r``) side.
    """

    dx: np.ndarray
    jump: np.ndarray
    lean: np.ndarray
    sh_l: np.ndarray
    el_l: np.ndarray
    sh_r: np.ndarray
    el_r: np.ndarray
    hip_l: np.ndarray
    kn_l: np.ndarray
    hip_r: np.ndarray
    kn_r: np.ndarray

    @classmethod
    def neutral(cls, n: int) -> PoseParams:
        """A relaxed standing pose for ``n`` frames."""
        z = np.zeros(n)
        return cls(
            dx=z.copy(),
            jump=z.copy(),
            lean=np.full(n, 0.05),
            sh_l=np.full(n, 0.12),
            el_l=np.full(n, 0.25),
            sh_r=np.full(n, -0.08),
            el_r=np.full(n, 0.3),
            hip_l=np.full(n, 0.06),
            kn_l=np.full(n, 0.1),
            hip_r=np.full(n, -0.06),
            kn_r=np.full(n, 0.08),
        )

    def __len__(self) -> int:
        return len(self.dx)

    def arm(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        """The (shoulder, elbow) arrays of side ``"l"`` or ``"r"``."""
        return getattr(self, f"sh_{side}"), getattr(self, f"el_{side}")

    def set_arm(self, side: str, sh: np.ndarray, el: np.ndarray) -> None:
        setattr(self, f"sh_{side}", np.asarray(sh, dtype=np.float64))
        setattr(self, f"el_{side}", np.asarray(el, dtype=np.float64))

    def stacked(self) -> np.ndarray:
        """All parameters as ``(T, 11)`` in field order."""
        return np.stack([getattr(self, f.name) for f in fields(self)], axis=1)

    @classmethod
    def from_stacked(cls, arr: np.ndarray) -> PoseParams:
        return cls(*(arr[:, i].copy() for i in range(arr.shape[1])))


def _limb(origin: np.ndarray, length: float, angle: np.ndarray) -> np.ndarray:
    """End point of a limb of ``length`` at ``angle`` from the downward vertical: ``(T, 2)``."""
    return origin + length * np.stack([np.sin(angle), -np.cos(angle)], axis=1)


def forward_kinematics(p: PoseParams, body: Body) -> np.ndarray:
    """COCO joints of a player facing ``+x``, in metres above the floor point below the hips.

    Returns:
        ``(T, 17, 2)`` float64 joint positions ``(x, y)`` with ``y`` up.
    """
    n = len(p)
    ext_l = body.thigh * np.cos(p.hip_l) + body.shin * np.cos(p.hip_l - p.kn_l)
    ext_r = body.thigh * np.cos(p.hip_r) + body.shin * np.cos(p.hip_r - p.kn_r)
    hip_h = np.maximum(ext_l, ext_r) + 0.04 * body.height + p.jump
    hip_c = np.stack([p.dx, hip_h], axis=1)
    up = np.stack([np.sin(p.lean), np.cos(p.lean)], axis=1)
    neck = hip_c + body.torso * up
    head = neck + (body.neck + body.head_radius) * up
    # three-quarter view: the left side is drawn a little behind the right side
    side = np.array([body.half_width, 0.0])
    out = np.empty((n, 17, 2))
    out[:, J["left_shoulder"]] = neck - side
    out[:, J["right_shoulder"]] = neck + side
    out[:, J["left_hip"]] = hip_c - 0.8 * side
    out[:, J["right_hip"]] = hip_c + 0.8 * side
    for s, sh, el in (("left", p.sh_l, p.el_l), ("right", p.sh_r, p.el_r)):
        elbow = _limb(out[:, J[f"{s}_shoulder"]], body.upper_arm, sh)
        out[:, J[f"{s}_elbow"]] = elbow
        out[:, J[f"{s}_wrist"]] = _limb(elbow, body.forearm, sh + el)
    for s, hp, kn in (("left", p.hip_l, p.kn_l), ("right", p.hip_r, p.kn_r)):
        knee = _limb(out[:, J[f"{s}_hip"]], body.thigh, hp)
        out[:, J[f"{s}_knee"]] = knee
        out[:, J[f"{s}_ankle"]] = _limb(knee, body.shin, hp - kn)
    r = body.head_radius
    fwd = np.stack([np.cos(p.lean), -np.sin(p.lean)], axis=1)
    out[:, J["nose"]] = head + 0.95 * r * fwd - 0.1 * r * up
    out[:, J["left_eye"]] = head + 0.6 * r * fwd + 0.3 * r * up - 0.25 * side
    out[:, J["right_eye"]] = head + 0.7 * r * fwd + 0.3 * r * up + 0.25 * side
    out[:, J["left_ear"]] = head - 0.15 * r * fwd + 0.1 * r * up - 0.6 * side
    out[:, J["right_ear"]] = head - 0.05 * r * fwd + 0.1 * r * up + 0.6 * side
    return out
