"""``python -m grounding.bench``: run models on a dataset over several seeds, print a table of
mean ± std, and write a results JSON with its provenance.

Examples::

    python -m grounding.bench                       # synthetic dataset, quick profile (first run)
    python -m grounding.bench --profile smoke       # CI-sized
    python -m grounding.bench --dataset charades    # shipped Charades-STA files, blind baselines
    python -m grounding.bench --dataset charades-cd --split test_iid
    python -m grounding.bench --dataset charades --data-root DIR --models whole-video,prior-only
    python -m grounding.bench --dataset activitynet --data-root DIR --split val_2 --seeds 3
    python -m grounding.bench --dataset charades --features I3D_FOLDER

The synthetic dataset is generated under ``--data-root`` (default
``data_cache/synthetic-<profile>``) when missing and reused when present. The real datasets
(``charades``, ``activitynet``, ``charades-cd``, ``activitynet-cd``) read the annotation files
shipped with the package (:mod:`grounding.data.bundled`) unless ``--data-root`` names a folder
with them (see ``grounding.data.datasets``; missing files: exit status 2 naming the expected
files and layout); the results record the files read (path or ``bundled:<name>``) with their
SHA-256. ActivityNet-CD has no public train split: prior-only is fitted on its ``val`` split
(said in the output and recorded as ``train_split`` / ``train_note``). With ``--features``
(the community's I3D / VGG / C3D clip features, see ``grounding.data.features``; charades and
activitynet) the trained models (``ours``, ``gtn``, ``dgcn``: each one's temporal encoder with
the same localization head) are trained and scored per seed next to the blind baselines;
without features only the blind baselines run, and the output says how to add features.
"""

from __future__ import annotations

from grounding.runtime import prefer_passive_omp

if __name__ == "__main__":  # before torch is loaded
    prefer_passive_omp()

import argparse
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate
from tqdm import tqdm

from baselines.blind import BLIND_BASELINES
from grounding.data.annotations import AnnotationError, QuerySet
from grounding.data.bundled import SPLITS, BundledDataError, materialize
from grounding.data.datasets import (
    BUNDLED,
    DatasetNotFound,
    data_files,
    default_test_split,
    load_split,
)
from grounding.data.features import FEATURE_TYPES
from grounding.eval import Protocol, evaluate, get_protocol
from grounding.eval.protocols import PRESETS
from grounding.eval.statistics import format_mean_std
from grounding.io import file_digest, write_json_atomic
from grounding.models.recognizer import PretrainedWeights
from grounding.models.registry import (
    ModelImportError,
    add_import_argument,
    get_model,
    import_models,
    list_models,
)
from grounding.pipeline import (
    ModelRuns,
    StageFailed,
    StageRunner,
    TrainedResults,
    run_on_features,
    run_trained,
)
from grounding.profiles import PROFILES, BenchProfile
from grounding.provenance import provenance
from grounding.regression import check_against, load_reference, tolerances_from
from grounding.scheduler import default_jobs
from grounding.tables import make_all
from grounding.train.grounding import GroundingData

if TYPE_CHECKING:  # loaded with the speed measurement only
    from grounding.speed.pipeline import PipelineConfig

REAL_DATASETS = ("charades", "activitynet", "charades-cd", "activitynet-cd")
#: datasets the trained models run on with ``--features`` (grounding.train grounding's datasets)
FEATURE_DATASETS = ("charades", "activitynet")
#: the split prior-only is fitted on where a dataset has no train split, and why
TRAIN_STAND_IN = {
    "activitynet-cd": (
        "val",
        "ActivityNet-CD has no public train split: prior-only is fitted on activitynet-cd val "
        "(i.i.d. with its unpublished train split, videos disjoint from test_iid/test_ood)",
    ),
}
DATASETS = ("synthetic", *REAL_DATASETS)
TABLE_METRICS = ("R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU")


