"""The benchmark's stages (recognition training, feature extraction, grounding training), each
a Python call with its typed settings (:func:`grounding.train.recognition.train_recognition`,
:func:`grounding.extract.run_extraction`, :func:`grounding.train.grounding.train_grounding`),
cached in a folder named by :func:`grounding.settings.stage_key` of its inputs and settings
(their canonical JSON plus the package version):

    ROOT/recognition/<model>-s<seed>-<hash>/   config.json? metrics.json, checkpoint.pt
    ROOT/features/<model>-<hash>.h5
    ROOT/grounding/<model>-s<seed>-<hash>/     metrics.json, checkpoint.pt, predictions.jsonl

A stage whose folder holds a finished ``metrics.json`` (or, for extraction, a complete feature
file) is reused; one that stopped half-way is resumed from its checkpoint; a change of any
setting gives a new folder, so a cached result always matches its inputs.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from grounding.data.annotations import QuerySet
from grounding.data.moment_detr import read_predictions
from grounding.eval import EvalResult, Protocol, evaluate
from grounding.eval.statistics import mean_std, paired_bootstrap_ci
from grounding.extract import ExtractionSettings, run_extraction
from grounding.models.recognizer import RecognitionSettings
from grounding.profiles import BenchProfile
from grounding.settings import stage_key
from grounding.train.grounding import GroundingSettings, train_grounding
from grounding.train.loop import NonFiniteError
from grounding.train.paths import RunOptions
from grounding.train.recognition import RecognitionRun, train_recognition


class StageFailed(RuntimeError):
    """A stage stopped with an error; the message names the stage and its folder."""


#: what a failing stage raises (bad data, settings or files; a diverging loss)
STAGE_ERRORS = (NonFiniteError, ValueError, OSError, KeyError)


def _finished(metrics: Path) -> dict[str, Any] | None:
    if not metrics.is_file():
        return None
    try:
        record = json.loads(metrics.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # unreadable, not UTF-8, invalid JSON: not a finished stage
        return None
    return record if isinstance(record, dict) and record.get("finished") else None


@dataclass
class StageRunner:
    """Runs and caches the stages of one benchmark under ``root``.

    Attributes:
        root: run folder, e.g. ``runs/synthetic-default``.
        device: passed to every stage (``auto``: CUDA when present).
    """

    root: Path
    device: str = "auto"

    def _train(
        self,
        kind: str,
        settings: RecognitionSettings | GroundingSettings,
        inputs: dict[str, Path],
        train: Callable[[Path, bool], object],
    ) -> tuple[dict[str, Any], Path]:
        key = stage_key({"task": kind, "inputs": inputs, "settings": settings})
        out = self.root / kind / f"{settings.model}-s{settings.optim.seed}-{key}"
        record = _finished(out / "metrics.json")
        if record is not None:
            return record, out
        try:
            train(out, (out / "checkpoint.pt").is_file())
        except STAGE_ERRORS as e:
            raise StageFailed(f"{kind} stage {settings.model} failed: {e}; folder {out}") from e
        record = _finished(out / "metrics.json")
        if record is None:
            raise StageFailed(f"{kind} stage {settings.model} did not finish; folder {out}")
        return record, out

    def recognition(self, *, data: Path, settings: RecognitionSettings) -> tuple[dict, Path]:
        """Train (or reuse) a recognizer; returns its metrics record and run folder."""
        return self._train(
            "recognition",
            settings,
            {"data": data},
            lambda out, resume: train_recognition(
                settings,
                data=data,
                out=out,
                options=RecognitionRun(device=self.device, resume=resume),
            ),
        )

    def grounding(
        self, *, data: Path, features: Path, settings: GroundingSettings
    ) -> tuple[dict, Path]:
        """Train (or reuse) a grounding model; returns its metrics record and run folder (which
        holds ``predictions.jsonl``)."""
        return self._train(
            "grounding",
            settings,
            {"data": data, "features": features},
            lambda out, resume: train_grounding(
                settings,
                data=data,
                features=features,
                out=out,
                options=RunOptions(device=self.device, resume=resume),
            ),
        )

    def extract(
        self, *, data: Path, run_dir: Path, name: str, settings: ExtractionSettings
    ) -> Path:
        """Extract (or reuse) per-clip features of every video with the recognizer in
        ``run_dir``; returns the HDF5 path."""
        checkpoint = run_dir / "checkpoint.pt"
        inputs = {"data": data, "checkpoint": checkpoint}
        key = stage_key({"task": "features", "inputs": inputs, "settings": settings})
        out = self.root / "features" / f"{name}-{key}.h5"
        if out.is_file():
            return out
        try:
            run_extraction(settings, data=data, checkpoint=checkpoint, out=out, device=self.device)
        except STAGE_ERRORS as e:
            raise StageFailed(f"feature extraction {name} failed: {e}; output {out}") from e
        if not out.is_file():
            raise StageFailed(f"feature extraction {name} wrote nothing; output {out}")
        return out


def summarize_per_seed(per_seed: dict[str, dict[str, float | None]]) -> dict:
    """``{"per_seed", "mean", "std"}`` of per-seed metric dicts (None where a value is missing)."""
    keys = next(iter(per_seed.values())).keys()
    mean: dict[str, float | None] = {}
    std: dict[str, float | None] = {}
    for k in keys:
        vals = [m.get(k) for m in per_seed.values()]
        if any(v is None or v != v for v in vals):  # NaN / null: e.g. an empty length bucket
            mean[k] = std[k] = None
            continue
        m, s = mean_std([float(v) for v in vals])
        mean[k], std[k] = round(m, 2), round(s, 2)
    return {"per_seed": per_seed, "mean": mean, "std": std}


@dataclass
class ModelRuns:
    """One model's results over seeds."""

    name: str
    runs: dict[int, EvalResult] = field(default_factory=dict)

    def summary(self) -> dict:
        out = summarize_per_seed({str(s): r.to_dict()["metrics"] for s, r in self.runs.items()})
        # per-query hits averaged over seeds -> bootstrap CI of R1@0.5 over queries
        hits = np.mean([r.per_query["R1@0.5"] for r in self.runs.values()], axis=0)
        lo, hi = paired_bootstrap_ci(hits, n_boot=1000, seed=0)
        # test queries a run left without a prediction (e.g. no features for their video)
        missing = max(r.counts.get("missing_predictions", 0) for r in self.runs.values())
        return out | {
            "bootstrap_ci": {"R1@0.5": [round(100 * lo, 2), round(100 * hi, 2)]},
            "queries_without_prediction": missing,
        }


