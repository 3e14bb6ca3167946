"""The per-video schedule: which players appear, what each does when and where.

:func:`make_script` draws a :class:`VideoScript` from ``(seed, index)`` alone, so any worker can
rebuild any video. Each player follows a Markov chain of actions (natural transitions such as
catch -> dribble -> jump shot are favoured, ball possession is tracked softly) over the whole
video; players start at different times, so actions of different players overlap. Positions
follow a shared "play focus" that drifts along the court, so the players stay close enough for
one camera. The script also picks the trimmed single-action clips (HMDB51-style).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from grounding.data.synthetic.actions import ACTIONS, MOVING_ACTIONS
from grounding.data.synthetic.court import (
    D_MAX,
    D_MIN,
    HOOP_X,
    MID_X,
    X_MAX,
    X_MIN,
    nearest_hoop,
)
from grounding.data.synthetic.skeleton import Body, sample_body

#: Jersey colours (name -> BGR). Orange is left out: it is the ball's colour.
JERSEYS: dict[str, tuple[int, int, int]] = {
    "red": (40, 40, 215),
    "blue": (210, 90, 30),
    "green": (50, 165, 40),
    "yellow": (40, 215, 235),
    "white": (240, 240, 240),
    "black": (35, 35, 35),
    "purple": (160, 50, 135),
}
SKIN: tuple[tuple[int, int, int], ...] = (
    (150, 185, 230),
    (110, 150, 205),
    (80, 115, 170),
    (55, 80, 125),
    (40, 60, 95),
)
HAIR: tuple[tuple[int, int, int], ...] = (
    (20, 20, 20),
    (30, 50, 90),
    (60, 110, 170),
    (120, 120, 120),
)

#: duration range in seconds of each action (run and layup durations follow their distance)
DURATION_S: dict[str, tuple[float, float]] = {
    "stand": (2.0, 6.0),
    "dribble": (3.0, 10.0),
    "crossover": (2.5, 7.5),
    "run": (1.5, 5.0),
    "jump_shot": (2.0, 6.0),
    "layup": (1.8, 3.5),
    "pass": (1.8, 4.0),
    "catch": (1.8, 4.0),
    "rebound": (1.8, 4.0),
    "block": (2.0, 5.0),
}
BASE_WEIGHT: dict[str, float] = {
    "stand": 0.6,
    "dribble": 1.2,
    "crossover": 0.8,
    "run": 1.2,
    "jump_shot": 1.0,
    "layup": 1.0,
    "pass": 1.0,
    "catch": 1.0,
    "rebound": 0.9,
    "block": 0.8,
}
NATURAL: frozenset[tuple[str, str]] = frozenset(
    {
        ("catch", "dribble"),
        ("catch", "jump_shot"),
        ("catch", "pass"),
        ("dribble", "crossover"),
        ("dribble", "jump_shot"),
        ("dribble", "pass"),
        ("dribble", "layup"),
        ("crossover", "jump_shot"),
        ("crossover", "layup"),
        ("crossover", "pass"),
        ("rebound", "pass"),
        ("rebound", "dribble"),
        ("run", "catch"),
        ("run", "rebound"),
        ("run", "block"),
        ("jump_shot", "run"),
        ("layup", "run"),
        ("pass", "run"),
        ("block", "run"),
        ("stand", "catch"),
        ("jump_shot", "rebound"),
    }
)
NEEDS_BALL = frozenset({"dribble", "crossover", "jump_shot", "layup", "pass"})
GETS_BALL = frozenset({"catch", "rebound"})
LOSES_BALL = frozenset({"jump_shot", "layup", "pass"})
#: preference of each class when picking the trimmed action clips (evens out class counts)
CLIP_WEIGHT: dict[str, float] = {a: 1.0 / BASE_WEIGHT[a] for a in ACTIONS}

MIN_VIDEO_S, MAX_VIDEO_S = 10.0, 40.0
#: the play's centre stays between these x (metres)
FOCUS_SPAN = (4.0, 12.0)
CLIPS_PER_VIDEO = 6
MAX_RUN_M = 6.0
CLIP_S = (2.0, 3.0)
#: seed streams derived from (seed, video index)
STREAMS = {"schedule": 0, "queries": 1, "scene": 2, "camera": 3, "motion": 4, "clips": 5}


def video_rng(seed: int, index: int, stream: str, *extra: int) -> np.random.Generator:
    """Independent generator for one part of one video (same result in any worker)."""
    return np.random.default_rng(np.random.SeedSequence([seed, index, STREAMS[stream], *extra]))


@dataclass(frozen=True)
class Player:
    """One player: jersey colour name and BGR, body, shorts/skin/hair colours, strong hand."""

    index: int
    colour: str
    jersey: tuple[int, int, int]
    shorts: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    body: Body
    hand: str


@dataclass(frozen=True)
class Segment:
    """One action instance of one player, frames ``[start, end)``."""

    player: int
    order: int
    action: str
    start: int
    end: int
    start_pos: tuple[float, float]
    end_pos: tuple[float, float]
    hoop_x: float
    hand: str
    tempo: float
    amplitude: float
    facing: int

    @property
    def n_frames(self) -> int:
        return self.end - self.start

    @property
    def x_range(self) -> tuple[float, float]:
        a, b = self.start_pos[0], self.end_pos[0]
        return (min(a, b), max(a, b))


@dataclass(frozen=True)
class Clip:
    """A trimmed single-action clip: frames ``[start, end)`` of one segment, one player."""

    name: str
    segment: int
    start: int
    end: int


@dataclass
class VideoScript:
    """Everything needed to render one video and write its annotations."""

    vid: str
    index: int
    seed: int
    fps: int
    size: int
    n_frames: int
    players: list[Player]
    segments: list[Segment]
    clips: list[Clip] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    def player_segments(self, player: int) -> list[Segment]:
        return [s for s in self.segments if s.player == player]

    def neighbours(self, seg: Segment) -> tuple[Segment | None, Segment | None]:
        """The same player's previous and next segments."""
        own = self.player_segments(seg.player)
        i = own.index(seg)
        return (own[i - 1] if i > 0 else None, own[i + 1] if i + 1 < len(own) else None)


