"""Motion generators for the basketball actions.

Each generator turns a :class:`MotionContext` (where the player starts and ends, which way the
nearest hoop is, the player's body, tempo, amplitude and shooting hand) into a :class:`Motion`:
per-frame COCO joints relative to the player's floor point, the floor path and the ball.
Every instance varies: tempo, amplitude, handedness, small smooth joint noise, and per-action
variants (chest, bounce or overhead pass; one- or two-handed block; number of repetitions).

The catalogue is :data:`ACTIONS`; :func:`generate_motion` dispatches on the action name.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from grounding.data.synthetic.court import BALL_RADIUS, HOOP_DEPTH, RIM_HEIGHT
from grounding.data.synthetic.skeleton import Body, J, PoseParams, forward_kinematics

#: Action classes in a fixed order (their index is the class id).
ACTIONS: tuple[str, ...] = (
    "stand",
    "dribble",
    "crossover",
    "run",
    "jump_shot",
    "layup",
    "pass",
    "catch",
    "rebound",
    "block",
)
#: Actions whose motion moves the player across the floor (the schedule picks the end point).
MOVING_ACTIONS = frozenset({"run", "layup"})


@dataclass(frozen=True)
class MotionContext:
    """Everything a motion generator needs to know about one action instance.

    ``start``/``end`` are floor points ``(x metres, depth)``; ``hoop_x`` is the rim the player
    attacks; ``hand`` is ``"r"`` or ``"l"``; ``tempo`` scales speeds (1 = average); ``amplitude``
    scales the size of movements; ``facing`` is +1 (towards +x) or -1 for actions that do not
    choose their own direction.
    """

    fps: int
    body: Body
    start: tuple[float, float]
    end: tuple[float, float]
    hoop_x: float
    hand: str = "r"
    tempo: float = 1.0
    amplitude: float = 1.0
    facing: int = 1


@dataclass
class Motion:
    """One action instance.

    Attributes:
        joints: ``(T, 17, 2)`` COCO joints in metres, ``x`` relative to the floor point along the
            court (facing already applied), ``y`` height above the floor.
        ground: ``(T, 2)`` floor point ``(x metres, depth)``.
        ball: ``(T, 3)`` ball centre ``(x metres, height metres, depth)``, NaN where no ball.
    """

    joints: np.ndarray
    ground: np.ndarray
    ball: np.ndarray

    def __len__(self) -> int:
        return len(self.joints)


# --------------------------------------------------------------------------------------------
# small helpers


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def keyframes(u: np.ndarray, knots: list[float], values: list[float]) -> np.ndarray:
    """Smoothly interpolate ``values`` given at increasing ``knots`` (ease in/out per span)."""
    k = np.asarray(knots, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    u = np.clip(u, k[0], k[-1])
    i = np.clip(np.searchsorted(k, u, side="right") - 1, 0, len(k) - 2)
    frac = (u - k[i]) / np.maximum(k[i + 1] - k[i], 1e-9)
    return v[i] + (v[i + 1] - v[i]) * _smoothstep(frac)


def smooth_noise(rng: np.random.Generator, n: int, fps: int, scale: float) -> np.ndarray:
    """Low-frequency noise ``(n,)``: random values every ~0.4 s, smoothly interpolated."""
    step = max(2, int(0.4 * fps))
    m = n // step + 2
    knots = np.arange(m) * step
    return keyframes(np.arange(n, dtype=np.float64), list(knots), list(rng.normal(0, scale, m)))


def _other(hand: str) -> str:
    return "l" if hand == "r" else "r"


def _times(n: int, fps: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64) / fps


def _reps(n: int, fps: int, rep_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Split ``n`` frames into whole repetitions of about ``rep_seconds``.

    Returns the repetition index ``(n,)`` and the phase ``u`` in ``[0, 1)`` within it ``(n,)``.
    """
    reps = max(1, round(n / (rep_seconds * fps)))
    pos = np.arange(n, dtype=np.float64) * reps / n
    return np.floor(pos).astype(np.int64), pos - np.floor(pos)


