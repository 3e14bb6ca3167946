"""Action recognition on HMDB51-style trimmed clips: ``python -m grounding.train recognition``.

Models (``--model``, any registered one with a recognizer, :mod:`grounding.models.registry`;
``--import FILE.py`` registers one of your own): the entry builds the recognizer and says what
it is fed (:mod:`grounding.models.recognizer`):

- ``ours`` (and its ``ours-*`` temporal variants): the paper's two-stream network from pixels
  (sec. 2.1-2.2): RGB frames and 5-field flow stacks sampled TSN-style over ``--segments``
  segments (:class:`grounding.data.action_dataset.ActionClipDataset`), BN-Inception
  (``--size cpu``: width 0.5 trained at 96x96; ``full``: 1.0 at 224x224), spatial attention
  (``--spatial``, ``--no-residual``), temporal module over the segments (``--temporal``,
  ``--heads``), per-stream classifiers with TSN consensus; trained with the sum of the two
  streams' cross-entropies, tested with ``--test-segments`` segments on the weighted fusion of
  their scores (eq. 7, RGB : flow = 1 : 1.5).
- ``gtn`` / ``dgcn``: the baselines in skeleton mode (joint + bone streams) on windows of the
  clips' skeleton arrays (:class:`grounding.data.action_dataset.SkeletonClipDataset`).

Data: ``DIR/actions/<class>/<clip>.mp4`` with ``DIR/actions/splits/<class>_test_split1.txt``
(and ``DIR/actions/skeletons/<class>/<clip>.npz`` for the baselines). Results: test accuracy,
macro recall and macro F1 (``grounding.eval.classification``) in ``RUN_DIR/metrics.json``
(atomic), the checkpoint ``RUN_DIR/checkpoint.pt`` (every epoch, ``--resume``) and a table.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from grounding.data.hmdb import ActionSplit, read_hmdb51_split
from grounding.eval.classification import classification_metrics
from grounding.io import check_input_file, file_digest, write_json_atomic
from grounding.models.checkpoint import load_checkpoint, unwrap
from grounding.models.recognizer import (
    SIZES,
    PretrainedWeights,
    RecognitionConfig,
    RecognitionSettings,
    RecognizerInputs,
    build_recognizer,
    recognizer_spec,
)
from grounding.models.registry import add_import_argument, import_models
from grounding.settings import add_arguments as add_settings_arguments
from grounding.settings import flag
from grounding.settings import from_args as settings_from_args
from grounding.train.distributed import (
    DistContext,
    barrier,
    distributed_session,
    gather_objects,
    shard,
    wrap_model,
)
from grounding.train.loop import (
    build_optimizer,
    build_scheduler,
    fit,
    make_loader,
    peak_memory_mb,
    print_table,
    seed_everything,
)
from grounding.train.paths import RunOptions, RunPaths, check_run_dir, default_cache_dir

#: config fields a fine-tuning run may change from its initial checkpoint (optimisation and
#: sampling; every field that shapes the weights must match)
FINE_TUNE_FIELDS = (
    "segments", "test_segments", "dropout", "epochs", "batch_size", "lr", "weight_decay",
    "warmup_epochs", "seed", "split", "init_sha",
)  # fmt: skip


def load_initial_weights(model: nn.Module, path: Path, config: RecognitionConfig) -> None:
    """Start ``model`` from the weights of recognition checkpoint ``path`` (fine-tuning:
    optimiser, schedule and epoch start afresh). ``ValueError`` naming the file when its
    config differs in a field other than :data:`FINE_TUNE_FIELDS` (architecture, classes,
    input) or its weights do not fit."""
    load_checkpoint(path, model=model, expected_config=config, ignore_fields=FINE_TUNE_FIELDS)


# --------------------------------------------------------------------------------------------
# one step and the predictions


@torch.inference_mode()
def predict_labels(
    model: nn.Module, loader: DataLoader, *, inputs: RecognizerInputs
) -> list[tuple[int, dict[str, int]]]:
    """``(index, {"fused": label, **streams})`` predicted labels of every item."""
    model.eval()
    out = []
    for batch in loader:
        preds = {k: v.cpu().tolist() for k, v in inputs.predict(model, batch).items()}
        for j, index in enumerate(batch["index"].tolist()):
            out.append((index, {k: v[j] for k, v in preds.items()}))
    return out


# --------------------------------------------------------------------------------------------
# data


def read_split(data: Path, *, split: int) -> tuple[ActionSplit, Path]:
    """The HMDB51-style split under ``data/actions`` and the skeleton folder next to it."""
    root = data / "actions"
    split_dir = root / "splits"
    skeletons = root / "skeletons"
    out = read_hmdb51_split(root, split_dir, split=split, exclude=[skeletons])
    if not out.train or not out.test:
        raise ValueError(
            f"{split_dir}: split {split} has {len(out.train)} train and {len(out.test)} test "
            "clips; both are needed"
        )
    return out, skeletons


def make_datasets(
    config: RecognitionConfig, split: ActionSplit, *, skeletons: Path, cache_dir: Path
) -> tuple[Dataset, Dataset]:
    """Train and test datasets of the configured model (as its registry entry feeds it)."""
    inputs = recognizer_spec(config.model).inputs
    return inputs.datasets(config, split, skeletons=skeletons, cache_dir=cache_dir)


# --------------------------------------------------------------------------------------------
# the command


@dataclass(frozen=True)
class RecognitionRun(RunOptions):
    """How a recognition run is carried out (besides :class:`RunOptions`)."""

    workers: int = field(default=1, metadata=flag("data loader processes per rank"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``grounding.train recognition``: the data and run folders, ``--import``,
    and one flag per field of :class:`RecognitionSettings` and :class:`RecognitionRun`."""
    p.add_argument("--data", type=Path, required=True, help="dataset folder (with actions/)")
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, metrics)")
    add_import_argument(p)
    add_settings_arguments(p, RecognitionSettings)
    add_settings_arguments(p, RecognitionRun)


