"""``python -m grounding.evaluate --gt GT --pred PRED.jsonl [--protocol NAME] [--json OUT]``

Scores Moment-DETR-style prediction jsonl (``{"qid", "pred_relevant_windows": [[s, e, score],
...]}``) against ground truth in any format the readers know (Moment-DETR jsonl,
``charades_sta_<split>.txt`` with its ``Charades_v1_<split>.csv``, ActivityNet ``<split>.json``),
prints a table and optionally writes the metrics as JSON (percentages, 2 decimals).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from tabulate import tabulate

from grounding.data.annotations import AnnotationError, QuerySet
from grounding.data.datasets import DatasetNotFound, guess_gt
from grounding.data.moment_detr import read_moment_detr_gt, read_predictions
from grounding.eval import PRESETS, EvalResult, evaluate, get_protocol
from grounding.io import check_input_file, write_json_atomic


def format_metrics_table(result: EvalResult) -> str:
    """The metrics of one result as a two-column table."""
    rows = [[k, "-" if v != v else f"{v:.2f}"] for k, v in result.metrics.items()]
    return tabulate(rows, headers=["metric", "%"], tablefmt="github")


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m grounding.evaluate", description=__doc__.split("\n\n")[1]
    )
    p.add_argument("--gt", required=True, type=Path, help="ground-truth file")
    p.add_argument("--pred", required=True, type=Path, help="predictions, Moment-DETR jsonl")
    p.add_argument("--protocol", default="default", choices=sorted(PRESETS))
    p.add_argument("--json", type=Path, default=None, help="write the metrics here (JSON)")
    p.add_argument(
        "--iou", type=parse_floats, default=None, help="IoU thresholds, e.g. 0.3,0.5,0.7"
    )
    p.add_argument("--recall-at", type=parse_ints, default=None, help="n of R@n, e.g. 1,5")
    p.add_argument("--nms", type=float, default=None, help="override the NMS threshold")
    p.add_argument("--no-nms", action="store_true", help="disable NMS")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides: dict = {}
    if args.iou:
        overrides["iou_thresholds"] = args.iou
    if args.recall_at:
        overrides["recall_at"] = args.recall_at
    if args.nms is not None:
        overrides["nms_thresh"] = args.nms
    if args.no_nms:
        overrides["nms_thresh"] = None
    try:
        protocol = get_protocol(args.protocol, **overrides)
        gt = load_gt(args.gt, clip=protocol.clip_gt)
        check_input_file(args.pred, "prediction file")
        preds = read_predictions(args.pred)
    except (AnnotationError, DatasetNotFound, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if overrides:
        protocol = replace(protocol, name=f"{protocol.name}+custom")
    result = evaluate(gt, preds.windows, protocol)
    print(
        f"ground truth: {gt.source or args.gt} ({gt.dataset}, split {gt.split}): {len(gt)} queries"
    )
    for line in filter(None, [gt.log.summary(), preds.log.summary()]):
        print(line)
    for key in ("missing_predictions", "empty_predictions", "unknown_qids"):
        if result.counts.get(key):
            print(f"{key.replace('_', ' ')}: {result.counts[key]}")
    print(f"protocol: {protocol.name} {protocol.to_dict()}")
    print(format_metrics_table(result))
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
        write_json_atomic(args.json, out)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