def _jitter(p: PoseParams, rng: np.random.Generator, fps: int, scale: float = 0.04) -> None:
    """Add smooth independent noise to every joint angle (not to jump / dx)."""
    n = len(p)
    for name in ("lean", "sh_l", "el_l", "sh_r", "el_r", "hip_l", "kn_l", "hip_r", "kn_r"):
        setattr(p, name, getattr(p, name) + smooth_noise(rng, n, fps, scale))
    p.kn_l = np.maximum(p.kn_l, 0.0)
    p.kn_r = np.maximum(p.kn_r, 0.0)


def _world(local: np.ndarray, ground: np.ndarray, facing: np.ndarray) -> np.ndarray:
    """Joints relative to the floor point with facing applied: ``(T, 17, 2)``."""
    out = local.copy()
    out[..., 0] *= facing[:, None]
    return out


def _hand_ball(joints: np.ndarray, ground: np.ndarray, side: str) -> np.ndarray:
    """Ball held in one hand: ``(T, 3)`` world coordinates."""
    w = joints[:, J["left_wrist" if side == "l" else "right_wrist"]]
    return np.stack([ground[:, 0] + w[:, 0], w[:, 1] - 0.08, ground[:, 1]], axis=1)


def _two_hand_ball(joints: np.ndarray, ground: np.ndarray, facing: np.ndarray) -> np.ndarray:
    """Ball held between both hands, slightly in front: ``(T, 3)``."""
    w = 0.5 * (joints[:, J["left_wrist"]] + joints[:, J["right_wrist"]])
    return np.stack([ground[:, 0] + w[:, 0] + 0.08 * facing, w[:, 1], ground[:, 1]], axis=1)


def _flight(p0: np.ndarray, p1: np.ndarray, u: np.ndarray, apex: float = 0.0) -> np.ndarray:
    """Ball on a parabola from ``p0`` to ``p1`` (``(3,)`` or ``(T, 3)``) at fraction ``u`` ``(T,)``;
    ``apex`` metres above the straight line at the middle."""
    u = np.clip(u, 0.0, 1.0)[:, None]
    out = p0 + (p1 - p0) * u
    out[:, 1] += apex * 4.0 * u[:, 0] * (1.0 - u[:, 0])
    return out


def _static_ground(ctx: MotionContext, n: int, drift: float = 0.0, rng=None) -> np.ndarray:
    g = np.empty((n, 2))
    g[:, 0] = ctx.start[0]
    g[:, 1] = ctx.start[1]
    if drift and rng is not None:
        g[:, 0] += smooth_noise(rng, n, ctx.fps, drift)
    return g


def _moving_ground(ctx: MotionContext, n: int, ease: bool = True) -> np.ndarray:
    u = np.linspace(0.0, 1.0, n)
    if ease:
        u = 0.5 * (u + _smoothstep(u))
    g = np.empty((n, 2))
    g[:, 0] = ctx.start[0] + (ctx.end[0] - ctx.start[0]) * u
    g[:, 1] = ctx.start[1] + (ctx.end[1] - ctx.start[1]) * u
    return g


def _face(x_from: float, x_to: float, default: int) -> int:
    d = x_to - x_from
    return default if abs(d) < 1e-6 else (1 if d > 0 else -1)


def _hoop_point() -> np.ndarray:
    return np.array([0.0, RIM_HEIGHT + BALL_RADIUS, HOOP_DEPTH])


# --------------------------------------------------------------------------------------------
# the actions


def stand(ctx: MotionContext, n: int, rng: np.random.Generator) -> Motion:
    """Standing, weight shifting and swaying; arms loose. No ball."""
    t = _times(n, ctx.fps)
    a = ctx.amplitude
    p = PoseParams.neutral(n)
    w = 2 * np.pi * rng.uniform(0.2, 0.45) * ctx.tempo
    ph = rng.uniform(0, 2 * np.pi)
    p.lean = 0.05 + 0.03 * a * np.sin(w * t + ph)
    p.hip_l = 0.08 + 0.05 * a * np.sin(w * t)
    p.hip_r = -0.08 + 0.05 * a * np.sin(w * t)
    p.sh_l = 0.1 + 0.08 * a * np.sin(w * t + 1.0)
    p.sh_r = -0.05 - 0.08 * a * np.sin(w * t + 1.0)
    if rng.random() < 0.5:  # hands on hips
        p.sh_l, p.el_l = np.full(n, -0.35), np.full(n, 1.9)
        p.sh_r, p.el_r = np.full(n, -0.35), np.full(n, 1.9)
    _jitter(p, rng, ctx.fps, 0.03)
    ground = _static_ground(ctx, n, 0.05, rng)
    facing = np.full(n, float(ctx.facing))
    joints = _world(forward_kinematics(p, ctx.body), ground, facing)
    return Motion(joints, ground, np.full((n, 3), np.nan))