def _weights_digest(weights: PretrainedWeights) -> str | None:
    """The ``--rgb-weights`` file's SHA-256 prefix, checked against ``--rgb-weights-sha``."""
    if weights.rgb_weights is None:
        if weights.rgb_weights_sha is not None:
            raise ValueError("--rgb-weights-sha needs --rgb-weights")
        return None
    digest = file_digest(check_input_file(weights.rgb_weights, "--rgb-weights file"))
    expected = (weights.rgb_weights_sha or "").lower()
    if not digest.startswith(expected[: len(digest)]):
        raise ValueError(f"{weights.rgb_weights}: SHA-256 {digest}, expected {expected}")
    return digest


def recognition_config(settings: RecognitionSettings, classes: Sequence[str]) -> RecognitionConfig:
    """The config of ``settings``: each field from its setting when given, else the model's
    registry default, else the :class:`RecognitionConfig` default."""
    spec = recognizer_spec(settings.model)
    net, clips, optim = settings.net, settings.clips, settings.optim
    width, side = SIZES[net.size]
    optional = {
        "temporal": net.temporal,
        "heads": net.heads,
        "dropout": net.dropout,
        "epochs": optim.epochs,
    }
    init_from = settings.weights.init_from
    config = RecognitionConfig(
        model=settings.model,
        classes=tuple(classes),
        segments=clips.segments,
        test_segments=clips.test_segments,
        input_size=net.input_size or side,
        width_mult=net.width or width,
        spatial_attention=net.spatial,
        spatial_residual=net.residual,
        flow_method=clips.flow_method,
        flow_compensation=clips.flow_compensation,
        rgb_input=clips.rgb_input,
        skeleton_frames=clips.skeleton_frames,
        batch_size=optim.batch_size,
        lr=optim.lr,
        weight_decay=optim.weight_decay,
        seed=optim.seed,
        split=clips.split,
        rgb_weights_sha=_weights_digest(settings.weights),
        init_sha=(
            file_digest(check_input_file(init_from, "--init-from checkpoint"))
            if init_from is not None
            else None
        ),
        **{
            name: value if value is not None else spec.defaults[name]
            for name, value in optional.items()
            if value is not None or name in spec.defaults
        },
    )
    config.validate()
    return config


def config_from_args(args: argparse.Namespace, classes: list[str]) -> RecognitionConfig:
    """The config of the flags (:func:`recognition_config` of their settings)."""
    import_models(getattr(args, "imports", ()))
    return recognition_config(settings_from_args(RecognitionSettings, args), classes)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """``grounding.train recognition``: :func:`train_recognition` of the flags' settings."""
    import_models(args.imports)
    return train_recognition(
        settings_from_args(RecognitionSettings, args),
        data=args.data,
        out=args.out,
        options=settings_from_args(RecognitionRun, args),
    )


def train_recognition(
    settings: RecognitionSettings,
    *,
    data: Path,
    out: Path,
    options: RecognitionRun | None = None,
) -> dict[str, Any]:
    """Train and evaluate a recognizer on the clips under ``data/actions`` into the run folder
    ``out``; returns the metrics record (also written by rank 0)."""
    options = options or RecognitionRun()
    with distributed_session(options.device) as ctx:
        return _run(settings, data=Path(data), out=Path(out), options=options, ctx=ctx)


