"""``python -m grounding.compare --gt GT --pred A.jsonl --pred B.jsonl [--pred C.jsonl ...]``

Is model B really better than model A on the same queries? Scores every prediction file (the
Moment-DETR jsonl :mod:`grounding.evaluate` reads) against one ground truth with one protocol,
then, for every metric, prints each file's value and each file's difference to the first with a
paired bootstrap interval over queries and a paired two-sided p-value
(:mod:`grounding.eval.paired`): exact McNemar for the 0/1 per-query hits (``R1@0.5``...,
any per-query metric whose values are all 0 or 1), a sign-flip permutation test for the
continuous ones (``mIoU`` = per-query ``IoU@1``, ``mAP`` = per-query ``AP``, ``dR1@0.5``...).

Options: ``--protocol P`` (default ``default``), ``--json OUT``, ``--n-boot N`` (bootstrap
resamples, 10000), ``--n-perm N`` (sign-flip patterns, 10000), ``--seed S`` (0),
``--confidence C`` (0.95), ``--allow-missing``. ``--gt`` takes any ground-truth file
``grounding.evaluate`` reads, or a shipped split as ``DATASET:SPLIT`` (``charades:test``).

Every file must predict exactly the GT's queries: otherwise the command stops with a one-line
error naming the first differing qids, unless ``--allow-missing``, which scores a missing
prediction as a miss (and ignores predictions for qids the GT does not have) and reports how
many per file. A file with no prediction for any GT query is always an error.

JSON written by ``--json`` (values in percent, unrounded; p-values as fractions)::

    {
      "gt": "charades:test", "dataset": "charades", "split": "test", "n_queries": 3720,
      "protocol": "default", "protocol_options": {...},
      "n_boot": 10000, "n_perm": 10000, "seed": 0, "confidence": 0.95,
      "allow_missing": false,
      "files": [
        {"pred": "A.jsonl", "sha256": "...", "missing_predictions": 0,
         "empty_predictions": 0, "unknown_qids": 0},
        {"pred": "B.jsonl", ...}
      ],
      "metrics": {
        "R1@0.5": {
          "per_query_key": "R1@0.5", "kind": "binary", "test": "exact McNemar",
          "values": [22.96, 25.11],               # one per file, in --pred order
          "vs_first": [                           # one per file after the first
            {"pred": "B.jsonl", "diff": 2.15, "ci_low": 0.9, "ci_high": 3.4, "p": 0.0012,
             "n_a_only": 110, "n_b_only": 190}    # discordant queries (binary metrics only)
          ]
        },
        "mIoU": {"per_query_key": "IoU@1", "kind": "continuous",
                 "test": "sign-flip permutation", ...},
        ...
      }
    }

``diff`` is the second file minus the first (positive: the file is better); ``ci_low`` /
``ci_high`` bound it; every pair uses the same seeded resamples. Exit status: 0 on success, 2
on bad input (message names the file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabulate import tabulate

from grounding.data.annotations import AnnotationError, QuerySet
from grounding.data.bundled import BundledDataError
from grounding.data.datasets import DatasetNotFound
from grounding.data.moment_detr import Predictions, read_predictions
from grounding.eval import PRESETS, EvalResult, evaluate, get_protocol
from grounding.eval.paired import compare_pair
from grounding.evaluate import load_gt
from grounding.io import check_input_file, file_digest, json_safe, write_json_atomic

__all__ = ["QuerySetMismatch", "check_query_sets", "compare", "main"]

#: per-query key -> the name of its mean in the evaluator's metrics
DISPLAY = {"IoU@1": "mIoU", "AP": "mAP"}
FIRST_N = 5


class QuerySetMismatch(ValueError):
    """A prediction file does not cover exactly the ground truth's queries."""