def dribble(ctx: MotionContext, n: int, rng: np.random.Generator) -> Motion:
    """Dribbling in place with the strong hand; the ball bounces between hand and floor."""
    t = _times(n, ctx.fps)
    a = ctx.amplitude
    f = rng.uniform(1.5, 2.3) * ctx.tempo
    phase = f * t + rng.uniform(0, 1)
    phi = 2 * np.pi * phase
    p = PoseParams.neutral(n)
    crouch = rng.uniform(0.35, 0.7)
    p.lean = np.full(n, 0.22 + 0.1 * crouch)
    p.hip_l = np.full(n, 0.35 * crouch + 0.15)
    p.kn_l = np.full(n, 0.8 * crouch) + 0.05 * np.cos(phi)
    p.hip_r = np.full(n, 0.35 * crouch - 0.1)
    p.kn_r = np.full(n, 0.8 * crouch) + 0.05 * np.cos(phi)
    h = ctx.hand
    p.set_arm(h, 0.55 - 0.18 * a * np.cos(phi), 0.55 - 0.3 * a * np.cos(phi))
    p.set_arm(_other(h), np.full(n, 0.95), np.full(n, 0.9))
    _jitter(p, rng, ctx.fps)
    ground = _static_ground(ctx, n, 0.08, rng)
    facing = np.full(n, float(ctx.facing))
    joints = _world(forward_kinematics(p, ctx.body), ground, facing)
    hand = _hand_ball(joints, ground, h)
    hand[:, 0] += 0.06 * facing
    bounce = np.abs(np.cos(np.pi * phase))  # 1 at the hand, 0 at the floor
    ball = hand.copy()
    ball[:, 1] = BALL_RADIUS + (hand[:, 1] - BALL_RADIUS) * bounce
    ball[:, 0] += 0.1 * facing * (1 - bounce)
    return Motion(joints, ground, ball)


def crossover(ctx: MotionContext, n: int, rng: np.random.Generator) -> Motion:
    """Low dribble switching hands: the ball crosses in a V from one hand to the other."""
    t = _times(n, ctx.fps)
    a = ctx.amplitude
    f = rng.uniform(0.8, 1.2) * ctx.tempo  # hand switches per second / 2
    phase = 2 * f * t + rng.uniform(0, 1)  # one unit per switch
    s = np.sin(np.pi * phase)
    p = PoseParams.neutral(n)
    p.lean = np.full(n, 0.35)
    p.dx = 0.12 * a * s
    p.hip_l = 0.45 + 0.15 * a * s
    p.kn_l = np.full(n, 0.85)
    p.hip_r = -0.05 - 0.15 * a * s
    p.kn_r = np.full(n, 0.7)
    p.sh_l = 0.5 + 0.3 * a * s
    p.el_l = np.full(n, 0.5)
    p.sh_r = 0.5 - 0.3 * a * s
    p.el_r = np.full(n, 0.5)
    _jitter(p, rng, ctx.fps)
    ground = _static_ground(ctx, n, 0.06, rng)
    facing = np.full(n, float(ctx.facing))
    joints = _world(forward_kinematics(p, ctx.body), ground, facing)
    left = _hand_ball(joints, ground, "l")
    right = _hand_ball(joints, ground, "r")
    k = np.floor(phase).astype(np.int64)
    u = (phase - k)[:, None]
    src = np.where((k % 2 == 0)[:, None], right, left)
    dst = np.where((k % 2 == 0)[:, None], left, right)
    ball = src + (dst - src) * u
    v = np.abs(1.0 - 2.0 * u[:, 0])  # 1 at a hand, 0 at the floor in between
    ball[:, 1] = BALL_RADIUS + (ball[:, 1] - BALL_RADIUS) * v
    return Motion(joints, ground, ball)