@dataclass
class BenchConfig:
    dataset: str
    data_root: Path | None  # None: the annotation files shipped with the package
    split: str
    train_split: str = "train"
    models: tuple[str, ...] = ("whole-video", "prior-only")
    seeds: tuple[int, ...] = (0, 1, 2)
    protocol: Protocol = field(default_factory=lambda: get_protocol("default"))
    out: Path = Path("results")
    profile: BenchProfile = field(default_factory=lambda: PROFILES["quick"])
    check: Path | None = None
    runs: Path = Path("runs")
    device: str = "auto"
    speed: bool = True
    features: Path | None = None
    feature_type: str | None = None
    train_note: str | None = None  # why the models are fitted on a split other than train
    jobs: int = 1  # stages at once (grounding.scheduler)
    imports: tuple[str, ...] = ()  # --import: model modules the stage processes load

    @property
    def annotation_format(self) -> str:
        """The reader used: the synthetic dataset is written in Charades-STA format."""
        return "charades" if self.dataset == "synthetic" else self.dataset

    @property
    def results_path(self) -> Path:
        if self.dataset == "synthetic":
            name = self.profile.name
        elif self.features is not None:
            name = f"{self.split}-{self.feature_type}"
        else:
            name = self.split
        return self.out / self.dataset / f"{name}.json"


def run_blind(config: BenchConfig, train: QuerySet, test: QuerySet) -> dict[str, ModelRuns]:
    """Fit each blind baseline on ``train`` and evaluate on ``test`` for every seed."""
    results: dict[str, ModelRuns] = {}
    jobs = [(m, s) for m in config.models for s in config.seeds]
    fitted = {m: BLIND_BASELINES[m]().fit(train) for m in config.models}
    for name, seed in tqdm(jobs, desc="blind baselines", unit="run", file=sys.stderr):
        preds = fitted[name].predict(test, seed=seed)
        results.setdefault(name, ModelRuns(name)).runs[seed] = evaluate(
            test, preds, config.protocol
        )
    return results


def table_metrics(dataset: str, results: dict[str, ModelRuns]) -> tuple[str, ...]:
    """The table's columns: :data:`TABLE_METRICS`, and for the CD datasets the discounted
    recall ``dR{n}@{m}`` columns the evaluator reports."""
    if not dataset.endswith("-cd"):
        return TABLE_METRICS
    keys = dict.fromkeys(
        k for mr in results.values() for r in mr.runs.values() for k in r.metrics if k[:2] == "dR"
    )
    return (*TABLE_METRICS, *keys)


def results_table(results: dict[str, ModelRuns], metrics: tuple[str, ...] = TABLE_METRICS) -> str:
    """Mean ± std over seeds per model (two decimals), plus the number of test queries a model
    left without a prediction (e.g. no features for their video) when any did."""
    missing = {
        name: max(r.counts.get("missing_predictions", 0) for r in mr.runs.values())
        for name, mr in results.items()
    }
    extra = ["unscored queries"] if any(missing.values()) else []
    rows = []
    for name, mr in results.items():
        cells = [format_mean_std([r.metrics[k] for r in mr.runs.values()]) for k in metrics]
        rows.append([name, *cells, *([str(missing[name])] if extra else [])])
    return tabulate(
        rows, headers=["model", *metrics, *extra], tablefmt="github", disable_numparse=True
    )


def results_document(
    config: BenchConfig, train: QuerySet, test: QuerySet, results: dict[str, ModelRuns]
) -> dict:
    doc = {
        "dataset": config.dataset,
        "split": config.split,
        "train_split": config.train_split,
        "n_queries": len(test),
        "n_train_queries": len(train),
        "seeds": list(config.seeds),
        "profile": config.profile.to_dict() if config.dataset == "synthetic" else None,
        "protocol": config.protocol.to_dict(),
        "feature_type": config.feature_type if config.features is not None else None,
        "data": data_record(config, train, test),
        "skipped": {"train": train.log.to_dict(), "test": test.log.to_dict()},
        "grounding": {name: mr.summary() for name, mr in results.items()},
        "provenance": provenance(config.device),
    }
    return doc


