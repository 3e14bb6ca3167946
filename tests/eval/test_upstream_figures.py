"""The figures each upstream's own code printed, reproduced through the CLI end to end.

- Moment-DETR: its ``standalone_eval`` sample predictions on QVHighlights val (fixtures copied
  from jayleicn/moment_detr, see ``fixtures/NOTICE.md``) and the 8 moment-retrieval metrics its
  ``eval.py`` wrote for them.
- 2D-TAN and MMN: every query of ActivityNet Captions val_2 with the whole-video and half-video
  windows ``[[0, D, 0.9], [0, D/2, 0.8], [D/2, D, 0.7]]`` (30 queries sit exactly on IoU 0.5
  with the whole video, and the whole and half windows overlap exactly 0.5), against the figures
  2D-TAN's ``lib/core/eval.py: eval`` and MMN's ``evaluation.py: evaluate`` printed for the same
  input (needs the real annotation files: ``GROUNDING_REAL_DATA``).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from grounding.data.activitynet import read_activitynet
from grounding.data.moment_detr import write_moment_detr_gt, write_predictions
from grounding.evaluate import main

FIXTURES = Path(__file__).parent / "fixtures"

MOMENT_DETR_KEYS = {
    "MR-full-R1@0.5": "R1@0.5",
    "MR-full-R1@0.7": "R1@0.7",
    "MR-full-mAP": "mAP",
    "MR-full-mAP@0.5": "mAP@0.5",
    "MR-full-mAP@0.75": "mAP@0.75",
    "MR-long-mAP": "long/mAP",
    "MR-middle-mAP": "middle/mAP",
    "MR-short-mAP": "short/mAP",
}

# metric: (2D-TAN's eval, MMN's evaluate) on val_2 whole/half-video windows
VAL2_UPSTREAM = {
    "R1@0.3": (47.99, 47.98),
    "R1@0.5": (21.07, 21.17),
    "R1@0.7": (12.41, 12.41),
    "R5@0.3": (64.64, 71.77),
    "R5@0.5": (39.40, 47.72),
    "R5@0.7": (21.02, 25.04),
    "mIoU": (34.57, None),  # MMN prints no mIoU
}


def gunzip(name: str, dest: Path) -> Path:
    out = dest / name.removesuffix(".gz")
    with gzip.open(FIXTURES / name, "rb") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return out


def run_cli(gt: Path, pred: Path, protocol: str, out: Path) -> dict[str, float]:
    assert (
        main(["--gt", str(gt), "--pred", str(pred), "--protocol", protocol, "--json", str(out)])
        == 0
    )
    return json.loads(out.read_text())["metrics"]


def test_moment_detr_official_sample_reproduces_all_8_metrics(tmp_path):
    gt = gunzip("moment_detr_highlight_val_release.jsonl.gz", tmp_path)
    pred = gunzip("moment_detr_sample_val_preds.jsonl.gz", tmp_path)
    expected = json.loads((FIXTURES / "moment_detr_sample_val_preds_metrics_raw.json").read_text())
    got = run_cli(gt, pred, "moment_detr", tmp_path / "m.json")
    assert {ours: got[ours] for ours in MOMENT_DETR_KEYS.values()} == {
        ours: expected["brief"][theirs] for theirs, ours in MOMENT_DETR_KEYS.items()
    }


@pytest.mark.realdata
def test_val2_whole_and_half_video_windows_give_the_upstream_figures(real_data, tmp_path):
    queries = read_activitynet(real_data / "activitynet_captions" / "val_2.json", split="val_2")
    assert len(queries) == 17031
    gt = write_moment_detr_gt(tmp_path / "val_2.jsonl", queries)
    windows = {
        q.qid: [
            [0.0, q.duration, 0.9],
            [0.0, q.duration / 2, 0.8],
            [q.duration / 2, q.duration, 0.7],
        ]
        for q in queries.queries
    }
    pred = write_predictions(tmp_path / "pred.jsonl", windows)
    tan = run_cli(gt, pred, "2dtan", tmp_path / "tan.json")
    mmn = run_cli(gt, pred, "mmn", tmp_path / "mmn.json")
    assert {k: tan[k] for k in VAL2_UPSTREAM} == {k: v[0] for k, v in VAL2_UPSTREAM.items()}
    assert {k: mmn[k] for k in VAL2_UPSTREAM if k != "mIoU"} == {
        k: v[1] for k, v in VAL2_UPSTREAM.items() if v[1] is not None
    }