def video_id(index: int) -> str:
    return f"syn{index:05d}"


def _focus_path(rng: np.random.Generator, n: int, fps: int) -> np.ndarray:
    """x of the play's centre per frame: a slow random walk along the court."""
    step = int(8 * fps)
    knots = np.arange(0, n + step, step)
    xs = rng.uniform(*FOCUS_SPAN, len(knots))
    return np.interp(np.arange(n), knots, xs)


def _make_players(rng: np.random.Generator, n_players: int) -> list[Player]:
    names = list(rng.choice(list(JERSEYS), size=n_players, replace=False))
    players = []
    for i, name in enumerate(names):
        shorts = (
            JERSEYS[name] if rng.random() < 0.6 else JERSEYS[str(rng.choice(["black", "white"]))]
        )
        players.append(
            Player(
                index=i,
                colour=str(name),
                jersey=JERSEYS[name],
                shorts=tuple(int(0.8 * c) for c in shorts),
                skin=SKIN[rng.integers(len(SKIN))],
                hair=HAIR[rng.integers(len(HAIR))],
                body=sample_body(rng),
                hand="r" if rng.random() < 0.8 else "l",
            )
        )
    return players


def _next_action(rng: np.random.Generator, prev: str | None, has_ball: bool, x: float) -> str:
    weights = []
    hoop_dist = abs(nearest_hoop(x) - x)
    for a in ACTIONS:
        w = BASE_WEIGHT[a]
        if a == prev:
            w = 0.0
        if prev is not None and (prev, a) in NATURAL:
            w *= 3.0
        if a in NEEDS_BALL:
            w *= 2.0 if has_ball else 0.35
        if a in GETS_BALL:
            w *= 0.35 if has_ball else 2.0
        if a == "layup" and not 2.5 <= hoop_dist <= 7.0:
            w = 0.0
        weights.append(w)
    p = np.asarray(weights) / np.sum(weights)
    return str(ACTIONS[rng.choice(len(ACTIONS), p=p)])


def _schedule_player(
    rng: np.random.Generator, player: Player, focus: np.ndarray, depth0: float, fps: int
) -> list[Segment]:
    n = len(focus)
    t = 0
    x = float(np.clip(focus[0] + rng.uniform(-3, 3), X_MIN, X_MAX))
    d = depth0
    has_ball = bool(rng.random() < 0.5)
    prev: str | None = None
    segs: list[Segment] = []
    min_len = int(1.2 * fps)
    if rng.random() < 0.6:
        prev = "stand"
        dur = int(rng.uniform(0.5, 3.0) * fps)
        segs.append(_segment(rng, player, 0, "stand", 0, dur, (x, d), (x, d), focus))
        t = dur
    while n - t >= min_len:
        action = _next_action(rng, prev, has_ball, x)
        end_pos = (x, d)
        if action == "run":
            target = focus[min(n - 1, t + 3 * fps)] + rng.uniform(-3.0, 3.0)
            tx = float(np.clip(target, x - MAX_RUN_M, x + MAX_RUN_M).clip(X_MIN, X_MAX))
            if abs(tx - x) < 2.0:
                tx = float(np.clip(x + np.sign(MID_X - x) * rng.uniform(2.0, 4.0), X_MIN, X_MAX))
            td = float(rng.uniform(D_MIN, D_MAX))
            dist = float(np.hypot(tx - x, 6.0 * (td - d)))
            secs = float(np.clip(dist / rng.uniform(2.5, 5.0), *DURATION_S["run"]))
            end_pos = (tx, td)
        elif action == "layup":
            hx = nearest_hoop(x)
            tx = hx + (1.0 if hx == HOOP_X[0] else -1.0)
            dist = abs(tx - x)
            secs = float(np.clip(dist / rng.uniform(3.0, 4.5) + 0.9, *DURATION_S["layup"]))
            end_pos = (tx, float(np.clip(d + 0.5 * (0.5 - d), D_MIN, D_MAX)))
        else:
            secs = float(rng.uniform(*DURATION_S[action]))
        dur = max(2, round(secs * fps))
        if n - (t + dur) < min_len:
            dur = n - t
        segs.append(_segment(rng, player, len(segs), action, t, t + dur, (x, d), end_pos, focus))
        t += dur
        x, d = end_pos
        prev = action
        if action in GETS_BALL:
            has_ball = True
        elif action in LOSES_BALL:
            has_ball = False
    if t < n:  # a short tail: the last segment lasts to the end of the video
        last = segs[-1]
        segs[-1] = replace(last, end=n)
    return segs