def data_record(config: BenchConfig, train: QuerySet, test: QuerySet) -> dict:
    """Which annotation files were read: the folder (or ``bundled``), the sources, and every
    file with its SHA-256 (``bundled:<name>`` for the shipped ones)."""
    record: dict = {
        "root": BUNDLED if config.data_root is None else str(config.data_root),
        "test_source": test.source,
        "train_source": train.source,
    }
    if config.dataset in REAL_DATASETS:
        record["files"] = {
            "test": data_files(config.dataset, config.data_root, config.split),
            "train": data_files(config.dataset, config.data_root, config.train_split),
        }
    if config.train_note:
        record["train_note"] = config.train_note
    return record


def default_synthetic_root(profile: BenchProfile) -> Path:
    return Path("data_cache") / f"synthetic-{profile.name}"


def add_trained_sections(doc: dict, config: BenchConfig, trained: TrainedResults) -> None:
    """Recognition, ablation and speed sections of a synthetic run (grounding.results_schema)."""
    doc["recognition"] = trained.recognition
    if trained.ablations:
        doc["ablations"] = trained.ablations
    doc["recognition_configs"] = trained.recognition_configs
    doc["seconds"] = dict(trained.seconds)
    doc["stages"] = trained.stages
    if config.speed:
        t0 = time.perf_counter()
        main = config.profile.models[0]
        doc["speed"] = measure_speed(config, trained.recognition_configs.get(main, {}))
        doc["seconds"]["speed"] = round(time.perf_counter() - t0, 1)
        for entry in doc["speed"].get("recognition", []):
            if entry["name"] in doc["recognition"]:
                doc["recognition"][entry["name"]]["params"] = entry["params"]
                doc["recognition"][entry["name"]]["gflops"] = entry["gflops_per_clip"]
    print()
    rows = [
        [m, *(format_mean_std(seed_metric(e, k)) for k in ("accuracy", "recall", "f1"))]
        for m, e in doc["recognition"].items()
    ]
    seeds = sorted({int(k) for e in doc["recognition"].values() for k in e["per_seed"]})
    print(f"action recognition on the synthetic clips, mean ± std over seeds {seeds} (%):")
    print(tabulate(rows, headers=["model", "accuracy", "recall", "F1"], tablefmt="github"))


def seed_metric(entry: dict, metric: str) -> list[float]:
    return [float(m[metric]) for m in entry["per_seed"].values()]


def profile_recognition_config(profile: BenchProfile, model: str | None = None) -> dict:
    """The recognition config ``model`` (default: the profile's first) gets in ``profile`` (its
    settings resolved as the training stage resolves them), without training anything."""
    from grounding.train.recognition import recognition_config

    model = model or profile.models[0]
    settings = profile.recognition_for(model).for_run(model, profile.seeds[0])
    return asdict(recognition_config(settings, ["a", "b"]))  # the classes do not change the speed


def profile_pipeline_config(profile: BenchProfile, model: str) -> PipelineConfig:
    """The extraction settings ``model`` gets in ``profile``, for timing the same feature
    pipeline."""
    from grounding.speed.pipeline import PipelineConfig

    settings = profile.extraction_for(model)
    return PipelineConfig(
        clip_seconds=settings.clip_seconds,
        person_context=settings.person_context,
        batch_size=settings.batch_size,
    )


def measure_speed(config: BenchConfig, rec: dict) -> dict:
    """Speed of the profile's models built like the first one's recognizer config ``rec``
    (speed does not depend on the weights); the first one's feature pipeline end to end, with
    the profile's extraction settings."""
    from grounding.speed import SpeedSettings, build_speed_models, run_speed, synthetic_queries

    names = config.profile.models
    models = build_speed_models(
        models=names,
        main=names[0],
        width_mult=float(rec.get("width_mult", 0.5)),
        input_size=int(rec.get("input_size", 128)),
        segments=int(rec.get("segments", 3)),
    )
    settings = SpeedSettings(
        **config.profile.speed_args, pipeline=profile_pipeline_config(config.profile, names[0])
    )
    videos = synthetic_queries(config.data_root, settings.videos)
    report = run_speed(models, videos=videos, settings=settings, device=config.device)
    print()
    print(report.tables())
    return report.to_dict()


