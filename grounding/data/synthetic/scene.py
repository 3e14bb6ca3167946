"""The court background, the camera and the image degradations of one synthetic video.

The court is painted once per video into a panorama (:class:`Scene`) in perspective: floor with
planks, lines and painted keys, two hoops with backboards, wall and crowd. A camera is a
per-frame affine map panorama -> frame (pan, zoom, shake), so each frame's background is one
``cv2.warpAffine``. Lighting (a slow gain drift with flicker) and sensor noise (a bank of
precomputed Gaussian noise images) are applied with saturating uint8 operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from grounding.data.synthetic.court import (
    BOARD_X,
    COURT_LENGTH,
    HOOP_DEPTH,
    HOOP_X,
    MID_X,
    RIM_HEIGHT,
    RIM_RADIUS,
)

#: world x range painted into the panorama (metres)
PANO_X = (-2.0, COURT_LENGTH + 2.0)
#: panorama height in metres of image at depth 1 (top of wall to below the near sideline)
PANO_H_M = 9.0
#: floor far / near edge rows (metres from the top, at pixel-per-metre scale)
FLOOR_FAR_M, FLOOR_NEAR_M = 5.0, 8.0
#: view width limits in metres at the near sideline scale
VIEW_MIN_M, VIEW_MAX_M = 4.5, 8.0


def depth_scale(depth: np.ndarray | float) -> np.ndarray | float:
    """Perspective scale of things at ``depth`` (1 at the near sideline)."""
    return 0.7 + 0.3 * np.asarray(depth)


@dataclass
class Scene:
    """A painted court panorama and its projection.

    Attributes:
        pano: ``(H, W, 3)`` uint8 BGR image.
        ppm: panorama pixels per metre at the near sideline.
    """

    pano: np.ndarray
    ppm: float

    def project(
        self, x: np.ndarray, height: np.ndarray, depth: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """World points to panorama pixels.

        Args:
            x, height, depth: broadcastable arrays (metres, metres, ``[0, 1]``).

        Returns:
            ``(..., 2)`` panorama coordinates and the pixels-per-metre scale at each point.
        """
        s = self.ppm * depth_scale(depth)
        cx = (MID_X - PANO_X[0]) * self.ppm
        floor_y = self.ppm * (FLOOR_FAR_M + (FLOOR_NEAR_M - FLOOR_FAR_M) * np.asarray(depth))
        px = cx + (np.asarray(x) - MID_X) * s
        py = floor_y - np.asarray(height) * s
        return np.stack(np.broadcast_arrays(px, py), axis=-1), np.broadcast_to(s, np.shape(px))


@dataclass(frozen=True)
class Palette:
    floor: tuple[int, int, int]
    paint: tuple[int, int, int]
    lines: tuple[int, int, int]
    wall: tuple[int, int, int]
    tint: tuple[float, float, float]


def sample_palette(rng: np.random.Generator) -> Palette:
    """Random court colours (BGR) and a colour cast of the lighting."""
    wood = np.array([95, 150, 205]) * rng.uniform(0.8, 1.1) + rng.integers(-15, 16, 3)
    paints = [(60, 60, 170), (150, 90, 40), (60, 130, 60), (40, 90, 160), (120, 60, 120)]
    paint = np.array(paints[rng.integers(len(paints))]) + rng.integers(-20, 21, 3)
    wall = rng.integers(40, 130, 3)
    tint = rng.uniform(0.9, 1.1, 3)
    return Palette(
        floor=tuple(int(v) for v in np.clip(wood, 0, 255)),
        paint=tuple(int(v) for v in np.clip(paint, 0, 255)),
        lines=(235, 240, 245),
        wall=tuple(int(v) for v in wall),
        tint=tuple(float(v) for v in tint),
    )


def _poly(scene: Scene, xs: np.ndarray, ds: np.ndarray) -> np.ndarray:
    pts, _ = scene.project(xs, np.zeros_like(xs), ds)
    return np.round(pts * 16).astype(np.int32)


def make_scene(rng: np.random.Generator, size: int) -> Scene:
    """Paint a court panorama for frames of ``size`` pixels."""
    ppm = size / VIEW_MIN_M
    w = round((PANO_X[1] - PANO_X[0]) * ppm)
    h = round(PANO_H_M * ppm)
    pal = sample_palette(rng)
    scene = Scene(pano=np.zeros((h, w, 3), np.uint8), ppm=ppm)
    img = scene.pano
    floor_top = int(FLOOR_FAR_M * ppm)
    # wall with a crowd: a coarse random colour grid, upscaled and blurred
    img[:floor_top] = pal.wall
    crowd_rows = max(1, int(2.2 * ppm / 6))
    crowd = rng.integers(30, 230, (crowd_rows, max(1, w // 5), 3)).astype(np.uint8)
    crowd = cv2.resize(crowd, (w, int(2.2 * ppm)), interpolation=cv2.INTER_NEAREST)
    crowd = cv2.GaussianBlur(crowd, (0, 0), 0.8)
    top = int(0.4 * ppm)
    img[top : top + crowd.shape[0]] = (0.6 * crowd + 0.4 * np.array(pal.wall)).astype(np.uint8)
    banner_y = top + crowd.shape[0]
    banner_col = tuple(int(v) for v in rng.integers(0, 256, 3))
    img[banner_y : banner_y + int(0.5 * ppm)] = banner_col
    # floor: wood with planks along x and grain noise
    img[floor_top:] = pal.floor
    rows = np.arange(h - floor_top, dtype=np.float64)
    plank = 8.0 * np.sin(rows * 2.1) * (rng.random(len(rows)) < 0.5)
    grain = cv2.GaussianBlur(rng.normal(0, 10, (h - floor_top, w)).astype(np.float32), (0, 0), 2.0)
    floor = img[floor_top:].astype(np.float32) + (plank[:, None] + grain)[..., None]
    img[floor_top:] = np.clip(floor, 0, 255).astype(np.uint8)
    # painted keys and lines
    lw = max(1, round(0.06 * ppm))
    for side in (0, 1):
        x0, x1 = (0.0, 5.0) if side == 0 else (COURT_LENGTH - 5.0, COURT_LENGTH)
        key = _poly(scene, np.array([x0, x1, x1, x0]), np.array([0.32, 0.32, 0.68, 0.68]))
        cv2.fillConvexPoly(img, key, pal.paint, cv2.LINE_AA, 4)
        cv2.polylines(img, [key], True, pal.lines, lw, cv2.LINE_AA, 4)
        ang = np.linspace(-np.pi / 2, np.pi / 2, 40)
        hx = HOOP_X[side]
        sign = 1.0 if side == 0 else -1.0
        arc = _poly(scene, hx + sign * 5.0 * np.cos(ang), HOOP_DEPTH + 0.42 * np.sin(ang))
        cv2.polylines(img, [arc], False, pal.lines, lw, cv2.LINE_AA, 4)
    border = _poly(scene, np.array([0, COURT_LENGTH, COURT_LENGTH, 0.0]), np.array([0, 0, 1, 1.0]))
    cv2.polylines(img, [border], True, pal.lines, lw, cv2.LINE_AA, 4)
    cv2.polylines(
        img,
        [_poly(scene, np.array([MID_X, MID_X]), np.array([0, 1.0]))],
        False,
        pal.lines,
        lw,
        cv2.LINE_AA,
        4,
    )
    ang = np.linspace(0, 2 * np.pi, 48)
    circle = _poly(scene, MID_X + 1.8 * np.cos(ang), 0.5 + 0.2 * np.sin(ang))
    cv2.polylines(img, [circle], True, pal.lines, lw, cv2.LINE_AA, 4)
    for side in (0, 1):
        _draw_hoop(scene, side)
    tinted = img.astype(np.float32) * np.array(pal.tint, np.float32)
    scene.pano = np.clip(tinted, 0, 255).astype(np.uint8)
    return scene


def _draw_hoop(scene: Scene, side: int) -> None:
    """Pole, backboard, rim and net of the left (0) or right (1) hoop."""
    img, ppm = scene.pano, scene.ppm
    sign = 1.0 if side == 0 else -1.0
    bx, hx = BOARD_X[side], HOOP_X[side]

    def pt(x: float, hgt: float, d: float = HOOP_DEPTH) -> tuple[int, int]:
        p, _ = scene.project(np.array(x), np.array(hgt), np.array(d))
        return round(p[0] * 16), round(p[1] * 16)

    s = ppm * float(depth_scale(HOOP_DEPTH))
    pole_x = bx - sign * 1.0
    cv2.line(
        img, pt(pole_x, 0.0), pt(pole_x, 3.3), (90, 90, 90), max(1, int(0.12 * s)), cv2.LINE_AA, 4
    )
    cv2.line(img, pt(pole_x, 3.3), pt(bx, 3.3), (90, 90, 90), max(1, int(0.08 * s)), cv2.LINE_AA, 4)
    # the backboard seen slightly from the front: a narrow quad
    board = np.array(
        [
            pt(bx - 0.12, 2.9, 0.38),
            pt(bx + 0.12, 2.9, 0.62),
            pt(bx + 0.12, 4.0, 0.62),
            pt(bx - 0.12, 4.0, 0.38),
        ],
        np.int32,
    )
    cv2.fillConvexPoly(img, board, (235, 235, 235), cv2.LINE_AA, 4)
    cv2.polylines(img, [board], True, (40, 40, 200), max(1, int(0.04 * s)), cv2.LINE_AA, 4)
    c = pt(hx, RIM_HEIGHT)
    axes = (int(RIM_RADIUS * s * 16), int(0.07 * s * 16))
    # net: lines from the rim converging below it
    for k in np.linspace(-1, 1, 5):
        top = pt(hx + k * RIM_RADIUS, RIM_HEIGHT)
        bot = pt(hx + 0.5 * k * RIM_RADIUS, RIM_HEIGHT - 0.4)
        cv2.line(img, top, bot, (225, 225, 225), 1, cv2.LINE_AA, 4)
    cv2.ellipse(img, c, axes, 0, 0, 360, (30, 80, 230), max(1, int(0.05 * s)), cv2.LINE_AA, 4)


# --------------------------------------------------------------------------------------------
# camera


def camera_track(
    rng: np.random.Generator,
    scene: Scene,
    lo: np.ndarray,
    hi: np.ndarray,
    size: int,
    fps: int,
    *,
    margin_m: float = 2.0,
    view_limits_m: tuple[float, float] = (VIEW_MIN_M + 0.5, VIEW_MAX_M),
    shake_px: float | None = None,
) -> np.ndarray:
    """Per-frame affine maps panorama -> frame that keep the players in view.

    Args:
        lo, hi: ``(T, 2)`` top-left and bottom-right panorama corners of what should be seen.
        view_limits_m: narrowest and widest view, in metres at the near sideline.
        shake_px: camera shake amplitude in frame pixels (random when None).

    Returns:
        ``(T, 2, 3)`` float64 affine matrices for ``cv2.warpAffine``.
    """
    n = len(lo)
    ppm = scene.ppm
    ph, pw = scene.pano.shape[:2]
    width = np.clip(
        (hi[:, 0] - lo[:, 0]) + margin_m * ppm, view_limits_m[0] * ppm, view_limits_m[1] * ppm
    )
    cx = 0.5 * (lo[:, 0] + hi[:, 0])
    cy = 0.5 * (lo[:, 1] + hi[:, 1]) + 0.03 * width
    k = max(1, int(0.8 * fps))
    width, cx, cy = (_smooth(v, k) for v in (width, cx, cy))
    # slow zoom breathing and pan drift give extra camera motion
    t = np.arange(n) / fps
    width *= 1.0 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.03, 0.1) * t + rng.uniform(0, 6.3))
    width = np.minimum(width, min(ph, pw) - 2)
    cx += 0.3 * ppm * np.sin(2 * np.pi * rng.uniform(0.02, 0.08) * t + rng.uniform(0, 6.3))
    half = 0.5 * width
    cx = np.clip(cx, half, pw - half)
    cy = np.clip(cy, half, ph - half)
    zoom = size / width
    if shake_px is None:
        shake_px = float(rng.uniform(0.0, 1.2))
    # hand-held shake: smooth wobble (a new target every ~0.2 s) plus rare short bumps
    step = max(2, fps // 5)
    knots = np.arange(0, n + step, step)
    shake = np.stack(
        [np.interp(np.arange(n), knots, rng.normal(0, shake_px, len(knots))) for _ in range(2)],
        axis=1,
    )
    bursts = rng.random(n) < 0.005
    if bursts.any():
        decay = np.exp(-np.arange(int(0.5 * fps)) / (0.1 * fps))
        amp = np.convolve(bursts.astype(np.float64), decay)[:n]
        shake += rng.normal(0, 1.0 + 2.0 * shake_px, (n, 2)) * amp[:, None]
    a = np.zeros((n, 2, 3))
    a[:, 0, 0] = zoom
    a[:, 1, 1] = zoom
    a[:, 0, 2] = size / 2 - zoom * cx + shake[:, 0]
    a[:, 1, 2] = size / 2 - zoom * cy + shake[:, 1]
    return a


def _smooth(v: np.ndarray, k: int) -> np.ndarray:
    """Centred moving average with edge padding (``(T,)``)."""
    if k <= 1 or len(v) < 2:
        return v.astype(np.float64)
    pad = np.pad(v.astype(np.float64), (k, k), mode="edge")
    c = np.cumsum(np.insert(pad, 0, 0.0))
    out = (c[2 * k + 1 :] - c[: -2 * k - 1]) / (2 * k + 1)
    return out[: len(v)]


def apply_affine(a: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map panorama points ``(T, N, 2)`` (or ``(T, 2)``) through per-frame affines ``(T, 2, 3)``."""
    if pts.ndim == 2:
        return apply_affine(a, pts[:, None])[:, 0]
    return np.einsum("tij,tnj->tni", a[:, :, :2], pts) + a[:, None, :, 2]