def _segment(
    rng: np.random.Generator,
    player: Player,
    order: int,
    action: str,
    start: int,
    end: int,
    start_pos: tuple[float, float],
    end_pos: tuple[float, float],
    focus: np.ndarray,
) -> Segment:
    x = start_pos[0]
    hoop = nearest_hoop(x)
    if action in MOVING_ACTIONS:
        facing = 1 if end_pos[0] >= x else -1
    elif rng.random() < 0.5:
        facing = 1 if hoop > x else -1
    else:
        facing = 1 if focus[min(start, len(focus) - 1)] > x else -1
    hand = player.hand if rng.random() < 0.85 else ("l" if player.hand == "r" else "r")
    return Segment(
        player=player.index,
        order=order,
        action=action,
        start=int(start),
        end=int(end),
        start_pos=(float(start_pos[0]), float(start_pos[1])),
        end_pos=(float(end_pos[0]), float(end_pos[1])),
        hoop_x=float(hoop),
        hand=hand,
        tempo=float(rng.uniform(0.8, 1.25)),
        amplitude=float(rng.uniform(0.8, 1.2)),
        facing=facing,
    )


def _pick_clips(
    rng: np.random.Generator, vid: str, segments: list[Segment], fps: int
) -> list[Clip]:
    cands = [i for i, s in enumerate(segments) if s.n_frames >= int(1.5 * fps)]
    if not cands:
        return []
    w = np.array([CLIP_WEIGHT[segments[i].action] for i in cands])
    k = min(CLIPS_PER_VIDEO, len(cands))
    chosen = sorted(rng.choice(cands, size=k, replace=False, p=w / w.sum()).tolist())
    clips = []
    for i in chosen:
        s = segments[i]
        length = min(s.n_frames, int(rng.uniform(*CLIP_S) * fps))
        start = s.start + int(rng.integers(0, s.n_frames - length + 1))
        clips.append(Clip(f"{vid}_p{s.player}_s{i:02d}_{s.action}", i, start, start + length))
    return clips


def _draw_n_frames(rng: np.random.Generator, fps: int) -> int:
    return round(rng.uniform(MIN_VIDEO_S, MAX_VIDEO_S) * fps)


def video_frames(index: int, *, seed: int, fps: int = 24) -> int:
    """The frame count of video ``index`` (the first draw of its schedule) without drawing the
    rest of its script."""
    return _draw_n_frames(video_rng(seed, index, "schedule"), fps)


def make_script(index: int, *, seed: int, fps: int = 24, size: int = 128) -> VideoScript:
    """Draw the schedule of video ``index`` of the dataset with base ``seed``."""
    rng = video_rng(seed, index, "schedule")
    n_frames = _draw_n_frames(rng, fps)
    n_players = int(rng.choice([1, 2, 3], p=[0.2, 0.4, 0.4]))
    players = _make_players(rng, n_players)
    focus = _focus_path(rng, n_frames, fps)
    depths = rng.permutation(np.linspace(D_MIN + 0.05, D_MAX - 0.05, 3))[:n_players]
    segments: list[Segment] = []
    for p, d in zip(players, depths, strict=True):
        segments.extend(_schedule_player(rng, p, focus, float(d + rng.uniform(-0.05, 0.05)), fps))
    segments.sort(key=lambda s: (s.start, s.player))
    vid = video_id(index)
    clips = _pick_clips(video_rng(seed, index, "clips"), vid, segments, fps)
    return VideoScript(vid, index, seed, fps, size, n_frames, players, segments, clips)