def run(ctx: MotionContext, n: int, rng: np.random.Generator) -> Motion:
    """Running from ``start`` to ``end``: gait cycle matched to speed, arms pumping. No ball."""
    t = _times(n, ctx.fps)
    a = ctx.amplitude
    dist = float(np.hypot(ctx.end[0] - ctx.start[0], 6.0 * (ctx.end[1] - ctx.start[1])))
    speed = dist / max(t[-1], 1e-3) if n > 1 else 0.0
    f = float(np.clip(speed / (0.9 * ctx.body.height), 0.9, 2.0))
    phi = 2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)
    p = PoseParams.neutral(n)
    amp = 0.55 * a * float(np.clip(speed / 3.5, 0.6, 1.2))
    p.lean = np.full(n, 0.2 + 0.05 * a)
    p.hip_l = amp * np.sin(phi)
    p.hip_r = -amp * np.sin(phi)
    p.kn_l = 0.25 + 1.1 * np.maximum(0.0, np.cos(phi))
    p.kn_r = 0.25 + 1.1 * np.maximum(0.0, -np.cos(phi))
    p.sh_l = -0.7 * amp * np.sin(phi)
    p.sh_r = 0.7 * amp * np.sin(phi)
    p.el_l = np.full(n, 1.4)
    p.el_r = np.full(n, 1.4)
    p.jump = 0.05 * a * np.abs(np.sin(phi))
    _jitter(p, rng, ctx.fps, 0.03)
    ground = _moving_ground(ctx, n)
    facing = np.full(n, float(_face(ctx.start[0], ctx.end[0], ctx.facing)))
    joints = _world(forward_kinematics(p, ctx.body), ground, facing)
    return Motion(joints, ground, np.full((n, 3), np.nan))


def jump_shot(ctx: MotionContext, n: int, rng: np.random.Generator) -> Motion:
    """One to three jump shots: gather, rise, release at the top, ball arcs to the rim."""
    a = ctx.amplitude
    rep_s = rng.uniform(1.5, 2.0) / ctx.tempo
    rep, u = _reps(n, ctx.fps, rep_s)
    rep_frames = n / (rep.max() + 1)
    h, o = ctx.hand, _other(ctx.hand)
    knots = [0.0, 0.22, 0.38, 0.48, 0.58, 0.75, 1.0]
    p = PoseParams.neutral(n)
    p.kn_l = keyframes(u, knots, [0.3, 1.0, 0.2, 0.05, 0.1, 0.7, 0.3])
    p.kn_r = p.kn_l * 0.95
    p.hip_l = keyframes(u, knots, [0.15, 0.55, 0.1, 0.0, 0.05, 0.4, 0.15])
    p.hip_r = p.hip_l - 0.1
    height = rng.uniform(0.25, 0.5) * a
    p.jump = keyframes(u, knots, [0, 0, 0.5 * height, height, 0.6 * height, 0, 0])
    p.lean = keyframes(u, knots, [0.15, 0.3, 0.05, 0.0, 0.0, 0.2, 0.1])
    p.set_arm(
        h,
        keyframes(u, knots, [0.8, 0.9, 2.5, 2.95, 3.0, 1.3, 0.7]),
        keyframes(u, knots, [1.7, 1.9, 1.9, 0.7, 0.15, 0.5, 1.2]),
    )
    p.set_arm(
        o,
        keyframes(u, knots, [0.8, 0.9, 2.3, 2.6, 2.1, 0.9, 0.6]),
        keyframes(u, knots, [1.6, 1.7, 1.3, 0.8, 0.5, 0.6, 0.9]),
    )
    _jitter(p, rng, ctx.fps, 0.03)
    ground = _static_ground(ctx, n)
    facing = np.full(n, float(_face(ctx.start[0], ctx.hoop_x, ctx.facing)))
    joints = _world(forward_kinematics(p, ctx.body), ground, facing)
    ball = _two_hand_ball(joints, ground, facing)
    release = 0.5
    flight_u = (1.0 - release) * 0.75
    rim = _hoop_point()
    rim[0] = ctx.hoop_x
    for r in range(rep.max() + 1):
        m = rep == r
        idx = np.flatnonzero(m)
        after = idx[u[idx] >= release]
        if not len(after):
            continue
        p0 = ball[after[0] - 1] if after[0] > 0 else ball[after[0]]
        fu = (u[after] - release) / flight_u
        dist = abs(ctx.hoop_x - p0[0])
        ball[after] = _flight(p0, rim, fu, apex=0.8 + 0.12 * dist)
        # through the net and gone
        drop = fu > 1.0
        ball[after[drop], 1] = rim[1] - 2.5 * (fu[drop] - 1.0) * flight_u * rep_frames / ctx.fps
        ball[after[fu > 1.4]] = np.nan
    return Motion(joints, ground, ball)