def prepare_synthetic(config: BenchConfig) -> None:
    """Generate the synthetic dataset of the profile unless it is already complete."""
    from grounding.data.synthetic.generate import generate_dataset

    p = config.profile
    print(
        f"profile {p.name}, synthetic data: {config.data_root} "
        f"({p.n_videos} videos, seed {p.data_seed}, {p.size} px)"
    )
    kwargs = {"n_videos": p.n_videos, "seed": p.data_seed, "size": p.size}
    try:
        generate_dataset(config.data_root, **kwargs)
    except FileExistsError:
        # the bench owns its default cache folder: a dataset of another configuration (an older
        # generator version) there is replaced; a folder the user named is never overwritten
        if config.data_root != default_synthetic_root(p):
            raise
        print(f"replacing {config.data_root}: it holds another generator version or configuration")
        generate_dataset(config.data_root, **kwargs, overwrite=True)


#: clips per video after resampling on the feature path (2D-TAN / MMN: 16 and 64)
NUM_CLIPS = {"charades": 16, "activitynet": 64}


def features_hint(config: BenchConfig) -> str | None:
    """What to add to train the profile's models too (printed after a blind-only table)."""
    models = config.profile.models
    if not models or config.features is not None:
        return None
    if config.dataset not in FEATURE_DATASETS:
        return (
            f"no --features given: blind baselines only ({', '.join(models)} train on clip "
            f"features of {' or '.join(FEATURE_DATASETS)} for now)"
        )
    root = "" if config.data_root is None else f" --data-root {config.data_root}"
    return (
        f"no --features given: blind baselines only. To train {', '.join(models)} too, add "
        f"clip features: python -m grounding.bench --dataset {config.dataset}{root} "
        f"--features DIR_OR_HDF5 [--feature-type {'|'.join(sorted(FEATURE_TYPES))}] "
        "(an HDF5 keyed by video id, or a folder of <vid>.npy or <vid>.npz; "
        "see grounding.data.features)"
    )


def feature_data_root(config: BenchConfig) -> Path:
    """The annotation folder the training stages read: ``--data-root``, or the shipped files
    of the dataset decompressed once under ``<runs>/bundled``."""
    if config.data_root is not None:
        return config.data_root
    names = [
        n for split in (config.train_split, config.split) for n in SPLITS[config.dataset][split]
    ]
    return materialize(names, config.runs / "bundled")


def run_real_features(config: BenchConfig, test: QuerySet) -> dict[str, ModelRuns]:
    """Train and score the profile's models on the user's clip features (``--features``); with
    annotations alone, nothing (:func:`features_hint` says what to add)."""
    models = config.profile.models
    if not models or config.features is None:
        return {}
    print(f"{config.feature_type} features: {config.features}; models {', '.join(models)}")
    data = GroundingData(
        dataset=config.dataset,
        feature_type=config.feature_type,
        train_split=config.train_split,
        test_split=config.split,
    )
    settings = {}
    for model in models:  # a model's own grounding settings, on this dataset's clips
        own = config.profile.grounding_for(model)
        settings[model] = replace(
            own, data=data, net=replace(own.net, num_clips=NUM_CLIPS[config.dataset])
        )
    runner = StageRunner(
        config.runs / f"{config.dataset}-{config.feature_type}", device=config.device
    )
    return run_on_features(
        runner,
        data=feature_data_root(config),
        test=test,
        features=config.features,
        models=models,
        seeds=config.seeds,
        protocol=config.protocol,
        grounding=settings,
    )


def refuse_empty_splits(config: BenchConfig, train: QuerySet, test: QuerySet) -> None:
    """A split without a usable query can be neither trained on nor scored: refuse before any
    stage, naming the split and its file(s)."""
    for name, qs in ((config.train_split, train), (config.split, test)):
        if not qs.queries:
            skipped = sum(qs.log.skipped.values())
            why = f", {skipped} skipped (see above)" if skipped else ""
            raise ValueError(
                f"{config.dataset} split '{name}' has no usable queries{why} "
                f"({qs.source or config.data_root}): nothing to "
                f"{'evaluate' if qs is test else 'train on'}"
            )


