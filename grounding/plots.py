"""Pictures of one evaluation: per-query timelines and R1 per bucket (``evaluate --plot``).

Each query's PNG shows the video as a time axis in seconds, its ground-truth window(s), and the
protocol's top-k moments as bars, darker for a higher score, labelled with their rank and IoU;
the title gives the qid and the sentence, the legend sits outside the data. The summary PNG
shows R1@0.5 / R1@0.7 per GT-length bucket and per GT-centre third, with the query counts.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np

from grounding.data.annotations import Query, QuerySet
from grounding.eval import EvalResult
from grounding.io import atomic_path

#: files --plot writes; a folder holding anything else is refused (never overwrite others' files)
PLOT_NAME = re.compile(r"(best|worst|random)-\d{2}-[A-Za-z0-9_.#-]+\.png|buckets\.png")


def pyplot():  # -> the matplotlib.pyplot module
    """``matplotlib.pyplot`` on the file-only Agg backend, imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_plot_dir(out: Path) -> None:
    """Refuse a path that is a file, or a folder holding files ``--plot`` did not write."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--plot {out} is a file: give a folder")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if not PLOT_NAME.fullmatch(p.name))
        if foreign:
            raise FileExistsError(
                f"--plot {out} holds files it did not write ({', '.join(foreign[:3])}); "
                "give a new or empty folder"
            )


def pick_queries(result: EvalResult, n: int, seed: int = 0) -> list[tuple[str, int]]:
    """``(kind, index)`` of the best, the worst (top-1 IoU) and random queries, ``n`` in all."""
    iou = result.per_query["IoU@1"]
    order = np.argsort(-iou, kind="stable")
    k = max(1, n // 3)
    picked: dict[int, str] = {}
    for i in order[:k]:
        picked.setdefault(int(i), "best")
    for i in order[::-1][:k]:
        picked.setdefault(int(i), "worst")
    rest = [i for i in range(len(iou)) if i not in picked]
    rng = np.random.default_rng(seed)
    for i in rng.permutation(rest)[: max(0, n - len(picked))]:
        picked[int(i)] = "random"
    return [(kind, i) for i, kind in picked.items()]


def plot_query(
    query: Query, windows: np.ndarray, scores: np.ndarray, ious: np.ndarray, path: Path, title: str
) -> Path:
    """One query's timeline PNG. ``windows`` ``(k, 2)``, ``scores`` and ``ious`` ``(k,)`` in rank
    order (NaN rows are absent)."""
    plt = pyplot()
    have = ~np.isnan(windows).any(axis=1)
    windows, scores, ious = windows[have], scores[have], ious[have]
    rows = len(windows) + 1
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.45 * rows))
    for s, e in query.windows:
        ax.axvspan(s, e, color="tab:green", alpha=0.18, lw=0)
        ax.barh(rows - 1, e - s, left=s, height=0.6, color="tab:green", label="ground truth")
    if len(scores):
        lo, hi = float(np.nanmin(scores)), float(np.nanmax(scores))
        shade = (scores - lo) / (hi - lo) if hi > lo else np.ones_like(scores)
    for r, ((s, e), v, u) in enumerate(
        zip(windows, shade if len(scores) else [], ious, strict=False)
    ):
        y = rows - 2 - r
        ax.barh(
            y,
            max(e - s, query.duration * 0.002),
            left=s,
            height=0.6,
            color=plt.cm.Blues(0.35 + 0.6 * v),
            edgecolor="tab:blue",
            label="prediction (darker: higher score)" if r == 0 else None,
        )
        ax.text(
            min(e, query.duration) + query.duration * 0.01,
            y,
            f"#{r + 1}  IoU {u:.2f}",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, query.duration * 1.18)
    ax.set_ylim(-0.7, rows - 0.3)
    ax.set_yticks(range(rows))
    ax.set_yticklabels([f"rank {rows - 1 - y}" for y in range(rows - 1)] + ["GT"])
    ax.axvline(query.duration, color="grey", lw=1, ls="--")
    ax.set_xlabel(f"time (s); the video lasts {query.duration:.2f} s (dashed line)")
    ax.set_title(title, fontsize=9, loc="left")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(
        unique.values(),
        unique.keys(),
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def plot_buckets(result: EvalResult, path: Path, title: str) -> Path:
    """R1@0.5 / R1@0.7 per GT-length bucket and per GT-centre third, with query counts."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, (group, label) in zip(
        axes,
        (("length", "GT length (fraction of the video)"), ("position", "GT centre")),
        strict=True,
    ):
        buckets = result.buckets[group]
        names = list(buckets)
        x = np.arange(len(names))
        for j, key in enumerate(k for k in next(iter(buckets.values())) if k != "n"):
            vals = [buckets[b][key] for b in names]
            bars = ax.bar(x + (j - 0.5) * 0.38, np.nan_to_num(vals), width=0.38, label=key)
            for bar, v in zip(bars, vals, strict=True):
                if v == v:
                    ax.text(
                        bar.get_x() + bar.get_width() / 2,
                        bar.get_height() + 1,
                        f"{v:.1f}",
                        ha="center",
                        fontsize=7,
                    )
        ax.set_xticks(x)
        ax.set_xticklabels([f"{b}\n({buckets[b]['n']} queries)" for b in names], fontsize=8)
        ax.set_xlabel(label)
        ax.set_ylim(0, 105)
    axes[0].set_ylabel("recall (%)")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def write_plots(
    gt: QuerySet, result: EvalResult, out: Path, *, n: int = 12, seed: int = 0
) -> list[Path]:
    """The per-query timelines and the bucket summary into ``out``; returns the files."""
    check_plot_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    protocol = result.protocol.name
    written = []
    for rank, (kind, i) in enumerate(pick_queries(result, n, seed)):
        q = gt.queries[i]
        safe = re.sub(r"[^A-Za-z0-9_.#-]", "_", q.qid)[:60]
        sentence = textwrap.shorten(q.sentence, 110)
        what = {"best": "among the best", "worst": "among the worst", "random": "random"}[kind]
        title = f"qid {q.qid} ({what} by top-1 IoU; protocol {protocol}): {sentence}"
        written.append(
            plot_query(
                q,
                result.top_windows[i],
                result.top_scores[i],
                result.top_ious[i],
                out / f"{kind}-{rank:02d}-{safe}.png",
                title,
            )
        )
    written.append(
        plot_buckets(result, out / "buckets.png", f"R1 per bucket ({protocol}, {len(gt)} queries)")
    )
    return written