def layup(ctx: MotionContext, n: int, rng: np.random.Generator) -> Motion:
    """Driving to the basket with the ball, one-leg take-off, laying the ball up to the rim."""
    t = _times(n, ctx.fps)
    a = ctx.amplitude
    jump_n = min(n - 1, round(rng.uniform(0.8, 1.0) / ctx.tempo * ctx.fps))
    drive_n = n - jump_n
    p = PoseParams.neutral(n)
    # drive: running gait with the ball carried at the hip
    f = rng.uniform(1.3, 1.7) * ctx.tempo
    phi = 2 * np.pi * f * t
    amp = 0.5 * a
    drive = np.arange(n) < drive_n
    p.hip_l = np.where(drive, amp * np.sin(phi), 0.0)
    p.hip_r = np.where(drive, -amp * np.sin(phi), 0.0)
    p.kn_l = np.where(drive, 0.25 + 1.0 * np.maximum(0, np.cos(phi)), 0.0)
    p.kn_r = np.where(drive, 0.25 + 1.0 * np.maximum(0, -np.cos(phi)), 0.0)
    p.lean = np.full(n, 0.25)
    h, o = ctx.hand, _other(ctx.hand)
    p.set_arm(h, np.full(n, 0.9), np.full(n, 1.2))
    p.set_arm(o, np.full(n, 0.8), np.full(n, 1.3))
    # take-off and lay-up
    u = np.clip((np.arange(n) - drive_n) / max(jump_n, 1), 0, 1)
    k = [0.0, 0.2, 0.45, 0.6, 0.8, 1.0]
    jm = ~drive
    lead, trail = ("hip_r", "kn_r"), ("hip_l", "kn_l")
    if h == "r":
        lead, trail = ("hip_l", "kn_l"), ("hip_r", "kn_r")
    setattr(
        p,
        lead[0],
        np.where(jm, keyframes(u, k, [0.2, 1.2, 1.3, 1.0, 0.2, 0.1]), getattr(p, lead[0])),
    )
    setattr(
        p,
        lead[1],
        np.where(jm, keyframes(u, k, [0.5, 1.7, 1.6, 1.2, 0.4, 0.3]), getattr(p, lead[1])),
    )
    setattr(
        p,
        trail[0],
        np.where(jm, keyframes(u, k, [0.0, -0.2, -0.1, 0.0, 0.1, 0.0]), getattr(p, trail[0])),
    )
    setattr(
        p,
        trail[1],
        np.where(jm, keyframes(u, k, [0.4, 0.2, 0.1, 0.2, 0.5, 0.3]), getattr(p, trail[1])),
    )
    height = rng.uniform(0.45, 0.75) * a
    p.jump = np.where(jm, keyframes(u, k, [0, 0.4 * height, height, 0.8 * height, 0, 0]), 0.0)
    sh_h, el_h = p.arm(h)
    p.set_arm(
        h,
        np.where(jm, keyframes(u, k, [0.9, 2.2, 2.9, 3.0, 1.2, 0.5]), sh_h),
        np.where(jm, keyframes(u, k, [1.2, 1.0, 0.35, 0.2, 0.5, 0.6]), el_h),
    )
    sh_o, el_o = p.arm(o)
    p.set_arm(
        o,
        np.where(jm, keyframes(u, k, [0.8, 1.8, 1.6, 1.2, 0.6, 0.4]), sh_o),
        np.where(jm, keyframes(u, k, [1.3, 1.2, 1.0, 0.8, 0.6, 0.5]), el_o),
    )
    _jitter(p, rng, ctx.fps, 0.03)
    ground = _moving_ground(ctx, n, ease=False)
    facing = np.full(n, float(_face(ctx.start[0], ctx.hoop_x, ctx.facing)))
    joints = _world(forward_kinematics(p, ctx.body), ground, facing)
    ball = _hand_ball(joints, ground, h)
    # bounce the ball once per stride during the drive
    bounce = np.abs(np.cos(np.pi * f * t))
    ball[drive, 1] = BALL_RADIUS + (ball[drive, 1] - BALL_RADIUS) * bounce[drive]
    release = drive_n + int(0.5 * jump_n)
    if release < n:
        rim = _hoop_point()
        rim[0] = ctx.hoop_x
        m = np.arange(release, n)
        fu = (m - release) / max(0.3 * ctx.fps, 1)
        ball[m] = _flight(ball[release - 1], rim, fu, apex=0.3)
        ball[m[fu > 1.0], 1] = rim[1] - 2.0 * (fu[fu > 1.0] - 1.0)
        ball[m[fu > 1.8]] = np.nan
    return Motion(joints, ground, ball)