def run(config: BenchConfig) -> Path:
    t_start = time.perf_counter()
    # a bad --check reference is reported now, not after the run
    reference = load_reference(config.check) if config.check is not None else None
    if config.dataset == "synthetic":
        prepare_synthetic(config)
    t_data = time.perf_counter() - t_start
    train = load_split(config.annotation_format, config.data_root, config.train_split)
    test = load_split(config.annotation_format, config.data_root, config.split)
    print(
        f"{config.dataset}: {config.train_split} {len(train)} queries ({train.source}); "
        f"{config.split} {len(test)} queries ({test.source})"
    )
    if config.train_note:
        print(f"note: {config.train_note}")
    for name, qs in (("train", train), (config.split, test)):
        if qs.log.summary():
            print(f"[{name}] " + qs.log.summary().replace("\n", f"\n[{name}] "))
    refuse_empty_splits(config, train, test)
    trained = None
    if config.dataset == "synthetic" and config.profile.models:
        p = config.profile
        trained = run_trained(
            StageRunner(config.runs / f"{config.dataset}-{p.name}", device=config.device),
            data=config.data_root,
            test=test,
            profile=p,
            seeds=config.seeds,
            protocol=config.protocol,
            jobs=config.jobs,
            imports=config.imports,
        )
    featured = {}
    if config.dataset in REAL_DATASETS:
        featured = run_real_features(config, test)
    results = {
        **(trained.grounding if trained else {}),
        **featured,
        **run_blind(config, train, test),
    }
    print()
    print(
        f"{config.dataset} {config.split}, protocol {config.protocol.name}, "
        f"mean ± std over seeds {list(config.seeds)} (%):"
    )
    print(results_table(results, table_metrics(config.dataset, results)))
    if config.dataset in REAL_DATASETS:
        for note in filter(None, [config.train_note, features_hint(config)]):
            print(f"\n{note}")
    out = config.results_path
    doc = results_document(config, train, test, results)
    if trained is not None:
        add_trained_sections(doc, config, trained)
    # the whole command up to this file (the tables are drawn after it): the first-run time
    seconds = doc.setdefault("seconds", {})
    seconds["data"] = round(t_data, 1)
    seconds["total"] = round(time.perf_counter() - t_start, 1)
    doc["tolerances"] = tolerances_from(doc)
    failures: list = []
    check_error: Exception | None = None
    if reference is not None:
        try:  # the reference was checked before the run; the results are written whatever
            failures = check_against(doc, reference)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            check_error = e
    if failures or check_error is not None:
        out = out.with_name(out.stem + ".failed.json")
    write_json_atomic(out, doc)
    print(f"\nwrote {out}")
    if check_error is not None:
        raise ValueError(f"--check reference {config.check}: cannot compare: {check_error}")
    if reference is not None:
        report_regression(failures, reference, config.check)
    if not failures:
        tables_dir = out.parent / f"{out.stem}_tables"
        make_all(doc, "md", tables_dir, out.stem)
        written = sorted(p.name for p in tables_dir.glob(f"{out.stem}_*"))
        print(f"wrote {', '.join(written)} to {tables_dir}")
    if failures:
        raise RegressionFailed(failures)
    return out


def run_speed_only(config: BenchConfig) -> Path:
    """``--speed``: measure the profile's models (no training) and write
    ``results/synthetic/speed-<profile>.json``."""
    if config.dataset != "synthetic":
        raise ValueError("--speed runs on the synthetic dataset (its videos are decoded)")
    prepare_synthetic(config)
    doc = {
        "dataset": config.dataset,
        "profile": config.profile.to_dict(),
        "speed": measure_speed(config, profile_recognition_config(config.profile)),
        "provenance": provenance(config.device),
    }
    out = config.out / config.dataset / f"speed-{config.profile.name}.json"
    write_json_atomic(out, doc)
    print(f"\nwrote {out}")
    return out


class RegressionFailed(RuntimeError):
    def __init__(self, failures: list) -> None:
        super().__init__(f"{len(failures)} metric(s) outside tolerance")
        self.failures = failures


