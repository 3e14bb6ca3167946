"""``python -m grounding.evaluate --gt GT --pred PRED.jsonl [--protocol NAME] [--json OUT]``

Scores Moment-DETR-style prediction jsonl (``{"qid", "pred_relevant_windows": [[start, end,
score], ...]}``) against ground truth in any format the readers know (Moment-DETR jsonl,
``charades_sta_<split>.txt`` with its ``Charades_v1_<split>.csv``, ActivityNet ``<split>.json``,
the CD splits' JSON, or a bundled split by name such as ``charades:test``), prints a table and
optionally writes the metrics as JSON (percentages, 2 decimals).

Exit status: 0 on success; 1 when ``--check`` finds a metric outside its tolerance; 2 for bad
input (a clear one-line message naming the file): unreadable files, a ground truth without any
query, predictions that match no ground-truth query, and with ``--strict`` any missing or unknown
qid or any predicted window outside ``[0, duration]``.

``--check EXPECTED.json`` compares with the ``metrics`` map of a file this command wrote with
``--json`` (optionally with a ``tolerances`` map ``{metric: points}``); every metric of that map
must be within its tolerance (``--tolerance``, default 0: the evaluator is deterministic).
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from dataclasses import replace
from pathlib import Path

from tabulate import tabulate

from grounding.data.annotations import AnnotationError, QuerySet
from grounding.data.datasets import DatasetNotFound, guess_gt
from grounding.data.moment_detr import read_moment_detr_gt, read_predictions
from grounding.eval import PRESETS, EvalResult, evaluate, get_protocol
from grounding.io import check_input_file, read_json, write_json_atomic
from grounding.plots import check_plot_dir, write_plots

#: counts printed after the table when non-zero, with what each means
COUNT_NOTES = {
    "missing_predictions": "ground-truth queries without a prediction line; scored as misses",
    "empty_predictions": "prediction lines with an empty list; scored as misses",
    "unknown_qids": "prediction lines whose qid is not in the ground truth; ignored",
    "pred_windows_before_start": "predicted windows starting before 0 s; scored as given",
    "pred_windows_past_end": "predicted windows ending after the video; scored as given",
}


class CheckFileError(ValueError):
    """A ``--check`` file that cannot be used; the message names the file."""


def format_metrics_table(result: EvalResult) -> str:
    """The metrics of one result as a two-column table (two decimals, ``-`` for NaN)."""
    rows = [[k, "-" if v != v else f"{v:.2f}"] for k, v in result.metrics.items()]
    return tabulate(rows, headers=["metric", "%"], tablefmt="github", disable_numparse=True)


def format_buckets_table(result: EvalResult) -> str:
    """R1@0.5 / R1@0.7 and the query count per GT-length and GT-position bucket."""
    rows = []
    for group, buckets in result.buckets.items():
        for name, row in buckets.items():
            values = [f"{v:.2f}" if v == v else "-" for k, v in row.items() if k != "n"]
            rows.append([group, name, row["n"], *values])
    keys = [k for k in next(iter(next(iter(result.buckets.values())).values())) if k != "n"]
    return tabulate(
        rows, headers=["by", "bucket", "queries", *keys], tablefmt="github", disable_numparse=True
    )


def load_gt(path: Path, *, clip: bool) -> QuerySet:
    """Ground truth by file name; a Moment-DETR jsonl keeps its windows unclipped when the
    protocol does not clip (Moment-DETR's own evaluator uses them as given)."""
    if path.suffix == ".jsonl":
        check_input_file(path, "ground-truth file")
        return read_moment_detr_gt(path, split=path.stem, clip=clip)
    return guess_gt(path)


def parse_floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def parse_ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def check_output_path(path: Path, what: str) -> None:
    """Fail before any work when ``path`` cannot be written as a file."""
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder: give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise NotADirectoryError(f"{what} {path}: {parent} is not a folder")
    probe = parent
    while not probe.exists():  # the folder will be created: its first existing ancestor counts
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {path}: cannot write in {probe}")


def load_expected(path: Path, protocol_name: str) -> tuple[dict[str, float], dict[str, float]]:
    """``metrics`` and per-metric ``tolerances`` of a ``--check`` file, validated."""
    doc = read_json(path, "--check file")
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
        raise CheckFileError(
            f"--check file {path}: expected the JSON that grounding.evaluate --json wrote, "
            "with a 'metrics' map"
        )
    metrics, tolerances = doc["metrics"], doc.get("tolerances", {})
    if not metrics:
        raise CheckFileError(f"--check file {path}: 'metrics' is empty")
    for key, value in metrics.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise CheckFileError(f"--check file {path}: metrics.{key} is {value!r}, not a number")
    if not isinstance(tolerances, dict):
        raise CheckFileError(f"--check file {path}: 'tolerances' must be a map of numbers")
    for key, value in tolerances.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise CheckFileError(
                f"--check file {path}: tolerances.{key} is {value!r}, not a number >= 0"
            )
    recorded = doc.get("protocol")
    if recorded is not None and recorded != protocol_name:
        raise CheckFileError(
            f"--check file {path}: written with protocol {recorded!r}, this run uses "
            f"{protocol_name!r} (pass --protocol {recorded})"
        )
    return metrics, tolerances


def check_metrics(
    result: EvalResult,
    expected: dict[str, float | None],
    tolerances: dict[str, float],
    default_tolerance: float,
) -> list[str]:
    """One line per expected metric outside its tolerance (or missing from this run)."""
    failures = []
    for key, want in expected.items():
        got = result.metrics.get(key)
        tol = float(tolerances.get(key, default_tolerance))
        if got is None:
            failures.append(f"{key}: not computed by this run (expected {want})")
        elif want is None or (isinstance(got, float) and math.isnan(got)):
            if not (want is None and math.isnan(got)):
                failures.append(f"{key}: {got} vs expected {want}")
        elif abs(got - want) > tol + 1e-9:
            failures.append(
                f"{key}: {got:.2f} vs expected {want:.2f} "
                f"(|diff| {abs(got - want):.2f} > tolerance {tol:.2f})"
            )
    return failures


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m grounding.evaluate", description=__doc__.split("\n\n")[1]
    )
    p.add_argument(
        "--gt", required=True, type=Path, help="ground-truth file, or a bundled split (charades)"
    )
    p.add_argument("--pred", required=True, type=Path, help="predictions, Moment-DETR jsonl")
    p.add_argument("--protocol", default="default", choices=sorted(PRESETS))
    p.add_argument("--json", type=Path, default=None, help="write the metrics here (JSON)")
    p.add_argument(
        "--iou", type=parse_floats, default=None, help="IoU thresholds, e.g. 0.3,0.5,0.7"
    )
    p.add_argument("--recall-at", type=parse_ints, default=None, help="n of R@n, e.g. 1,5")
    p.add_argument("--nms", type=float, default=None, help="override the NMS threshold")
    p.add_argument("--no-nms", action="store_true", help="disable NMS")
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="also print R1@0.5/0.7 per GT-length and GT-position bucket",
    )
    p.add_argument(
        "--check",
        type=Path,
        default=None,
        metavar="EXPECTED.json",
        help="exit 1 naming every metric outside its tolerance of this file's 'metrics'",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="points allowed by --check for metrics without their own tolerance (default 0)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="DIR",
        help="write PNG timelines of the best, worst and random queries and R1 per bucket here",
    )
    p.add_argument("--plot-n", type=int, default=12, help="queries to draw with --plot")
    p.add_argument(
        "--strict",
        action="store_true",
        help="missing or unknown qids and windows outside the video are errors, not counts",
    )
    return p