def pass_ball(ctx: MotionContext, n: int, rng: np.random.Generator) -> Motion:
    """Holding the ball with pump fakes, then a chest, bounce or overhead pass; the ball flies
    off."""
    a = ctx.amplitude
    t = _times(n, ctx.fps)
    variant = rng.choice(["chest", "bounce", "overhead"])
    throw_n = min(n - 2, round(rng.uniform(0.7, 0.9) / ctx.tempo * ctx.fps))
    hold_n = n - throw_n
    p = PoseParams.neutral(n)
    p.lean = np.full(n, 0.15)
    p.hip_l = np.full(n, 0.25)
    p.kn_l = np.full(n, 0.45)
    p.hip_r = np.full(n, -0.1)
    p.kn_r = np.full(n, 0.35)
    fake = 0.25 * a * np.sin(2 * np.pi * rng.uniform(0.8, 1.4) * t) ** 2
    hold_sh = (2.4 if variant == "overhead" else 0.9) + fake
    hold_el = 1.2 if variant == "overhead" else 2.0
    u = np.clip((np.arange(n) - hold_n) / max(throw_n, 1), 0, 1)
    k = [0.0, 0.15, 0.35, 0.6, 1.0]
    end_sh = 2.6 if variant == "overhead" else (1.2 if variant == "bounce" else 1.55)
    sh = np.where(
        u > 0,
        keyframes(u, k, [hold_sh[hold_n - 1], end_sh - 0.3, end_sh, end_sh - 0.2, 0.3]),
        hold_sh,
    )
    el = np.where(u > 0, keyframes(u, k, [hold_el, 1.0, 0.1, 0.1, 0.4]), hold_el)
    p.sh_l, p.el_l = sh.copy(), el.copy()
    p.sh_r, p.el_r = sh + 0.05, el.copy()
    p.lean = np.where(u > 0, keyframes(u, k, [0.15, 0.3, 0.4, 0.3, 0.1]), p.lean)
    p.hip_l = np.where(u > 0, keyframes(u, k, [0.25, 0.5, 0.6, 0.5, 0.25]), p.hip_l)
    _jitter(p, rng, ctx.fps, 0.03)
    ground = _static_ground(ctx, n)
    facing = np.full(n, float(ctx.facing))
    joints = _world(forward_kinematics(p, ctx.body), ground, facing)
    ball = _two_hand_ball(joints, ground, facing)
    release = hold_n + int(0.35 * throw_n)
    if release < n:
        m = np.arange(release, n)
        secs = (m - release) / ctx.fps
        p0 = ball[release - 1].copy()
        speed = rng.uniform(7.0, 10.0)
        ball[m, 0] = p0[0] + facing[m] * speed * secs
        if variant == "bounce":
            tb = 0.35
            y = np.where(
                secs < tb,
                p0[1] + (BALL_RADIUS - p0[1]) * secs / tb,
                BALL_RADIUS + (p0[1] - BALL_RADIUS) * np.clip((secs - tb) / tb, 0, 1),
            )
            ball[m, 1] = y
        else:
            ball[m, 1] = p0[1] - 0.3 * secs
        ball[m, 2] = p0[2]
    return Motion(joints, ground, ball)


