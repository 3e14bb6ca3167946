"""``python -m grounding.tables RESULTS.json... --format md|latex [--out DIR]``

Regenerates the paper's tables and figures from results files alone (the layout is described in
:mod:`grounding.results_schema`):

- Table 3: temporal module ablation, recognition accuracy per sample set (seed) and mean;
- Figure 10: spatial module ablation (softmax / sigmoid, with / without residual), PNG;
- Table 4: grounding R@{1,5} x IoU {0.5, 0.7} and mIoU, mean ± std, t-test p-value vs ours;
- Table 5: recognition recall, F1, accuracy (mean ± std), parameters, GFLOPs, p-values vs ours;
- Figure 12: (a) accuracy vs FPS per model, (b) recognition time vs number of samples, PNG.

p-values are independent two-sample t-tests over seeds (scipy), computed here from the per-seed
values, so they always match the numbers in the file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from grounding.eval.statistics import format_mean_std, ttest_against
from grounding.io import atomic_path, atomic_write
from grounding.plots import pyplot
from grounding.results_schema import (
    GROUNDING_METRICS,
    OURS,
    RECOGNITION_METRICS,
    ResultsSchemaError,
    load_results,
)

Table = tuple[str, list[str], list[list[str]]]  # (title, headers, rows)


def seed_values(entry: dict, metric: str) -> list[float]:
    """Per-seed values of ``metric`` in seed order (missing / null values left out)."""
    per_seed = entry.get("per_seed", {})
    vals = [per_seed[s].get(metric) for s in sorted(per_seed, key=int)]
    return [float(v) for v in vals if v is not None]


def _p_value(section: dict, model: str, metric: str) -> str:
    if model == OURS or OURS not in section:
        return "-"
    p = ttest_against(seed_values(section[OURS], metric), seed_values(section[model], metric))
    return "-" if p != p else (f"{p:.3f}" if p >= 0.001 else "<0.001")


def _cell(entry: dict, metric: str) -> str:
    vals = seed_values(entry, metric)
    return format_mean_std(vals) if vals else "-"


def _ci(entry: dict, metric: str) -> str:
    ci = entry.get("bootstrap_ci", {}).get(metric)
    return "-" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def table4(doc: dict) -> Table | None:
    section = doc.get("grounding")
    if not section:
        return None
    # the CD splits' discounted recall (Yuan et al. 2021) when the run recorded it
    discounted = [f"d{k}" for k in GROUNDING_METRICS if k.startswith("R")]
    cd = str(doc.get("dataset", "")).endswith("-cd") and all(
        k in e.get("mean", {}) for e in section.values() for k in discounted
    )
    metrics = [*GROUNDING_METRICS, *(discounted if cd else [])]
    headers = ["model", *metrics, "p (R1@0.5 vs ours)", "R1@0.5 95% CI"]
    rows = [
        [m] + [_cell(e, k) for k in metrics] + [_p_value(section, m, "R1@0.5"), _ci(e, "R1@0.5")]
        for m, e in section.items()
    ]
    protocol = doc.get("protocol", {}).get("name", "?")
    n_seeds = len(doc.get("seeds", []))
    title = (
        f"Table 4: grounding on {doc.get('dataset')} {doc.get('split')} "
        f"({protocol} protocol, {n_seeds} seeds, %)"
    )
    return title, headers, rows


def table5(doc: dict) -> Table | None:
    section = doc.get("recognition")
    if not section:
        return None
    headers = ["model", "recall", "F1", "accuracy", "params (M)", "GFLOPs", "p (accuracy vs ours)"]
    rows = []
    for m, e in section.items():
        params = e.get("params")
        gflops = e.get("gflops")
        rows.append(
            [m]
            + [_cell(e, k) for k in RECOGNITION_METRICS]
            + [
                "-" if params is None else f"{params / 1e6:.2f}",
                "-" if gflops is None else f"{gflops:.3f}",
                _p_value(section, m, "accuracy"),
            ]
        )
    return f"Table 5: action recognition on {doc.get('dataset')} (%)", headers, rows


def _ablation_table(doc: dict, kind: str, title: str) -> Table | None:
    section = doc.get("ablations", {}).get(kind)
    if not section:
        return None
    seeds = sorted({s for e in section.values() for s in e.get("per_seed", {})}, key=int)
    names = [chr(ord("A") + i) for i in range(len(seeds))]
    headers = ["module", *[f"set {n}" for n in names], "mean"]
    rows = []
    for variant, e in section.items():
        vals = [e["per_seed"].get(s, {}).get("accuracy") for s in seeds]
        cells = ["-" if v is None else f"{v:.2f}" for v in vals]
        rows.append([variant, *cells, _cell(e, "accuracy")])
    return title, headers, rows


def table3(doc: dict) -> Table | None:
    return _ablation_table(
        doc, "temporal", "Table 3: temporal module, recognition accuracy per sample set (%)"
    )


def figure10_table(doc: dict) -> Table | None:
    return _ablation_table(doc, "spatial", "Figure 10: spatial module, recognition accuracy (%)")


def render(table: Table, fmt: str) -> str:
    title, headers, rows = table
    tablefmt = {"md": "github", "latex": "latex_booktabs"}[fmt]
    body = tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)
    if fmt == "latex":
        return f"% {title}\n" + body.replace("±", r"$\pm$")
    return f"**{title}**\n\n{body}"


def figure10(doc: dict, out: Path) -> Path | None:
    """Grouped bars: accuracy of each spatial variant per sample set, plus the mean."""
    table = figure10_table(doc)
    if table is None:
        return None
    plt = pyplot()
    section = doc["ablations"]["spatial"]
    seeds = sorted({s for e in section.values() for s in e["per_seed"]}, key=int)
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(section), 1)
    for i, (variant, e) in enumerate(section.items()):
        vals = [e["per_seed"].get(s, {}).get("accuracy", float("nan")) for s in seeds]
        vals.append(sum(v for v in vals if v == v) / max(sum(v == v for v in vals), 1))
        xs = [j + i * width for j in range(len(vals))]
        ax.bar(xs, vals, width=width, label=variant)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(seeds) + 1)])
    ax.set_xticklabels([f"set {chr(ord('A') + i)}" for i in range(len(seeds))] + ["mean"])
    ax.set_ylabel("recognition accuracy (%)")
    ax.set_title("Figure 10: spatial module variants")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return out


def figure12(doc: dict, out: Path) -> Path | None:
    """(a) recognition accuracy vs FPS per model; (b) recognition time vs number of samples."""
    rec = doc.get("recognition", {})
    speed = doc.get("speed") or {}
    fps = {r["name"]: r for r in speed.get("recognition", [])}
    tvs = {
        name: {str(e["samples"]): e["p50_ms"] / 1000.0 for e in r.get("time_vs_samples", [])}
        for name, r in fps.items()
    }
    points = [(m, fps[m]["fps"], seed_values(rec[m], "accuracy")) for m in rec if m in fps]
    if not points and not tvs:
        return None
    plt = pyplot()
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(10, 4))
    for m, f, acc in points:
        mean = sum(acc) / len(acc) if acc else float("nan")
        ax_a.scatter([f], [mean], s=40)
        ax_a.annotate(m, (f, mean), textcoords="offset points", xytext=(4, 4), fontsize=8)
    definition = next(iter(fps.values()), {}).get("fps_definition", "")
    ax_a.set_xlabel(f"FPS ({definition})" if definition else "FPS")
    ax_a.set_ylabel("accuracy (%)")
    ax_a.set_title("(a) accuracy vs speed")
    for m, curve in tvs.items():
        ns = sorted(curve, key=int)
        ax_b.plot([int(n) for n in ns], [curve[n] for n in ns], marker="o", label=m)
    ax_b.set_xlabel("number of samples")
    ax_b.set_ylabel("recognition time (s)")
    ax_b.set_title("(b) time vs samples")
    if tvs:
        ax_b.legend(fontsize=8)
    device = doc.get("provenance", {}).get("device", "")
    fig.suptitle(f"Figure 12 ({device})", fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return out


TABLES = {"table3": table3, "figure10": figure10_table, "table4": table4, "table5": table5}


def make_all(doc: dict, fmt: str, out_dir: Path | None, stem: str) -> list[str]:
    """Render every table the document supports; write them (and the figures) under ``out_dir``.
    Returns the rendered texts."""
    texts = []
    for name, fn in TABLES.items():
        table = fn(doc)
        if table is None:
            continue
        text = render(table, fmt)
        texts.append(text)
        if out_dir is not None:
            ext = "md" if fmt == "md" else "tex"
            with atomic_write(out_dir / f"{stem}_{name}.{ext}", encoding="utf-8") as f:
                f.write(text + "\n")
    if out_dir is not None:
        figure10(doc, out_dir / f"{stem}_figure10.png")
        figure12(doc, out_dir / f"{stem}_figure12.png")
    return texts


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m grounding.tables", description=__doc__.split("\n\n")[1]
    )
    p.add_argument(
        "results", nargs="+", type=Path, help="results JSON files written by grounding.bench"
    )
    p.add_argument("--format", choices=("md", "latex"), default="md")
    p.add_argument("--out", type=Path, default=None, help="also write tables and PNG figures here")
    args = p.parse_args(argv)
    # every file is read and checked before anything is printed or written
    docs: list[tuple[Path, dict]] = []
    for path in args.results:
        try:
            docs.append((path, load_results(path)))
        except ResultsSchemaError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        print(f"error: --out {args.out} exists and is not a directory", file=sys.stderr)
        return 2
    empty: list[Path] = []
    for path, doc in docs:
        try:
            texts = make_all(doc, args.format, args.out, path.stem)
        except OSError as e:
            where = e.filename or args.out
            print(f"error: cannot write under {args.out}: {where}: {e.strerror}", file=sys.stderr)
            return 2
        if not texts:
            print(
                f"error: {path}: no table to make: its grounding / recognition / ablations "
                "sections are empty",
                file=sys.stderr,
            )
            empty.append(path)
            continue
        print(f"<!-- {path} -->" if args.format == "md" else f"% {path}")
        print("\n\n".join(texts))
        print()
    if args.out is not None and len(empty) < len(docs):
        print(f"wrote tables and figures to {args.out}")
    if empty:
        print(f"{len(empty)} of {len(docs)} results files had no table", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
