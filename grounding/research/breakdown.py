"""Recall of grounding predictions per kind of query relation, on a generated synthetic dataset:
``python -m grounding.research.breakdown --data DIR --pred PRED.jsonl [--split test]``.

Every synthetic query comes from a :class:`~grounding.data.synthetic.queries.Descriptor` whose
``relation`` says what the sentence asks beyond "who does what": ``none``, ``right_after``,
``after``, ``right_before``, ``before``, ``ordinal`` (the k-th time), ``side`` (court half),
``while`` (during another player's action), ``then`` (a moment spanning two actions). The
descriptors are rebuilt from the dataset's manifest (seed, fps, size: the generator is a pure
function of them), matched to the split's queries by ``(video, sentence)``, and the evaluator's
per-query results (``grounding.evaluate``, the chosen protocol) are averaged per relation. It
tells which sentences a model fails on, e.g. whether oracle features fail on "before" while
passing "then".
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tabulate import tabulate

from grounding.data.annotations import AnnotationError
from grounding.data.datasets import load_split
from grounding.data.moment_detr import read_predictions
from grounding.data.synthetic.manifest import manifest_script, read_generator_settings
from grounding.data.synthetic.queries import RELATION_WEIGHT, make_queries
from grounding.eval import PRESETS, evaluate, get_protocol

#: metrics of the breakdown table (keys of ``EvalResult.per_query``; IoU@1 is the mIoU term)
METRICS = ("R1@0.5", "R1@0.7", "R5@0.5", "IoU@1")


def query_relations(data: Path, vids: set[str]) -> dict[tuple[str, str], str]:
    """``{(vid, sentence): relation}`` of the generated queries of the videos ``vids``."""
    m = read_generator_settings(data)
    out: dict[tuple[str, str], str] = {}
    for index, vid in enumerate(m["videos"]):
        if vid not in vids:
            continue
        for q in make_queries(manifest_script(m, index)):
            out[(vid, q.sentence.strip())] = q.descriptor.relation
    return out


@dataclass(frozen=True)
class RelationBreakdown:
    """Per-relation means of the per-query metrics (percent) and query counts."""

    counts: dict[str, int]
    metrics: dict[str, dict[str, float]]
    protocol: str

    def table(self) -> str:
        order = ["all", *[r for r in RELATION_WEIGHT if r in self.counts]]
        rows = [
            [r, self.counts[r], *(round(self.metrics[r][k], 2) for k in METRICS)] for r in order
        ]
        names = ["mIoU" if k == "IoU@1" else k for k in METRICS]
        return tabulate(rows, headers=["relation", "queries", *names])


def relation_breakdown(
    data: Path, predictions: Path, *, split: str = "test", protocol: str = "default"
) -> RelationBreakdown:
    """Score ``predictions`` (Moment-DETR jsonl) on split ``split`` of the synthetic dataset in
    ``data`` and average the per-query results per relation. ``ValueError`` naming the query
    when a sentence is not one this generator writes for its video (another dataset)."""
    gt = load_split("charades", data, split)
    preds = read_predictions(predictions)
    result = evaluate(gt, preds.windows, get_protocol(protocol))
    relations = query_relations(data, {q.vid for q in gt.queries})
    groups: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(gt.queries):
        rel = relations.get((q.vid, q.sentence))
        if rel is None:
            raise ValueError(
                f"{gt.source}: query {q.qid} ({q.vid}: {q.sentence!r}) is not a query the "
                f"synthetic generator writes for {q.vid} with the settings in {data}/manifest.json"
            )
        groups[rel].append(i)
    groups["all"] = list(range(len(gt.queries)))
    counts = {r: len(idx) for r, idx in groups.items()}
    metrics = {
        r: {k: 100.0 * float(np.mean(result.per_query[k][idx])) for k in METRICS}
        for r, idx in groups.items()
    }
    return RelationBreakdown(counts, metrics, protocol)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m grounding.research.breakdown",
        description="Recall of grounding predictions per query relation (synthetic dataset).",
    )
    p.add_argument("--data", required=True, type=Path, help="generated dataset folder")
    p.add_argument("--pred", required=True, type=Path, help="Moment-DETR predictions jsonl")
    p.add_argument("--split", default="test", help="charades_sta_<split>.txt (default test)")
    p.add_argument("--protocol", default="default", choices=sorted(PRESETS))
    args = p.parse_args(argv)
    try:
        report = relation_breakdown(args.data, args.pred, split=args.split, protocol=args.protocol)
    except (ValueError, OSError, AnnotationError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.pred} on {args.data} {args.split} (protocol {report.protocol}, %):")
    print(report.table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