def _run(
    settings: RecognitionSettings,
    *,
    data: Path,
    out: Path,
    options: RecognitionRun,
    ctx: DistContext,
) -> dict[str, Any]:
    t_all = time.perf_counter()
    paths = RunPaths(out)
    check_run_dir(paths, (paths.checkpoint, paths.metrics), options, ctx)
    split, skeletons = read_split(data, split=settings.clips.split)
    config = recognition_config(settings, split.classes)
    seed_everything(config.seed)
    cache_dir = options.cache_dir or default_cache_dir(data, out)
    train_set, test_set = make_datasets(config, split, skeletons=skeletons, cache_dir=cache_dir)
    inputs = recognizer_spec(config.model).inputs
    t0 = time.perf_counter()
    # e.g. the flow cache: every rank computes its share, then all read it
    clips = [c.path for c in split.train + split.test]
    inputs.prepare(train_set, clips, rank=ctx.rank, world_size=ctx.world_size)
    barrier(ctx)
    prep_seconds = time.perf_counter() - t0

    weights = settings.weights
    model = build_recognizer(config, rgb_weights=weights.rgb_weights)
    if weights.init_from is not None:
        load_initial_weights(model, weights.init_from, config)
    model = wrap_model(model, ctx)
    loader = make_loader(
        train_set,
        batch_size=config.batch_size,
        ctx=ctx,
        shuffle=True,
        seed=config.seed,
        workers=options.workers,
    )
    optimizer = build_optimizer(model, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = build_scheduler(
        optimizer,
        total_steps=config.epochs * len(loader),
        warmup_steps=round(config.warmup_epochs * len(loader)),
    )
    result = fit(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        loader=loader,
        step=inputs.loss,
        epochs=config.epochs,
        ctx=ctx,
        checkpoint=paths.checkpoint,
        config=config,
        seed=config.seed,
        resume=options.resume,
        stop_after=options.stop_after,
        desc=f"recognition[{config.model}]",
    )

    t0 = time.perf_counter()
    mine = Subset(test_set, shard(range(len(test_set)), ctx))
    batch = max(1, config.batch_size)
    test_loader = DataLoader(mine, batch_size=batch, num_workers=options.workers)
    local = predict_labels(unwrap(model), test_loader, inputs=inputs)
    rows = sorted((r for part in gather_objects(local, ctx) for r in part), key=lambda r: r[0])
    eval_seconds = time.perf_counter() - t0
    y = np.array([split.test[i].label for i, _ in rows])
    metrics = {
        name: classification_metrics(y, np.array([r[name] for _, r in rows]), config.num_classes)
        for name in ("fused", *inputs.streams)
    }
    memory = gather_objects(peak_memory_mb(), ctx)
    record = {
        "task": "recognition",
        "model": config.model,
        "data": str(data),
        "split": config.split,
        "n_train": len(split.train),
        "n_test": len(split.test),
        "skipped": dict(split.log.skipped),
        "metrics": metrics["fused"].as_percent(),
        "streams": {k: m.as_percent() for k, m in metrics.items()} if inputs.streams else None,
        "epochs_done": result.epochs_done,
        "finished": result.epochs_done == config.epochs,
        "resumed_from_epoch": result.resumed_from_epoch,
        "history": result.history,
        "seconds": {
            "flow_cache": round(prep_seconds, 1),
            "train": round(result.seconds, 1),
            "eval": round(eval_seconds, 1),
            "total": round(time.perf_counter() - t_all, 1),
        },
        "peak_memory_mb": memory,
        "world_size": ctx.world_size,
        "device": str(ctx.device),
        "config": json.loads(json.dumps(asdict(config))),
    }
    if ctx.is_main:
        write_json_atomic(paths.metrics, record)
        m = record["metrics"]
        table = [[config.model, len(split.test), m["accuracy"], m["recall"], m["f1"]]]
        for name in inputs.streams:
            s = record["streams"][name]
            table.append([f"  {name} stream", len(split.test), *s.values()])
        print_table(table, ["recognition (test)", "clips", "accuracy %", "recall %", "F1 %"])
        status = "finished" if record["finished"] else f"stopped after epoch {result.epochs_done}"
        if record["skipped"]:  # e.g. a missing action clip: said here, not only in metrics.json
            print(f"skipped clips: {split.log.summary()}", flush=True)
        print(
            f"{status}; train {record['seconds']['train']:.1f} s, peak memory "
            f"{max(x['self_mb'] for x in memory):.0f} MiB per process; "
            f"checkpoint {paths.checkpoint}; metrics {paths.metrics}",
            flush=True,
        )
    return record