#: recognition ablations of ``ours``: paper Table 3 (temporal module: the registered ``ours-*``
#: variants, ``ours`` itself has 2-head MHSSA) and Figure 10 (spatial module: settings of
#: ``ours``); each variant is ``(registered model, RecognizerNet fields it changes)``
ABLATED = "ours"
ABLATIONS: dict[str, dict[str, tuple[str, Mapping[str, Any]]]] = {
    "temporal": {
        "RNN": ("ours-rnn", {}),
        "LSTM": ("ours-lstm", {}),
        "GRU": ("ours-gru", {}),
        "softmax attention": ("ours-softmax", {}),
        "MHSSA (1 heads)": ("ours-mhssa-h1", {}),
        "MHSSA (2 heads)": ("ours", {}),
        "MHSSA (4 heads)": ("ours-mhssa-h4", {}),
        "MHSSA (6 heads)": ("ours-mhssa-h6", {}),
    },
    "spatial": {
        "softmax": ("ours", {"spatial": "softmax", "residual": False}),
        "sigmoid": ("ours", {"spatial": "sigmoid", "residual": False}),
        "softmax + residual": ("ours", {"spatial": "softmax"}),
        "sigmoid + residual": ("ours", {"spatial": "sigmoid"}),
    },
}


def ablation_settings(
    settings: RecognitionSettings, net_changes: Mapping[str, Any]
) -> RecognitionSettings:
    """``settings`` (of :data:`ABLATED`) with an ablation's architecture changes."""
    return replace(settings, net=replace(settings.net, **net_changes))