def catch(ctx: MotionContext, n: int, rng: np.random.Generator) -> Motion:
    """Showing a target, catching a pass that arrives from in front, then triple-threat hold."""
    a = ctx.amplitude
    t = _times(n, ctx.fps)
    catch_i = int(np.clip(rng.uniform(0.35, 0.55) * n, 1, n - 1))
    pull = np.clip((np.arange(n) - catch_i) / (0.4 * ctx.fps), 0, 1)
    p = PoseParams.neutral(n)
    p.lean = 0.12 + 0.1 * pull
    p.hip_l = np.full(n, 0.3)
    p.kn_l = 0.4 + 0.3 * pull
    p.hip_r = np.full(n, -0.1)
    p.kn_r = 0.3 + 0.3 * pull
    ready = 1.35 + 0.1 * a * np.sin(2 * np.pi * 1.5 * t)
    sh = ready + (0.85 - ready) * _smoothstep(pull)
    el = 0.7 + (2.0 - 0.7) * _smoothstep(pull)
    p.sh_l, p.el_l = sh.copy(), el.copy()
    p.sh_r, p.el_r = sh + 0.05, el.copy()
    _jitter(p, rng, ctx.fps, 0.03)
    ground = _static_ground(ctx, n)
    facing = np.full(n, float(ctx.facing))
    joints = _world(forward_kinematics(p, ctx.body), ground, facing)
    ball = _two_hand_ball(joints, ground, facing)
    fly_n = int(rng.uniform(0.45, 0.7) * ctx.fps)
    start = max(0, catch_i - fly_n)
    m = np.arange(start, catch_i)
    if len(m):
        p1 = ball[catch_i]
        p0 = p1 + np.array([ctx.facing * rng.uniform(4.0, 6.0), rng.uniform(-0.3, 0.5), 0.0])
        ball[m] = _flight(p0, p1, (m - start) / max(catch_i - start, 1), apex=0.3)
    ball[:start] = np.nan
    return Motion(joints, ground, ball)


def rebound(ctx: MotionContext, n: int, rng: np.random.Generator) -> Motion:
    """Waiting under a missed shot, jumping with both arms up, securing the ball at the chin."""
    a = ctx.amplitude
    apex_i = int(np.clip(rng.uniform(0.4, 0.6) * n, 2, n - 2))
    up_n = max(2, int(0.35 * ctx.fps / ctx.tempo))
    down_n = max(2, int(0.35 * ctx.fps / ctx.tempo))
    i = np.arange(n, dtype=np.float64)
    u = np.interp(i, [0, apex_i - up_n, apex_i, apex_i + down_n, n - 1], [0, 0.25, 0.5, 0.75, 1.0])
    k = [0.0, 0.25, 0.5, 0.75, 1.0]
    p = PoseParams.neutral(n)
    p.kn_l = keyframes(u, k, [0.8, 1.1, 0.05, 0.8, 0.6])
    p.kn_r = p.kn_l.copy()
    p.hip_l = keyframes(u, k, [0.4, 0.6, 0.0, 0.45, 0.35])
    p.hip_r = p.hip_l - 0.15
    height = rng.uniform(0.35, 0.6) * a
    p.jump = keyframes(u, k, [0, 0, height, 0, 0])
    p.lean = keyframes(u, k, [0.2, 0.3, 0.0, 0.3, 0.25])
    sh = keyframes(u, k, [1.5, 1.2, 3.05, 1.2, 0.9])
    el = keyframes(u, k, [0.9, 1.0, 0.1, 1.9, 2.1])
    p.sh_l, p.el_l = sh.copy(), el.copy()
    p.sh_r, p.el_r = sh + 0.05, el.copy()
    _jitter(p, rng, ctx.fps, 0.03)
    ground = _static_ground(ctx, n)
    facing = np.full(n, float(_face(ctx.start[0], ctx.hoop_x, ctx.facing)))
    joints = _world(forward_kinematics(p, ctx.body), ground, facing)
    ball = _two_hand_ball(joints, ground, facing)
    fall_n = int(rng.uniform(0.7, 1.0) * ctx.fps)
    start = max(0, apex_i - fall_n)
    m = np.arange(start, apex_i)
    if len(m):
        rim = _hoop_point()
        rim[0] = ctx.hoop_x
        ball[m] = _flight(rim, ball[apex_i], (m - start) / max(apex_i - start, 1), apex=0.8)
    ball[:start] = np.nan
    return Motion(joints, ground, ball)