def check_regression(doc: dict, reference_path: Path) -> list:
    """Compare ``doc`` with the committed reference; print the verdict; return deviations."""
    reference = load_reference(reference_path)
    failures = check_against(doc, reference)
    report_regression(failures, reference, reference_path)
    return failures


def report_regression(failures: list, reference: dict, reference_path: Path | None) -> None:
    """Print the verdict of a comparison with the reference ``reference_path``."""
    n = len(reference.get("tolerances", {}))
    if failures:
        print(
            f"\nREGRESSION against {reference_path}: "
            f"{len(failures)} of {n} metrics out of tolerance"
        )
        for d in failures:
            print(f"  {d}")
    else:
        print(f"\ncheck against {reference_path}: all {n} metrics within tolerance")


def with_rgb_weights(profile: BenchProfile, weights: Path) -> BenchProfile:
    """``profile`` with ``weights`` as the starting point of the two-stream recognizers (the
    ``ours`` model and its ablations). The stage key holds the file's digest as well as its
    path, so new weights at the same path retrain."""
    ours = profile.recognition_for("ours")
    start = PretrainedWeights(rgb_weights=weights.resolve(), rgb_weights_sha=file_digest(weights))
    return replace(
        profile,
        model_recognition={**profile.model_recognition, "ours": replace(ours, weights=start)},
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m grounding.bench", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--dataset", choices=DATASETS, default="synthetic")
    p.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder with the annotation files (default for the real datasets: the files shipped "
        "with the package; synthetic: where the data is generated)",
    )
    p.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    p.add_argument(
        "--split",
        default=None,
        help="test split (charades, synthetic: test; activitynet: val_2; charades-cd, "
        "activitynet-cd: test_ood, also val, test_iid)",
    )
    p.add_argument(
        "--train-split",
        default=None,
        help="split the baselines are fitted on (default train; activitynet-cd, which has none: "
        "val)",
    )
    p.add_argument("--models", default=None, help="comma-separated model names")
    add_import_argument(p)
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="number of seeds 0..N-1 (default: the profile's on synthetic, 3 on real data)",
    )
    p.add_argument(
        "--features",
        type=Path,
        default=None,
        help="charades/activitynet: clip features (HDF5 file or <vid>.npy folder) to train on",
    )
    p.add_argument(
        "--feature-type",
        choices=sorted(FEATURE_TYPES),
        default=None,
        help="layout of --features (default: i3d for charades, c3d for activitynet)",
    )
    p.add_argument("--protocol", default="default", choices=sorted(PRESETS))
    p.add_argument("--out", type=Path, default=Path("results"), help="results folder")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="cache of the trained stages")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda:0")
    p.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        help="training stages run at once, each in its own process (default: the cores; 1: "
        "one after another in this process); busy threads never exceed the cores",
    )
    p.add_argument("--no-speed", action="store_true", help="skip the speed measurements")
    p.add_argument(
        "--speed",
        action="store_true",
        help="only the speed measurements (synthetic; models built like the profile's, untrained)",
    )
    p.add_argument(
        "--blind-only", action="store_true", help="only the blind baselines (no training)"
    )
    p.add_argument(
        "--ablations",
        action="store_true",
        help="also train the Table 3 / Figure 10 ablation recognizers (12 variants x seeds)",
    )
    p.add_argument(
        "--rgb-weights",
        type=Path,
        default=None,
        help="BN-Inception state dict (e.g. ImageNet) the two-stream recognizers start from "
        "(synthetic; passed to grounding.train recognition)",
    )
    p.add_argument(
        "--check",
        type=Path,
        default=None,
        help="compare with this committed results file; exit 1 naming any metric out of tolerance",
    )
    return p