@dataclass
class TrainedResults:
    """What the trained stages produced (see grounding.results_schema)."""

    grounding: dict[str, ModelRuns] = field(default_factory=dict)
    recognition: dict[str, dict] = field(default_factory=dict)
    recognition_configs: dict[str, dict] = field(default_factory=dict)
    ablations: dict[str, dict[str, dict]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def recognize_over_seeds(
    runner: StageRunner,
    *,
    data: Path,
    model: str,
    seeds: Sequence[int],
    settings: RecognitionSettings,
    bar: tqdm,
    label: str,
) -> list[tuple[dict, Path]]:
    """Train (or reuse) one recognizer per seed; ``(metrics record, run folder)`` per seed, in
    ``seeds`` order."""
    done = []
    for seed in seeds:
        bar.set_postfix_str(f"{label} seed {seed}")
        done.append(runner.recognition(data=data, settings=settings.for_run(model, seed)))
        bar.update()
    return done


def ground_over_seeds(
    runner: StageRunner,
    *,
    data: Path,
    features: Path,
    model: str,
    seeds: Sequence[int],
    settings: GroundingSettings,
    test: QuerySet,
    protocol: Protocol,
    bar: tqdm,
) -> ModelRuns:
    """Train (or reuse) one grounding model per seed on ``features`` and score each run's
    predictions on ``test`` with ``protocol``."""
    runs = ModelRuns(model)
    for seed in seeds:
        bar.set_postfix_str(f"grounding {model} seed {seed}")
        _, run_dir = runner.grounding(
            data=data, features=features, settings=settings.for_run(model, seed)
        )
        preds = read_predictions(run_dir / "predictions.jsonl")
        runs.runs[seed] = evaluate(test, preds.windows, protocol)
        bar.update()
    return runs


def run_on_features(
    runner: StageRunner,
    *,
    data: Path,
    test: QuerySet,
    features: Path,
    models: Sequence[str],
    seeds: Sequence[int],
    protocol: Protocol,
    grounding: GroundingSettings,
) -> dict[str, ModelRuns]:
    """The feature path (Charades-STA / ActivityNet with user features): every model's encoder
    and the shared localization head trained per seed on the same clip features. Dataset,
    splits and feature type are ``grounding.data``."""
    bar = tqdm(total=len(models) * len(seeds), desc="bench stages", unit="stage", file=sys.stderr)
    out = {
        model: ground_over_seeds(
            runner,
            data=data,
            features=features,
            model=model,
            seeds=seeds,
            settings=grounding,
            test=test,
            protocol=protocol,
            bar=bar,
        )
        for model in models
    }
    bar.close()
    return out


def run_trained(
    runner: StageRunner,
    *,
    data: Path,
    test: QuerySet,
    profile: BenchProfile,
    seeds: Sequence[int],
    protocol: Protocol,
) -> TrainedResults:
    """For every model of ``profile``: a recognizer per seed, features from the first seed's
    recognizer, then a grounding model per seed on those features (each method's own encoder
    over its own clip features, the same localization head), and the profile's ablations.
    Predictions are re-scored here with ``protocol``."""
    out = TrainedResults()
    models = profile.models
    jobs = len(models) * len(seeds) * 2 + len(models)
    if profile.ablations:
        jobs += sum(len(v) for v in ABLATIONS.values()) * len(seeds)
    bar = tqdm(total=jobs, desc="bench stages", unit="stage", file=sys.stderr)
    t0 = time.perf_counter()
    for model in models:
        runs = recognize_over_seeds(
            runner,
            data=data,
            model=model,
            seeds=seeds,
            settings=profile.recognition_for(model),
            bar=bar,
            label=f"recognition {model}",
        )
        (first, first_dir), (last, _) = runs[0], runs[-1]
        out.recognition_configs[model] = first.get("config", {})
        out.recognition[model] = summarize_per_seed(
            {str(seed): record["metrics"] for seed, (record, _) in zip(seeds, runs, strict=True)}
        ) | {"n_test": last.get("n_test")}
        bar.set_postfix_str(f"features {model}")
        features = runner.extract(
            data=data, run_dir=first_dir, name=model, settings=profile.extraction_for(model)
        )
        bar.update()
        out.grounding[model] = ground_over_seeds(
            runner,
            data=data,
            features=features,
            model=model,
            seeds=seeds,
            settings=profile.grounding,
            test=test,
            protocol=protocol,
            bar=bar,
        )
    out.seconds["models"] = round(time.perf_counter() - t0, 1)
    if profile.ablations:
        t1 = time.perf_counter()
        for kind, variants in ABLATIONS.items():
            out.ablations[kind] = {}
            for variant, (model, changes) in variants.items():
                runs = recognize_over_seeds(
                    runner,
                    data=data,
                    model=model,
                    seeds=seeds,
                    settings=ablation_settings(profile.recognition_for(ABLATED), changes),
                    bar=bar,
                    label=f"{kind} ablation {variant}",
                )
                out.ablations[kind][variant] = summarize_per_seed(
                    {str(seed): rec["metrics"] for seed, (rec, _) in zip(seeds, runs, strict=True)}
                )
        out.seconds["ablations"] = round(time.perf_counter() - t1, 1)
    bar.close()
    return out
