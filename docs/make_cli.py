"""Write docs/cli.md from each command's ``--help``: ``python docs/make_cli.py``.

Run it after changing a command's flags; the page is the ``--help`` text of every command, so
the two cannot disagree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (section, module, extra argv before --help, one-line summary)
COMMANDS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("Benchmark", "grounding.bench", (), "the one command: data to tables, cached stages"),
    ("Evaluation", "grounding.evaluate", (), "score a prediction file against a GT"),
    ("Evaluation", "grounding.compare", (), "paired comparison of prediction files"),
    ("Evaluation", "grounding.tables", (), "tables and figures of a results file"),
    ("Prediction", "grounding.predict", (), "ground sentences in your own video"),
    ("Training", "grounding.train", (), "the training commands"),
    ("Training", "grounding.train", ("recognition",), "action recognizer on trimmed clips"),
    ("Training", "grounding.train", ("grounding",), "grounding model on clip features"),
    ("Training", "grounding.extract", (), "clip features from a recognizer"),
    ("Speed", "grounding.speed", (), "latency, end-to-end time, recognizer FPS"),
    ("Data", "grounding.data.synthetic", (), "generate the synthetic dataset"),
    ("Data", "grounding.data.bundled.build", (), "maintainers: rebuild the shipped annotations"),
    ("Research", "grounding.research.oracle", (), "script-derived oracle features"),
    ("Research", "grounding.research.decode", (), "person features against the scripts"),
    ("Research", "grounding.research.breakdown", (), "recall per query relation"),
    ("Research", "grounding.research.crop_gap", (), "recognizer accuracy, close-up to wide"),
    ("Research", "grounding.research.wide_clips", (), "wide-shot crops of the training clips"),
)


def help_text(module: str, extra: tuple[str, ...]) -> str:
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-m", module, *extra, "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    return done.stdout.rstrip()


#: hand-written part of the page: the commands in the order one runs them
WORKFLOWS = """## Workflows

The bench by hand, stage by stage (synthetic data; the same commands take real data):

```bash
python -m grounding.data.synthetic --out DATA --videos 200 --seed 0 --preview
python -m grounding.train recognition --data DATA --out runs/rec --model ours   # or gtn, dgcn
python -m grounding.extract --data DATA --checkpoint runs/rec/checkpoint.pt --out runs/feats.h5
python -m grounding.train grounding --data DATA --features runs/feats.h5 --out runs/gr
python -m grounding.evaluate --gt DATA/charades_sta_test.txt --pred runs/gr/predictions.jsonl
```

`grounding.extract` makes each model's features the way its registry entry says (`--kind`
overrides it): for `ours` they are person-centric: for every clip and every person of the
video's pose file (`DATA/skeletons/<vid>.npz`, COCO-17 `(T, M, 17, 3)`), the frames are cropped
around the person at the close-ups' framing; the clip's feature holds the people's fused
features pooled by mean and max, and each person's class posterior bound to an appearance
descriptor (jersey colour, tallest / shortest, court half). `--rgb-input diff` feeds the RGB
stream TSN's RGB difference instead of frames (the quick and reference profiles do).

Starting both streams from a BN-Inception state dict you have (TSN's Caffe-converted
`bn_inception` weights or this package's keys; `.pth` or `.safetensors`; its SHA-256 is stored
in the run's config):

```bash
python -m grounding.train recognition --data DATA --out runs/rec --rgb-weights bn_inception.pth
python -m grounding.bench --profile paper --rgb-weights bn_inception.pth
```

Checkpoints are written atomically every epoch; `--resume` continues a run. The same commands
run under DistributedDataParallel (gloo on CPU, nccl on GPU):

```bash
torchrun --nproc_per_node=2 -m grounding.train recognition --data DATA --out runs/rec
```

Tables, figures and speed:

```bash
python -m grounding.tables results/synthetic/smoke.json --format md      # or latex, --out DIR
python -m grounding.bench --speed                                        # the profile's models
python -m grounding.speed --device auto --json speed.json                # both FPS definitions
python benchmarks/bench_evaluator.py                                     # evaluator speed
pytest benchmarks/                                                       # pytest-benchmark suites
```
"""


def render() -> str:
    out = [
        "# Commands",
        "",
        "Every command and flag, as each command's `--help` prints it (written by",
        "`python docs/make_cli.py`; run it again after changing a flag). Design:",
        "[design.md](design.md); evaluation presets: [protocols.md](protocols.md).",
        "",
        WORKFLOWS,
        "## Reference",
        "",
    ]
    out += [f"- `python -m {m}{''.join(' ' + a for a in e)}`: {s}" for _, m, e, s in COMMANDS]
    section = None
    for sec, module, extra, _ in COMMANDS:
        if sec != section:
            out += ["", f"### {sec}"]
            section = sec
        out += ["", f"#### `python -m {' '.join([module, *extra])}`", "", "```text"]
        out += [help_text(module, extra), "```"]
    return "\n".join(out) + "\n"


def main() -> int:
    (ROOT / "docs" / "cli.md").write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
