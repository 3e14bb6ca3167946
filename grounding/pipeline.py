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
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from grounding.data.annotations import QuerySet
from grounding.data.moment_detr import read_predictions
from grounding.eval import EvalResult, Protocol, evaluate
from grounding.eval.statistics import mean_std, paired_bootstrap_ci
from grounding.extract import ExtractionSettings, run_extraction
from grounding.models.recognizer import RecognitionSettings, recognizer_spec
from grounding.models.registry import import_models
from grounding.profiles import BenchProfile
from grounding.scheduler import Cached, Stage, run_stages, stage_table
from grounding.settings import stage_key, to_jsonable
from grounding.train.grounding import GroundingSettings, train_grounding
from grounding.train.loop import NonFiniteError
from grounding.train.paths import RunOptions, default_cache_dir
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
        root: run folder, e.g. ``runs/synthetic-quick``.
        device: passed to every stage (``auto``: CUDA when present).
    """

    root: Path
    device: str = "auto"

    def _stage_dir(self, kind: str, settings: Any, inputs: dict[str, Path]) -> Path:
        key = stage_key({"task": kind, "inputs": inputs, "settings": settings})
        return self.root / kind / f"{settings.model}-s{settings.optim.seed}-{key}"

    def is_trained(self, kind: str, settings: Any, inputs: dict[str, Path]) -> bool:
        """Whether the ``kind`` stage of ``settings`` on ``inputs`` has finished before."""
        return _finished(self._stage_dir(kind, settings, inputs) / "metrics.json") is not None

    def features_path(
        self, *, data: Path, run_dir: Path, name: str, settings: ExtractionSettings
    ) -> Path:
        """Where :meth:`extract` writes the features of the recognizer in ``run_dir``."""
        inputs = {"data": data, "checkpoint": run_dir / "checkpoint.pt"}
        key = stage_key({"task": "features", "inputs": inputs, "settings": settings})
        return self.root / "features" / f"{name}-{key}.h5"

    def _train(
        self,
        kind: str,
        settings: RecognitionSettings | GroundingSettings,
        inputs: dict[str, Path],
        train: Callable[[Path, bool], object],
    ) -> tuple[dict[str, Any], Path]:
        out = self._stage_dir(kind, settings, inputs)
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
        out = self.features_path(data=data, run_dir=run_dir, name=name, settings=settings)
        if out.is_file():
            return out
        try:
            run_extraction(
                settings,
                data=data,
                checkpoint=checkpoint,
                out=out,
                device=self.device,
                input_cache=default_cache_dir(data, self.root / "cache") / "person_inputs",
            )
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
    stages: list[dict[str, Any]] = field(default_factory=list)  # StageTime.to_dict, by start


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
    grounding: Mapping[str, GroundingSettings],
) -> dict[str, ModelRuns]:
    """The feature path (Charades-STA / ActivityNet with user features): every model's encoder
    and the shared localization head trained per seed on the same clip features, each with its
    own settings (``grounding[model]``, whose ``data`` names the dataset, splits and feature
    type)."""
    bar = tqdm(total=len(models) * len(seeds), desc="bench stages", unit="stage", file=sys.stderr)
    out = {
        model: ground_over_seeds(
            runner,
            data=data,
            features=features,
            model=model,
            seeds=seeds,
            settings=grounding[model],
            test=test,
            protocol=protocol,
            bar=bar,
        )
        for model in models
    }
    bar.close()
    return out


# --------------------------------------------------------------------------------------------
# the synthetic benchmark as a graph of stages (grounding.scheduler)

#: torch threads per stage kind: on a small CPU every stage gets more done as one of several
#: 1-thread processes than alone with more threads (a smoke grounding stage used 1.3 cores of
#: 2; docs/experiments/first-run.md)
STAGE_THREADS = {"inputs": 1, "recognition": 1, "features": 1, "sentences": 1, "grounding": 1}


def prepare_inputs_stage(
    data: Path, settings: RecognitionSettings, *, cache_dir: Path, rank: int, world_size: int
) -> Cached | None:
    """Fill this shard (``rank`` of ``world_size``) of what the recognizer of ``settings``
    reads from a cache (the decoded frames and flow fields of every clip), as its training
    would on first use; :class:`Cached` when it was all there."""
    from grounding.train.recognition import make_datasets, read_split, recognition_config

    split, skeletons = read_split(data, split=settings.clips.split)
    config = recognition_config(settings, split.classes)
    train_set, _ = make_datasets(config, split, skeletons=skeletons, cache_dir=cache_dir)
    clips = [c.path for c in split.train + split.test]
    inputs = recognizer_spec(config.model).inputs
    built = inputs.prepare(train_set, clips, rank=rank, world_size=world_size)
    return None if built else Cached(None)


def sentences_stage(data: Path, settings: GroundingSettings, *, cache_dir: Path) -> Cached | None:
    """Encode the sentences of the grounding splits into the shared cache once, before the
    grounding stages read it; :class:`Cached` when they all were."""
    from grounding.data.datasets import load_split
    from grounding.models.text import SentenceCache, TokenCache
    from grounding.train.grounding import resolve_test_split, sentence_embeddings

    d = settings.data
    caches: list[SentenceCache] = [SentenceCache(cache_dir / f"sentences_{d.dataset}.npz")]
    if settings.net.cross_layers > 0:
        caches.append(TokenCache(cache_dir / f"tokens_{d.dataset}.npz"))
    splits = (d.train_split, resolve_test_split(data, d.dataset, d.test_split))
    encoded = 0
    for cache in caches:
        for split in splits:
            sentence_embeddings(cache, load_split(d.dataset, data, split), progress=True)
            encoded += cache.encoded_last
    return None if encoded else Cached(None)


def recognition_stage(
    runner: StageRunner, data: Path, settings: RecognitionSettings
) -> tuple[dict, Path] | Cached:
    """Train (or find) one recognizer: ``(metrics record, run folder)``."""
    cached = runner.is_trained("recognition", settings, {"data": data})
    result = runner.recognition(data=data, settings=settings)
    return Cached(result) if cached else result


def features_stage(
    runner: StageRunner,
    data: Path,
    name: str,
    settings: ExtractionSettings,
    *,
    recognizer: tuple[dict, Path],
) -> Path | Cached:
    """Extract (or find) the features of the recognizer ``(record, run folder)``."""
    run_dir = recognizer[1]
    path = runner.features_path(data=data, run_dir=run_dir, name=name, settings=settings)
    cached = path.is_file()
    out = runner.extract(data=data, run_dir=run_dir, name=name, settings=settings)
    return Cached(out) if cached else out


def grounding_stage(
    runner: StageRunner, data: Path, settings: GroundingSettings, *, features: Path
) -> Path | Cached:
    """Train (or find) one grounding model on ``features``: its run folder."""
    cached = runner.is_trained("grounding", settings, {"data": data, "features": features})
    _, run_dir = runner.grounding(data=data, features=features, settings=settings)
    return Cached(run_dir) if cached else run_dir


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


@dataclass(frozen=True)
class BenchGraph:
    """The stages of a synthetic benchmark and the names under which their results come back.

    Attributes:
        stages: every stage, dependencies included.
        recognition: ``{model: {seed: stage}}``; ablations: ``{kind: {variant: {seed:
            stage}}}``; grounding: ``{model: {seed: stage}}``.
    """

    stages: tuple[Stage, ...]
    recognition: dict[str, dict[int, str]]
    ablations: dict[str, dict[str, dict[int, str]]]
    grounding: dict[str, dict[int, str]]


def bench_graph(
    runner: StageRunner,
    *,
    data: Path,
    profile: BenchProfile,
    seeds: Sequence[int],
    shards: int = 1,
) -> BenchGraph:
    """The benchmark of ``profile`` as stages: input caches (``shards`` processes each) ->
    recognizers per model and seed -> features of each model's first-seed recognizer (and
    the sentence embeddings) -> grounding per model and seed; the ablation recognizers beside
    them. Stages with the same settings are one stage (the 2-head MHSSA ablation is ``ours``)."""
    cache_dir = default_cache_dir(data, runner.root / "cache")
    logs = runner.root / "logs"
    stages: dict[str, Stage] = {}
    by_settings: dict[str, str] = {}
    prepared: dict[str, tuple[str, ...]] = {}

    def add(stage: Stage) -> str:
        stages[stage.name] = replace(stage, log=logs / f"{_slug(stage.name)}.log")
        return stage.name

    def inputs_for(settings: RecognitionSettings) -> tuple[str, ...]:
        inputs = recognizer_spec(settings.model).inputs
        if "flow" not in getattr(inputs, "streams", ()):  # no input cache to fill
            return ()
        kind = type(inputs).__name__
        key = f"{kind}:{json.dumps(to_jsonable(settings.clips), sort_keys=True)}"
        if key not in prepared:
            label = f"inputs {kind}" + (f" #{len(prepared) + 1}" if prepared else "")
            prepared[key] = tuple(
                add(
                    Stage(
                        f"{label} {r + 1}/{shards}",
                        partial(
                            prepare_inputs_stage,
                            data,
                            settings,
                            cache_dir=cache_dir,
                            rank=r,
                            world_size=shards,
                        ),
                        threads=STAGE_THREADS["inputs"],
                    )
                )
                for r in range(shards)
            )
        return prepared[key]

    def recognizer(label: str, settings: RecognitionSettings) -> str:
        key = json.dumps(to_jsonable(settings), sort_keys=True)
        if key not in by_settings:
            by_settings[key] = add(
                Stage(
                    label,
                    partial(recognition_stage, runner, data, settings),
                    deps=inputs_for(settings),
                    threads=STAGE_THREADS["recognition"],
                    cost=_recognition_cost(settings),
                )
            )
        return by_settings[key]

    recognition: dict[str, dict[int, str]] = {}
    grounding: dict[str, dict[int, str]] = {}
    text = add(
        Stage(
            "sentences",
            partial(sentences_stage, data, profile.grounding, cache_dir=cache_dir),
            threads=STAGE_THREADS["sentences"],
            cost=1.0,
        )
    )
    for model in profile.models:
        rec = profile.recognition_for(model)
        recognition[model] = {
            seed: recognizer(f"recognition {model} s{seed}", rec.for_run(model, seed))
            for seed in profile.recognizer_seeds(tuple(seeds))
        }
        first = recognition[model][seeds[0]]
        feats = add(
            Stage(
                f"features {model}",
                partial(features_stage, runner, data, model, profile.extraction_for(model)),
                deps=(first,),
                args={"recognizer": first},
                threads=STAGE_THREADS["features"],
                cost=3.0,
            )
        )
        grounding[model] = {}
        for seed in seeds:
            settings = profile.grounding_for(model).for_run(model, seed)
            grounding[model][seed] = add(
                Stage(
                    f"grounding {model} s{seed}",
                    partial(grounding_stage, runner, data, settings),
                    deps=(feats, text),
                    args={"features": feats},
                    threads=STAGE_THREADS["grounding"],
                    cost=float(settings.optim.epochs),
                )
            )
    ablations: dict[str, dict[str, dict[int, str]]] = {}
    if profile.ablations:
        base = profile.recognition_for(ABLATED)
        for kind, variants in ABLATIONS.items():
            ablations[kind] = {}
            for variant, (model, changes) in variants.items():
                settings = ablation_settings(base, changes)
                ablations[kind][variant] = {
                    seed: recognizer(
                        f"{kind} ablation {variant} s{seed}", settings.for_run(model, seed)
                    )
                    for seed in seeds
                }
    return BenchGraph(tuple(stages.values()), recognition, ablations, grounding)


def _recognition_cost(settings: RecognitionSettings) -> float:
    """A recognizer's work relative to a grounding epoch (only the order matters: the pixel
    two-stream network costs several times a skeleton network per epoch)."""
    pixel = type(recognizer_spec(settings.model).inputs).__name__ == "PixelClips"
    return settings.optim.epochs * (2.0 if pixel else 0.3)


def run_trained(
    runner: StageRunner,
    *,
    data: Path,
    test: QuerySet,
    profile: BenchProfile,
    seeds: Sequence[int],
    protocol: Protocol,
    jobs: int = 1,
    imports: Sequence[str] = (),
) -> TrainedResults:
    """For every model of ``profile``: a recognizer per seed, features from the first seed's
    recognizer, then a grounding model per seed on those features (each method's own encoder
    over its own clip features, the same localization head), and the profile's ablations;
    ``jobs`` stages at a time (:func:`grounding.scheduler.run_stages`). Predictions are
    re-scored here with ``protocol``."""
    graph = bench_graph(runner, data=data, profile=profile, seeds=seeds, shards=max(1, jobs))
    t0 = time.perf_counter()
    init = partial(import_models, list(imports)) if imports else None
    done, times = run_stages(graph.stages, jobs=jobs, init=init)
    wall = time.perf_counter() - t0
    out = TrainedResults()
    for model, by_seed in graph.recognition.items():
        runs = {seed: done[name] for seed, name in by_seed.items()}
        out.recognition_configs[model] = runs[seeds[0]][0].get("config", {})
        out.recognition[model] = summarize_per_seed(
            {str(seed): record["metrics"] for seed, (record, _) in runs.items()}
        ) | {"n_test": runs[seeds[0]][0].get("n_test")}
    for model, by_seed in graph.grounding.items():
        runs = ModelRuns(model)
        for seed in seeds:
            preds = read_predictions(done[by_seed[seed]] / "predictions.jsonl")
            runs.runs[seed] = evaluate(test, preds.windows, protocol)
        out.grounding[model] = runs
    for kind, variants in graph.ablations.items():
        out.ablations[kind] = {
            variant: summarize_per_seed(
                {str(seed): done[name][0]["metrics"] for seed, name in by_seed.items()}
            )
            for variant, by_seed in variants.items()
        }
    out.seconds["models"] = round(wall, 1)
    out.stages = [t.to_dict() for t in sorted(times, key=lambda t: t.start_s)]
    print(f"\nstages ({jobs} at a time, {wall / 60:.1f} min wall):", file=sys.stderr)
    print(stage_table(times, total_wall=wall), file=sys.stderr)
    return out