def _default_seeds(n: int | None, dataset: str, profile: BenchProfile) -> tuple[int, ...]:
    """``--seeds N`` when given; else the profile's seeds on synthetic (they size its training)
    and three on the real data, where the blind baselines cost seconds."""
    if n:
        return tuple(range(n))
    return profile.seeds if dataset == "synthetic" else BenchConfig.seeds


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import_models(args.imports)
    except ModelImportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    profile = PROFILES[args.profile]
    if args.models is None:  # the profile's trained models and both blind baselines
        names = (*profile.models, *BLIND_BASELINES)
    else:
        names = tuple(dict.fromkeys(m.strip() for m in args.models.split(",") if m.strip()))
    models = tuple(m for m in names if m in BLIND_BASELINES)
    trained = tuple(m for m in names if m not in BLIND_BASELINES)
    registered = list_models() if trained else []
    unknown = [m for m in trained if m not in registered]
    if unknown:
        print(
            f"error: unknown model(s) {unknown}; choose from the blind baselines "
            f"{sorted(BLIND_BASELINES)} and the registered models {registered} (a model of "
            "your own: --import MODULE_OR_FILE.py)",
            file=sys.stderr,
        )
        return 2
    if args.dataset == "synthetic" and not args.blind_only:
        featureless = [m for m in trained if get_model(m).recognizer is None]
        if featureless:
            print(
                f"error: {featureless} have no recognizer, so no features on the synthetic "
                "videos: register them with recognizer= (e.g. grounding.models.zoo.TWO_STREAM) "
                "or run them on a dataset with --features",
                file=sys.stderr,
            )
            return 2
    profile = replace(profile, models=trained)
    if args.jobs < 1:
        print("error: --jobs must be >= 1", file=sys.stderr)
        return 2
    if args.seeds is not None and args.seeds < 1:
        print("error: --seeds must be >= 1", file=sys.stderr)
        return 2
    if args.rgb_weights is not None:
        if args.dataset != "synthetic" or not args.rgb_weights.is_file():
            print(
                "error: --rgb-weights needs --dataset synthetic and an existing file, got "
                f"{args.dataset} and {args.rgb_weights}",
                file=sys.stderr,
            )
            return 2
        profile = with_rgb_weights(profile, args.rgb_weights)
    if args.dataset == "synthetic":
        data_root: Path | None = args.data_root or default_synthetic_root(profile)
        split = args.split or "test"
    else:
        data_root, split = args.data_root, args.split or default_test_split(args.dataset)
    train_split, train_note = args.train_split or "train", None
    if args.train_split is None and args.dataset in TRAIN_STAND_IN:
        train_split, train_note = TRAIN_STAND_IN[args.dataset]
        if split == train_split and "prior-only" in models:
            print(
                f"error: {args.dataset} has no train split and prior-only is fitted on "
                f"{train_split} by default, which is the test split here: pass --train-split "
                "another split (recorded in the results), test another split, or leave "
                "prior-only out (--models whole-video)",
                file=sys.stderr,
            )
            return 2
    features, feature_type = args.features, args.feature_type
    if features is not None:
        if args.dataset not in FEATURE_DATASETS:
            print(
                f"error: --features is for --dataset charades|activitynet, not {args.dataset}",
                file=sys.stderr,
            )
            return 2
        if not features.exists():
            print(f"error: --features not found: {features}", file=sys.stderr)
            return 2
        from grounding.train.grounding import resolve_feature_type  # the training CLI's rule

        feature_type = resolve_feature_type(features, feature_type, args.dataset)
    config = BenchConfig(
        dataset=args.dataset,
        data_root=data_root,
        split=split,
        train_split=train_split,
        train_note=train_note,
        models=models,
        seeds=_default_seeds(args.seeds, args.dataset, profile),
        protocol=get_protocol(args.protocol),
        out=args.out,
        profile=replace(
            profile,
            models=() if args.blind_only else profile.models,
            ablations=profile.ablations or args.ablations,
        ),
        check=args.check,
        runs=args.runs,
        device=args.device,
        speed=not args.no_speed,
        features=features,
        feature_type=feature_type,
        jobs=args.jobs,
        imports=tuple(args.imports or ()),
    )
    try:
        if args.speed:
            run_speed_only(config)
        else:
            run(config)
    except RegressionFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (
        DatasetNotFound,
        AnnotationError,
        BundledDataError,
        OSError,
        ValueError,
        StageFailed,
    ) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