def check_query_sets(gt: QuerySet, preds: Predictions, path: Path | str) -> None:
    """Raise :class:`QuerySetMismatch` (one line, first differing qids) unless ``preds`` has a
    prediction for every GT query and none for a qid the GT lacks."""
    gt_qids = [q.qid for q in gt.queries]
    known = set(gt_qids)
    missing = [q for q in gt_qids if q not in preds.windows]
    unknown = [q for q in preds.windows if q not in known]
    if not missing and not unknown:
        return
    parts = []
    if missing:
        first = ", ".join(missing[:FIRST_N])
        parts.append(f"{len(missing)} GT queries have no prediction (first: {first})")
    if unknown:
        first = ", ".join(unknown[:FIRST_N])
        parts.append(f"{len(unknown)} predictions are for qids not in the GT (first: {first})")
    raise QuerySetMismatch(
        f"{path}: query set differs from the ground truth {gt.source or gt.dataset}: "
        f"{'; '.join(parts)}; pass --allow-missing to score missing predictions as misses"
    )


def compare(
    gt: QuerySet,
    results: list[EvalResult],
    names: list[str],
    *,
    n_boot: int = 10_000,
    n_perm: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, dict]:
    """The ``metrics`` section of the JSON (see the module docstring) for evaluation results
    of the same ground truth, the first being the reference."""
    if len(results) < 2:
        raise ValueError("compare needs at least two prediction files")
    base = results[0].per_query
    keys = _order([k for k in base if all(k in r.per_query for r in results[1:])])
    out: dict[str, dict] = {}
    pairs = [
        compare_pair(
            base, r.per_query, n_boot=n_boot, n_perm=n_perm, seed=seed, confidence=confidence
        )
        for r in results[1:]
    ]
    for key in keys:
        first = pairs[0][key]
        kinds = {p[key].kind for p in pairs}
        out[DISPLAY.get(key, key)] = {
            "per_query_key": key,
            "kind": "binary" if kinds == {"binary"} else "continuous",
            "test": first.test if len(kinds) == 1 else "mixed",
            "values": [first.value_a] + [p[key].value_b for p in pairs],
            "vs_first": [
                {
                    "pred": name,
                    "diff": p[key].diff,
                    "ci_low": p[key].ci_low,
                    "ci_high": p[key].ci_high,
                    "p": p[key].p,
                    "test": p[key].test,
                    **(
                        {"n_a_only": p[key].n_a_only, "n_b_only": p[key].n_b_only}
                        if p[key].kind == "binary"
                        else {}
                    ),
                }
                for name, p in zip(names[1:], pairs, strict=True)
            ],
        }
    return out


def _labels(paths: list[Path]) -> list[str]:
    stems = [p.stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    return [f"[{i}] {s}" for i, s in enumerate(stems)]


def _p(p: float) -> str:
    if p >= 1.0:
        return "1"
    return "<1e-16" if p < 1e-16 else f"{p:.3g}"


def _order(keys: list[str]) -> list[str]:
    """R@n hits first, then the discounted recalls, then the rest, each in evaluator order."""
    groups = (
        [k for k in keys if k.startswith("R")],
        [k for k in keys if k.startswith("dR")],
    )
    rest = [k for k in keys if not any(k in g for g in groups)]
    return [*groups[0], *groups[1], *rest]


def format_table(metrics: dict[str, dict], labels: list[str], confidence: float) -> str:
    """One row per metric: each file's value, then each later file's difference to the first
    with its interval and p-value."""
    pct = f"{100 * confidence:g}%"
    headers = ["metric", "test", *labels]
    for label in labels[1:]:
        headers += [f"{label} - {labels[0]} [{pct} CI]", "p"]
    rows = []
    for name, m in metrics.items():
        test = {"binary": "McNemar", "continuous": "sign-flip"}.get(m["kind"], m["kind"])
        row = [name, test, *(f"{v:.2f}" for v in m["values"])]
        for c in m["vs_first"]:
            row += [f"{c['diff']:+.2f} [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]", _p(c["p"])]
        rows.append(row)
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m grounding.compare", description=__doc__.split("\n\n")[1]
    )
    p.add_argument(
        "--gt", required=True, type=Path, help="ground-truth file, or DATASET:SPLIT (shipped)"
    )
    p.add_argument(
        "--pred",
        required=True,
        type=Path,
        action="append",
        help="predictions (Moment-DETR jsonl); give two or more, the first is the reference",
    )
    p.add_argument("--protocol", default="default", choices=sorted(PRESETS))
    p.add_argument("--json", type=Path, default=None, help="write the comparison here (JSON)")
    p.add_argument("--n-boot", type=int, default=10_000, help="bootstrap resamples (10000)")
    p.add_argument("--n-perm", type=int, default=10_000, help="sign-flip patterns (10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resamples (0)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval level (0.95)")
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="score a missing prediction as a miss (counted per file) instead of stopping",
    )
    return p