def _overrides(args: argparse.Namespace) -> dict:
    overrides: dict = {}
    if args.iou:
        overrides["iou_thresholds"] = args.iou
    if args.recall_at:
        overrides["recall_at"] = args.recall_at
    if args.nms is not None:
        overrides["nms_thresh"] = args.nms
    if args.no_nms:
        overrides["nms_thresh"] = None
    return overrides


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = _overrides(args)
    try:
        protocol = get_protocol(args.protocol, **overrides)
        if overrides:
            protocol = replace(protocol, name=f"{protocol.name}+custom")
        if args.tolerance < 0:
            raise ValueError(f"--tolerance must be >= 0, got {args.tolerance}")
        if args.json is not None:
            check_output_path(args.json, "--json")
        if args.plot is not None:
            check_plot_dir(args.plot)
            if args.plot_n < 1:
                raise ValueError(f"--plot-n must be >= 1, got {args.plot_n}")
        expected = load_expected(args.check, protocol.name) if args.check else None
        check_input_file(args.pred, "prediction file")
        box: dict[str, QuerySet] = {}

        torch_sort = protocol.sort_by_score and protocol.sort == "torch"

        def read_gt() -> None:  # while other processes parse the predictions
            box["gt"] = load_gt(args.gt, clip=protocol.clip_gt)
            if not box["gt"].queries:
                raise ValueError(f"ground truth {box['gt'].source or args.gt}: no usable query")
            if torch_sort:  # MMN's tie order is torch's own sort: its import overlaps the parse
                importlib.import_module("torch")

        preds = read_predictions(args.pred, meanwhile=read_gt, share=0.32 if torch_sort else 0.45)
        gt = box["gt"]
        gt_qids = {q.qid for q in gt.queries}
        if not any(qid in gt_qids for qid in preds.windows):
            example = next(iter(preds.windows), None)
            raise ValueError(
                f"prediction file {args.pred}: none of its {len(preds)} qids is a query of "
                f"{gt.source or args.gt} (first: {example!r}, a GT qid: {gt.queries[0].qid!r}); "
                "wrong split or dataset?"
            )
        result = evaluate(gt, preds.windows, protocol)
        if args.strict:
            bad = {k: result.counts.get(k, 0) for k in COUNT_NOTES if k != "empty_predictions"}
            bad = {k: v for k, v in bad.items() if v}
            if bad:
                listed = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in bad.items())
                raise ValueError(f"--strict: {args.pred}: {listed}")
    except (AnnotationError, DatasetNotFound, CheckFileError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"ground truth: {gt.source or args.gt} ({gt.dataset}, split {gt.split}): {len(gt)} queries"
    )
    for line in filter(None, [gt.log.summary(), preds.log.summary()]):
        print(line)
    for key, note in COUNT_NOTES.items():
        if result.counts.get(key):
            print(f"{key.replace('_', ' ')}: {result.counts[key]} in {args.pred} ({note})")
    print(f"protocol: {protocol.name} {protocol.to_dict()}")
    print(format_metrics_table(result))
    if args.breakdown and result.buckets:
        print(format_buckets_table(result))
    if args.json is not None:
        out = result.to_dict()
        out.update(
            gt=str(args.gt),
            pred=str(args.pred),
            split=gt.split,
            dataset=gt.dataset,
            gt_log=gt.log.to_dict(),
            pred_log=preds.log.to_dict(),
        )
        try:
            write_json_atomic(args.json, out)
        except OSError as e:
            print(f"error: cannot write --json {args.json}: {e.strerror or e}", file=sys.stderr)
            return 2
        print(f"wrote {args.json}")
    if args.plot is not None:
        try:
            files = write_plots(gt, result, args.plot, n=args.plot_n)
        except OSError as e:
            print(f"error: cannot write --plot {args.plot}: {e.strerror or e}", file=sys.stderr)
            return 2
        print(f"wrote {len(files)} PNG files to {args.plot}")
    if expected is not None:
        metrics, tolerances = expected
        failures = check_metrics(result, metrics, tolerances, args.tolerance)
        if failures:
            print(f"check against {args.check}: {len(failures)} metric(s) out of tolerance")
            for line in failures:
                print(f"  {line}")
            return 1
        print(f"check against {args.check}: all {len(metrics)} metrics within tolerance")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
