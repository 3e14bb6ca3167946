"""Natural-English grounding queries whose moment is unique in their video.

A query is built in two steps:

1. a :class:`Descriptor` says *which* moment is meant: an action, optionally a player (by
   jersey colour or body size, or "someone"), and optionally one relation: right after / after
   another action, right before / before one, the k-th time, the side of the court, while
   another player does something, or "X and then Y" (a moment spanning two actions).
   :func:`resolve` evaluates a descriptor against the script with a *conservative* reading
   (e.g. "on the left side" matches every instance that touches the left half; "after passing"
   matches every instance after any pass), and a descriptor is used only when exactly one
   moment matches, so the moment is unambiguous for a reader.
2. :func:`realise` words it from phrase banks: paraphrases of every action, subject forms,
   relation forms and sentence frames (several hundred distinct sentence forms).

The sentence alone does not say where the moment is: every video has several players doing
several actions, so the video is needed to find "the player in blue's crossover after the catch".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from grounding.data.synthetic.court import MID_X
from grounding.data.synthetic.script import JERSEYS, Segment, VideoScript, video_rng

ACTION_PHRASES: dict[str, tuple[tuple[str, str], ...]] = {
    "stand": (
        ("stands still", "standing still"),
        ("waits in place", "waiting in place"),
        ("stands and watches", "standing and watching"),
        ("takes a short rest", "taking a short rest"),
    ),
    "dribble": (
        ("dribbles in place", "dribbling in place"),
        ("dribbles the ball with one hand", "dribbling the ball with one hand"),
        ("bounces the ball with one hand", "bouncing the ball with one hand"),
        ("keeps the ball bouncing", "keeping the ball bouncing"),
    ),
    "crossover": (
        ("does a crossover", "doing a crossover"),
        ("crosses the ball over between hands", "crossing the ball over between hands"),
        ("dribbles the ball from hand to hand", "dribbling the ball from hand to hand"),
        ("switches the ball between hands", "switching the ball between hands"),
    ),
    "run": (
        ("runs across the court", "running across the court"),
        ("sprints to another spot", "sprinting to another spot"),
        ("jogs without the ball", "jogging without the ball"),
        ("runs down the floor", "running down the floor"),
    ),
    "jump_shot": (
        ("takes a jump shot", "taking a jump shot"),
        ("shoots a jumper", "shooting a jumper"),
        ("rises up and shoots", "rising up and shooting"),
        ("pulls up for a jump shot", "pulling up for a jump shot"),
    ),
    "layup": (
        ("goes in for a layup", "going in for a layup"),
        ("drives to the basket for a layup", "driving to the basket for a layup"),
        ("lays the ball up", "laying the ball up"),
        ("attacks the rim with a layup", "attacking the rim with a layup"),
    ),
    "pass": (
        ("passes the ball", "passing the ball"),
        ("throws a pass", "throwing a pass"),
        ("makes a pass to a teammate", "making a pass to a teammate"),
        ("gets rid of the ball with a pass", "getting rid of the ball with a pass"),
    ),
    "catch": (
        ("catches a pass", "catching a pass"),
        ("receives the ball", "receiving the ball"),
        ("gets a pass from a teammate", "getting a pass from a teammate"),
        ("takes a pass", "taking a pass"),
    ),
    "rebound": (
        ("grabs a rebound", "grabbing a rebound"),
        ("jumps for the rebound", "jumping for the rebound"),
        ("pulls down a rebound", "pulling down a rebound"),
        ("secures the ball off the rim", "securing the ball off the rim"),
    ),
    "block": (
        ("jumps to block a shot", "jumping to block a shot"),
        ("blocks a shot", "blocking a shot"),
        ("swats the ball away", "swatting the ball away"),
        ("contests a shot with a hand up", "contesting a shot with a hand up"),
    ),
}
COLOUR_SUBJECTS = (
    "the player in {c}",
    "the {c} player",
    "the player wearing {c}",
    "the player in the {c} jersey",
    "the person in {c}",
    "the athlete in {c}",
    "the one in the {c} shirt",
    "the player dressed in {c}",
)
ANYONE_SUBJECTS = ("a player", "someone", "one of the players", "somebody")
SOLO_SUBJECTS = ("the player", "the only player on the court", "the lone player")
RELATIONS: dict[str, tuple[str, ...]] = {
    "right_after": (
        "right after {g}",
        "immediately after {g}",
        "just after {g}",
        "directly after {g}",
    ),
    "after": ("after {g}", "some time after {g}", "at some point after {g}"),
    "right_before": ("right before {g}", "just before {g}", "immediately before {g}"),
    "before": ("before {g}", "some time before {g}", "at some point before {g}"),
    "side": (
        "on the {s} side of the court",
        "on the {s} half of the court",
        "on the {s} half",
        "near the {s} basket",
        "at the {s} end of the court",
    ),
    "while": ("while {o} is {g}", "as {o} is {g}", "at the same time as {o} is {g}"),
}
ORDINAL_WORDS = {1: "first", 2: "second", 3: "third", -1: "last"}
ORDINAL_PHRASES: dict[int, tuple[str, ...]] = {
    1: ("for the first time", "for the first time in the video"),
    2: ("for the second time", "a second time"),
    3: ("for the third time", "a third time"),
    -1: ("for the last time", "one last time"),
}
FRAMES = (
    "{S} {p}{R}.",
    "{S} is {g}{R}.",
    "We see {s} {g}{R}.",
    "The moment when {s} {p}{R}.",
    "{S} can be seen {g}{R}.",
    "There is a moment where {s} {p}{R}.",
)
FRONTED_FRAMES = ("{R}, {s} {p}.", "{R}, {s} is {g}.")
ORDINAL_FRAMES = ("The {k} time {s} {p}.", "This is the {k} time {s} {p}.")
THEN_FRAMES = (
    "{S} {p1} and then {p2}.",
    "{S} {p1}, then {p2}.",
    "{S} first {p1} and afterwards {p2}.",
    "We see {s} {g1} and then {g2}.",
)

#: relation kinds and how often the generator tries them
RELATION_WEIGHT = {
    "none": 1.0,
    "right_after": 1.0,
    "after": 0.6,
    "right_before": 1.0,
    "before": 0.6,
    "ordinal": 1.0,
    "side": 1.0,
    "while": 1.0,
    "then": 2.5,
}
#: a side relation needs the whole instance this far (metres) from the half-court line
SIDE_MARGIN_M = 0.5
MIN_MOMENT_S = 1.0
#: queries drawn per video (low, high exclusive): about 43 on average, of the ~185 descriptors
#: that resolve to a unique moment in a default-profile video. The grounding heads learn the
#: compositional sentences from the query count: on the script-derived oracle features
#: (``grounding.research.oracle``), for the same 42,600 training samples, the head
#: scored R1@0.5 48.3 with these ~8,500 training queries against 38.8 with half as many
#: (generator 1.1 had 5-10 per video, ~1,100 training queries).
QUERIES_PER_VIDEO = (40, 81)
#: passes over a video's moments; each pass asks about every moment at most once
MAX_ROUNDS = 8


@dataclass(frozen=True)
class Descriptor:
    """Which moment a query means (see the module docstring).

    ``relation`` is one of :data:`RELATION_WEIGHT`; ``arg`` is an action name (after/before/
    then), an ordinal (1, 2, 3 or -1 for last), ``"left"``/``"right"`` (side) or
    ``(player, action)`` (while). ``player`` None means "someone".
    """

    action: str
    player: int | None
    relation: str = "none"
    arg: object = None


@dataclass(frozen=True)
class GroundingQuery:
    """One query: sentence, moment in seconds and frames, and how it was built."""

    vid: str
    sentence: str
    start_frame: int
    end_frame: int
    fps: int
    descriptor: Descriptor
    form: str

    @property
    def start(self) -> float:
        return self.start_frame / self.fps

    @property
    def end(self) -> float:
        return self.end_frame / self.fps


# --------------------------------------------------------------------------------------------
# resolving descriptors


def segment_side(seg: Segment, margin: float = SIDE_MARGIN_M) -> str | None:
    """``"left"``/``"right"`` if the whole instance is on that half, else None."""
    lo, hi = seg.x_range
    if hi < MID_X - margin:
        return "left"
    if lo > MID_X + margin:
        return "right"
    return None


def _touches(seg: Segment, side: str, margin: float = SIDE_MARGIN_M) -> bool:
    lo, hi = seg.x_range
    return lo < MID_X + margin if side == "left" else hi > MID_X - margin


def _overlap(a: Segment, b: Segment) -> int:
    return max(0, min(a.end, b.end) - max(a.start, b.start))


def resolve(desc: Descriptor, script: VideoScript) -> list[tuple[int, int]]:
    """All moments ``(start_frame, end_frame)`` the descriptor could mean (conservative)."""
    cand = [
        s
        for s in script.segments
        if s.action == desc.action and (desc.player is None or s.player == desc.player)
    ]
    rel, arg = desc.relation, desc.arg
    out: list[tuple[int, int]] = []
    for s in cand:
        prev, nxt = script.neighbours(s)
        own = script.player_segments(s.player)
        if rel == "none":
            ok = True
        elif rel == "right_after":
            ok = prev is not None and prev.action == arg
        elif rel == "after":
            ok = any(o.action == arg and o.end <= s.start for o in own)
        elif rel == "right_before":
            ok = nxt is not None and nxt.action == arg
        elif rel == "before":
            ok = any(o.action == arg and o.start >= s.end for o in own)
        elif rel == "side":
            ok = _touches(s, str(arg))
        elif rel == "while":
            q, act = arg  # type: ignore[misc]
            ok = any(
                o.player == q and o.action == act and _overlap(o, s) > 0 for o in script.segments
            )
        elif rel == "ordinal":
            same = [o for o in own if o.action == s.action]
            k = int(arg)  # type: ignore[call-overload]
            ok = len(same) >= 2 and (
                same[-1] is s if k == -1 else len(same) >= k and same[k - 1] is s
            )
        elif rel == "then":
            if nxt is not None and nxt.action == arg:
                out.append((s.start, nxt.end))
            continue
        else:
            raise ValueError(f"unknown relation {rel!r}")
        if ok:
            out.append((s.start, s.end))
    return out


def _candidates(script: VideoScript, seg: Segment) -> list[tuple[Descriptor, tuple[int, int]]]:
    """Every descriptor that resolves to exactly ``seg`` (or ``seg`` + its successor for
    "then"), each with its moment."""
    fps = script.fps
    prev, nxt = script.neighbours(seg)
    descs: list[Descriptor] = []
    players = [seg.player, None]
    for p in players:
        descs.append(Descriptor(seg.action, p))
        if prev is not None:
            descs.append(Descriptor(seg.action, p, "right_after", prev.action))
        if nxt is not None:
            descs.append(Descriptor(seg.action, p, "right_before", nxt.action))
        side = segment_side(seg)
        if side is not None:
            descs.append(Descriptor(seg.action, p, "side", side))
    own = script.player_segments(seg.player)
    for o in own:
        if o.action == seg.action:  # "shoots some time after shooting" reads badly
            continue
        if o.end <= seg.start:
            descs.append(Descriptor(seg.action, seg.player, "after", o.action))
        if o.start >= seg.end:
            descs.append(Descriptor(seg.action, seg.player, "before", o.action))
    same = [o for o in own if o.action == seg.action]
    if len(same) >= 2:
        k = same.index(seg) + 1
        if k <= 3:
            descs.append(Descriptor(seg.action, seg.player, "ordinal", k))
        if k == len(same):
            descs.append(Descriptor(seg.action, seg.player, "ordinal", -1))
    for o in script.segments:
        if (
            o.player != seg.player
            and o.action != "stand"
            and _overlap(o, seg) >= 0.5 * seg.n_frames
        ):
            descs.append(Descriptor(seg.action, seg.player, "while", (o.player, o.action)))
    out = []
    seen = set()
    for d in descs:
        if d in seen:
            continue
        seen.add(d)
        if resolve(d, script) == [(seg.start, seg.end)]:
            out.append((d, (seg.start, seg.end)))
    if nxt is not None and nxt.action != "stand" and nxt.n_frames >= MIN_MOMENT_S * fps:
        for p in players:
            d = Descriptor(seg.action, p, "then", nxt.action)
            if resolve(d, script) == [(seg.start, nxt.end)]:
                out.append((d, (seg.start, nxt.end)))
    return out


# --------------------------------------------------------------------------------------------
# wording


def _subject(rng: np.random.Generator, script: VideoScript, player: int | None) -> tuple[str, str]:
    """A noun phrase for ``player`` and its form key."""
    if player is None:
        i = int(rng.integers(len(ANYONE_SUBJECTS)))
        return ANYONE_SUBJECTS[i], f"any{i}"
    forms: list[tuple[str, str]] = [
        (t.format(c=script.players[player].colour), f"col{i}")
        for i, t in enumerate(COLOUR_SUBJECTS)
    ]
    n = len(script.players)
    if n == 1:
        forms += [(t, f"solo{i}") for i, t in enumerate(SOLO_SUBJECTS)]
    else:
        heights = sorted((p.body.height, p.index) for p in script.players)
        if heights[-1][1] == player and heights[-1][0] - heights[-2][0] >= 0.08:
            word = "taller" if n == 2 else "tallest"
            forms.append((f"the {word} player", f"size_{word}"))
        if heights[0][1] == player and heights[1][0] - heights[0][0] >= 0.08:
            word = "shorter" if n == 2 else "shortest"
            forms.append((f"the {word} player", f"size_{word}"))
    return forms[int(rng.integers(len(forms)))]


def _verb(rng: np.random.Generator, action: str) -> tuple[str, str, str]:
    i = int(rng.integers(len(ACTION_PHRASES[action])))
    pres, ing = ACTION_PHRASES[action][i]
    return pres, ing, f"{action}.{i}"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def realise(rng: np.random.Generator, script: VideoScript, desc: Descriptor) -> tuple[str, str]:
    """Word a descriptor; returns ``(sentence, form key)``."""
    subj, skey = _subject(rng, script, desc.player)
    pres, ing, vkey = _verb(rng, desc.action)
    rel = desc.relation
    if rel == "then":
        pres2, ing2, vkey2 = _verb(rng, str(desc.arg))
        i = int(rng.integers(len(THEN_FRAMES)))
        text = THEN_FRAMES[i].format(S=_cap(subj), s=subj, p1=pres, p2=pres2, g1=ing, g2=ing2)
        return text, f"then{i}/{skey}/{vkey}/{vkey2}"
    if rel == "none":
        phrase, rkey = "", "none"
    elif rel in ("right_after", "after", "right_before", "before"):
        _, g, akey = _verb(rng, str(desc.arg))
        i = int(rng.integers(len(RELATIONS[rel])))
        phrase, rkey = RELATIONS[rel][i].format(g=g), f"{rel}{i}({akey})"
    elif rel == "side":
        i = int(rng.integers(len(RELATIONS["side"])))
        phrase, rkey = RELATIONS["side"][i].format(s=desc.arg), f"side{i}"
    elif rel == "while":
        q, act = desc.arg  # type: ignore[misc]
        other, okey = _subject(rng, script, q)
        _, g, akey = _verb(rng, act)
        i = int(rng.integers(len(RELATIONS["while"])))
        phrase, rkey = RELATIONS["while"][i].format(o=other, g=g), f"while{i}({okey},{akey})"
    elif rel == "ordinal":
        k = int(desc.arg)  # type: ignore[call-overload]
        if rng.random() < 0.3:
            i = int(rng.integers(len(ORDINAL_FRAMES)))
            text = ORDINAL_FRAMES[i].format(k=ORDINAL_WORDS[k], s=subj, p=pres)
            return text, f"ord_frame{i}/{skey}/{vkey}"
        same = [o for o in script.player_segments(int(desc.player)) if o.action == desc.action]  # type: ignore[arg-type]
        options = list(ORDINAL_PHRASES[k]) + (["again"] if k == 2 and len(same) == 2 else [])
        i = int(rng.integers(len(options)))
        phrase, rkey = options[i], f"ord{k}.{i}"
    else:
        raise ValueError(f"unknown relation {rel!r}")
    if phrase and rel != "ordinal" and rng.random() < 0.25:
        i = int(rng.integers(len(FRONTED_FRAMES)))
        text = FRONTED_FRAMES[i].format(R=_cap(phrase), s=subj, p=pres, g=ing)
        return text, f"front{i}/{skey}/{vkey}/{rkey}"
    i = int(rng.integers(len(FRAMES)))
    text = FRAMES[i].format(S=_cap(subj), s=subj, p=pres, g=ing, R=f" {phrase}" if phrase else "")
    return text, f"frame{i}/{skey}/{vkey}/{rkey}"


_MASK = re.compile(
    r"\b(" + "|".join([*JERSEYS, "left", "right", "first", "second", "third", "last"]) + r")\b"
)


def sentence_form(sentence: str) -> str:
    """The sentence with colours, sides and ordinals masked: two queries that differ only in
    those attribute values have the same form."""
    return _MASK.sub("<x>", sentence.lower())


# --------------------------------------------------------------------------------------------


def make_queries(script: VideoScript) -> list[GroundingQuery]:
    """:data:`QUERIES_PER_VIDEO` queries for one video (fewer if the video has fewer
    unambiguous moments), each with a moment that no other reading of its sentence could mean.
    A moment can be asked about several times, by different descriptors or wordings (one per
    pass, at most :data:`MAX_ROUNDS`); no sentence repeats within a video."""
    rng = video_rng(script.seed, script.index, "queries")
    fps = script.fps
    targets = [
        s
        for s in script.segments
        if s.n_frames >= MIN_MOMENT_S * fps and (s.action != "stand" or rng.random() < 0.25)
    ]
    per_target = [(s, _candidates(script, s)) for s in targets]
    per_target = [(s, c) for s, c in per_target if c]
    want = int(rng.integers(*QUERIES_PER_VIDEO))
    # longer instances are asked about a little more often (keeps moments from being tiny)
    w = np.array([s.n_frames for s, _ in per_target], dtype=np.float64)
    order = (
        rng.choice(len(per_target), size=len(per_target), replace=False, p=w / w.sum())
        if len(w)
        else []
    )
    queries: list[GroundingQuery] = []
    sentences: set[str] = set()
    rounds = 0
    while len(queries) < want and per_target and rounds < MAX_ROUNDS:
        for i in order:
            if len(queries) >= want:
                break
            _, cands = per_target[i]
            w = np.array([RELATION_WEIGHT[d.relation] for d, _ in cands])
            d, (a, b) = cands[int(rng.choice(len(cands), p=w / w.sum()))]
            text, form = realise(rng, script, d)
            if text in sentences:
                continue
            sentences.add(text)
            queries.append(GroundingQuery(script.vid, text, a, b, fps, d, form))
        rounds += 1
    queries.sort(key=lambda q: (q.start_frame, q.end_frame, q.sentence))
    return queries