def _error(message: str) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if len(args.pred) < 2:
        return _error("give at least two --pred files (the first is the reference)")
    if args.n_boot < 1 or args.n_perm < 1:
        return _error("--n-boot and --n-perm must be >= 1")
    if not 0.0 < args.confidence < 1.0:
        return _error(f"--confidence must be between 0 and 1, got {args.confidence}")
    try:
        protocol = get_protocol(args.protocol)
        gt = load_gt(args.gt, clip=protocol.clip_gt)
        if len(gt) == 0:
            raise ValueError(f"{args.gt}: the ground truth has no usable query")
        files, results = [], []
        for path in args.pred:
            check_input_file(path, "prediction file")
            preds = read_predictions(path)
            if not args.allow_missing:
                check_query_sets(gt, preds, path)
            result = evaluate(gt, preds.windows, protocol)
            if result.counts.get("missing_predictions", 0) == len(gt):
                raise QuerySetMismatch(
                    f"{path}: no prediction for any of the {len(gt)} GT queries of "
                    f"{gt.source or args.gt} (predictions of another dataset or split?)"
                )
            results.append(result)
            files.append(
                {
                    "pred": str(path),
                    "sha256": file_digest(path, chars=64),
                    **{
                        k: int(result.counts.get(k, 0))
                        for k in ("missing_predictions", "empty_predictions", "unknown_qids")
                    },
                }
            )
        names = [str(p) for p in args.pred]
        metrics = compare(
            gt,
            results,
            names,
            n_boot=args.n_boot,
            n_perm=args.n_perm,
            seed=args.seed,
            confidence=args.confidence,
        )
    except (AnnotationError, DatasetNotFound, BundledDataError, OSError, ValueError) as e:
        return _error(str(e))
    print(
        f"ground truth: {gt.source or args.gt} ({gt.dataset}, split {gt.split}): {len(gt)} "
        f"queries; protocol {protocol.name}"
    )
    for f in files:
        counts = [
            f"{f[k]} {k.replace('_', ' ')}"
            for k in ("missing_predictions", "empty_predictions", "unknown_qids")
            if f[k]
        ]
        if counts:
            note = " (scored as misses)" if f["missing_predictions"] else ""
            print(f"{f['pred']}: {', '.join(counts)}{note}")
    print(
        f"paired over the {len(gt)} queries: bootstrap {args.n_boot} resamples, seed "
        f"{args.seed}; p two-sided (McNemar exact for 0/1 hits, sign-flip for continuous)"
    )
    print(format_table(metrics, _labels(args.pred), args.confidence))
    if args.json is not None:
        doc = {
            "gt": str(args.gt),
            "gt_source": gt.source,
            "dataset": gt.dataset,
            "split": gt.split,
            "n_queries": len(gt),
            "gt_log": gt.log.to_dict(),
            "protocol": protocol.name,
            "protocol_options": protocol.to_dict(),
            "n_boot": args.n_boot,
            "n_perm": args.n_perm,
            "seed": args.seed,
            "confidence": args.confidence,
            "allow_missing": bool(args.allow_missing),
            "files": files,
            "metrics": json_safe(metrics),
        }
        write_json_atomic(args.json, doc)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