# --------------------------------------------------------------------------------------------
# lighting and noise


@dataclass
class Degradation:
    """Per-frame lighting and a bank of sensor noise for one video.

    Attributes:
        gain, bias: ``(T,)`` brightness gain and offset.
        noise_pos, noise_neg: ``(K, S, S, 3)`` uint8 positive / negative noise parts.
        noise_idx: ``(T,)`` which noise image each frame uses.
        vignette: ``(S, S, 3)`` uint8 darkening towards the corners.
    """

    gain: np.ndarray
    bias: np.ndarray
    noise_pos: np.ndarray
    noise_neg: np.ndarray
    noise_idx: np.ndarray
    vignette: np.ndarray

    def apply(self, frame: np.ndarray, i: int) -> np.ndarray:
        """Degrade frame ``i`` (``(S, S, 3)`` uint8) and return it."""
        out = cv2.convertScaleAbs(frame, alpha=float(self.gain[i]), beta=float(self.bias[i]))
        k = self.noise_idx[i]
        cv2.add(out, self.noise_pos[k], dst=out)
        cv2.subtract(out, self.noise_neg[k], dst=out)
        cv2.subtract(out, self.vignette, dst=out)
        return out


def sample_degradation(
    rng: np.random.Generator, n: int, size: int, fps: int, bank: int = 6
) -> Degradation:
    """Random lighting drift, flicker, vignetting and Gaussian sensor noise."""
    t = np.arange(n) / fps
    gain = (
        rng.uniform(0.85, 1.1)
        + 0.06 * np.sin(2 * np.pi * rng.uniform(0.02, 0.1) * t + rng.uniform(0, 6.3))
        + rng.normal(0, rng.uniform(0.0, 0.02), n)
    )
    bias = rng.uniform(-12, 12) + np.zeros(n)
    sigma = rng.uniform(1.5, 6.0)
    noise = rng.normal(0, sigma, (bank, size, size, 3)).astype(np.float32)
    pos = np.clip(noise, 0, 255).astype(np.uint8)
    neg = np.clip(-noise, 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1) - 0.5
    strength = rng.uniform(10, 45)
    vig = np.clip(strength * (xx**2 + yy**2) * 2.0, 0, 255).astype(np.uint8)
    vig = np.repeat(vig[..., None], 3, axis=2)
    idx = rng.integers(0, bank, n)
    return Degradation(gain, bias, pos, neg, idx, vig)