def block(ctx: MotionContext, n: int, rng: np.random.Generator) -> Motion:
    """One to three shot-block jumps with the arm(s) straight up, swatting an incoming ball away."""
    a = ctx.amplitude
    rep, u = _reps(n, ctx.fps, rng.uniform(1.2, 1.6) / ctx.tempo)
    k = [0.0, 0.3, 0.5, 0.7, 1.0]
    p = PoseParams.neutral(n)
    p.kn_l = keyframes(u, k, [0.5, 1.0, 0.05, 0.7, 0.5])
    p.kn_r = p.kn_l.copy()
    p.hip_l = keyframes(u, k, [0.3, 0.55, 0.05, 0.4, 0.3])
    p.hip_r = p.hip_l - 0.15
    height = rng.uniform(0.35, 0.6) * a
    p.jump = keyframes(u, k, [0, 0, height, 0, 0])
    p.lean = keyframes(u, k, [0.15, 0.3, 0.1, 0.25, 0.15])
    two_hands = rng.random() < 0.4
    h, o = ctx.hand, _other(ctx.hand)
    p.set_arm(
        h, keyframes(u, k, [1.0, 0.8, 3.1, 1.5, 1.0]), keyframes(u, k, [1.2, 1.3, 0.05, 0.6, 1.1])
    )
    if two_hands:
        p.set_arm(
            o,
            keyframes(u, k, [1.0, 0.8, 3.0, 1.5, 1.0]),
            keyframes(u, k, [1.2, 1.3, 0.1, 0.6, 1.1]),
        )
    else:
        p.set_arm(
            o,
            keyframes(u, k, [1.0, 0.7, 1.8, 1.2, 1.0]),
            keyframes(u, k, [1.2, 1.2, 0.6, 0.8, 1.1]),
        )
    _jitter(p, rng, ctx.fps, 0.03)
    ground = _static_ground(ctx, n)
    facing = np.full(n, float(ctx.facing))
    joints = _world(forward_kinematics(p, ctx.body), ground, facing)
    ball = np.full((n, 3), np.nan)
    hand = _hand_ball(joints, ground, h)
    for r in range(rep.max() + 1):
        idx = np.flatnonzero(rep == r)
        contact = idx[np.argmin(np.abs(u[idx] - 0.5))]
        p1 = hand[contact] + np.array([0.0, 0.15, 0.0])
        p0 = p1 + np.array([ctx.facing * 3.0, -0.8, 0.0])
        inc = idx[(u[idx] >= 0.2) & (u[idx] < 0.5)]
        out = idx[u[idx] >= 0.5]
        if len(inc):
            ball[inc] = _flight(p0, p1, (u[inc] - 0.2) / 0.3, apex=0.4)
        if len(out):
            p2 = p1 + np.array([ctx.facing * 2.5, -p1[1] + BALL_RADIUS, 0.0])
            ball[out] = _flight(p1, p2, (u[out] - 0.5) / 0.3, apex=0.3)
            ball[out[u[out] > 0.85]] = np.nan
    return Motion(joints, ground, ball)


GENERATORS: dict[str, Callable[[MotionContext, int, np.random.Generator], Motion]] = {
    "stand": stand,
    "dribble": dribble,
    "crossover": crossover,
    "run": run,
    "jump_shot": jump_shot,
    "layup": layup,
    "pass": pass_ball,
    "catch": catch,
    "rebound": rebound,
    "block": block,
}


def generate_motion(
    action: str, ctx: MotionContext, n_frames: int, rng: np.random.Generator
) -> Motion:
    """Motion of ``n_frames`` frames of ``action`` (one of :data:`ACTIONS`)."""
    if action not in GENERATORS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    if n_frames < 2:
        raise ValueError(f"an action needs at least 2 frames, got {n_frames}")
    return GENERATORS[action](ctx, n_frames, rng)


def concat_motions(motions: list[Motion], fps: int, blend_seconds: float = 0.2) -> Motion:
    """Join consecutive action instances of one player, cross-fading the joints over
    ``blend_seconds`` after each boundary so poses do not jump."""
    joints = np.concatenate([m.joints for m in motions])
    ground = np.concatenate([m.ground for m in motions])
    ball = np.concatenate([m.ball for m in motions])
    k = max(1, int(blend_seconds * fps))
    pos = 0
    for prev, cur in itertools.pairwise(motions):
        pos += len(prev)
        m = min(k, len(cur))
        w = _smoothstep(np.arange(1, m + 1) / (m + 1))[:, None, None]
        joints[pos : pos + m] = (1 - w) * prev.joints[-1] + w * joints[pos : pos + m]
    return Motion(joints, ground, ball)
