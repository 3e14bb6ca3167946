"""Action recognition on HMDB51-style trimmed clips: ``python -m grounding.train recognition``.

Models (``--model``):

- ``ours``: the paper's two-stream network from pixels (sec. 2.1-2.2): RGB frames and 5-field
  flow stacks sampled TSN-style over ``--segments`` segments
  (:class:`grounding.data.action_dataset.ActionClipDataset`; flow with the camera translation
  removed, ``--no-flow-compensation`` to keep it), BN-Inception (CPU profile by default: width
  0.5, trained at 96x96), spatial attention module (``--spatial``, ``--no-residual``),
  temporal module over the segments (``--temporal``, ``--heads``), per-stream classifiers with
  TSN consensus; trained with the sum of the two streams' cross-entropies, tested with
  ``--test-segments`` segments on the weighted fusion of their scores (eq. 7, RGB : flow =
  1 : 1.5).
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from baselines.dgcn import build_dgcn
from baselines.gtn import build_gtn
from grounding.data.action_dataset import (
    RGB_INPUTS,
    ActionClipDataset,
    ClipFlowCache,
    FlowSettings,
    SkeletonClipDataset,
    check_rgb_input,
)
from grounding.data.hmdb import ActionSplit, read_hmdb51_split
from grounding.eval.classification import classification_metrics
from grounding.io import check_input_file, file_digest, write_json_atomic
from grounding.models.bninception import CPU_PROFILE, FULL_PROFILE
from grounding.models.checkpoint import load_checkpoint, unwrap
from grounding.models.temporal import TEMPORAL_KINDS
from grounding.models.two_stream import TwoStreamConfig, build_two_stream
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
from grounding.train.paths import RunPaths, check_run_dir, default_cache_dir

MODELS = ("ours", "gtn", "dgcn")
PROFILES = {"cpu": CPU_PROFILE, "full": FULL_PROFILE}
#: training input side per profile: the CPU profile's width (0.5) trains at 96x96 by default,
#: about half the cost of its 128x128 (the bench's default profile goes lower still, 64x64)
TRAIN_INPUT_SIZE = {"cpu": 96, "full": FULL_PROFILE.input_size}


@dataclass(frozen=True)
class RecognitionConfig:
    """Everything that determines a recognition run (stored in its checkpoint).

    Attributes:
        model: ``ours`` (two-stream from pixels), ``gtn`` or ``dgcn`` (skeletons).
        classes: class names; ``classes[label]``.
        segments: TSN segments per clip when training (ours).
        test_segments: segments per test clip (TSN tests with more segments than it trains
            with, 25 in the paper; the class scores are averaged over them).
        input_size: frame side fed to BN-Inception (multiple of 32).
        width_mult: BN-Inception width (CPU profile 0.5, full 1.0).
        temporal / heads: temporal module over the segments (Table 3 ablations).
        spatial_attention / spatial_residual: spatial module variants (Figure 10 ablations).
        flow_length: flow fields per stack (5: 10 channels).
        flow_method / flow_preset / flow_bound: optical flow settings.
        flow_compensation: subtract the camera translation from the flow fields.
        rgb_input: what the RGB stream sees, ``frames`` (the paper) or ``diff`` (TSN's RGB
            difference, :func:`grounding.data.action_dataset.snippet_rgb`).
        fusion_weights: RGB : flow score weights (eq. 7).
        train_window_s: training snippets come from a random window of this many seconds of
            each clip (:class:`~grounding.data.action_dataset.ActionClipDataset` ``window_s``;
            the span of a grounding clip feature); ``None``: the whole clip (TSN).
        dropout: before the classifier(s).
        skeleton_frames: frames per skeleton window (gtn/dgcn).
        epochs, batch_size (global), lr, weight_decay, warmup_epochs, seed: optimisation.
        split: HMDB51 split number.
        rgb_weights_sha: SHA-256 prefix of the BN-Inception state dict (e.g. ImageNet) both
            backbones started from (``--rgb-weights``; the flow conv1 by eq. 6); ``None``:
            from scratch. Partial BN is on exactly when it is set.
        init_sha: SHA-256 prefix of the recognition checkpoint the whole model started from
            (``--init-from``, fine-tuning; :func:`load_initial_weights`); ``None``: not one.
    """

    model: str
    classes: tuple[str, ...]
    segments: int = 3
    test_segments: int = 7
    input_size: int = 128
    width_mult: float = 0.5
    temporal: str = "mhssa"
    heads: int = 2
    spatial_attention: str = "sigmoid"
    spatial_residual: bool = True
    flow_length: int = 5
    flow_method: str = "dis"
    flow_preset: str = "medium"
    flow_bound: float = 20.0
    flow_compensation: bool = False
    rgb_input: str = "frames"
    fusion_weights: tuple[float, float] = (1.0, 1.5)
    train_window_s: float | None = None
    dropout: float = 0.5
    skeleton_frames: int = 32
    epochs: int = 12
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.5
    seed: int = 0
    split: int = 1
    rgb_weights_sha: str | None = None
    init_sha: str | None = None

    @property
    def pixels(self) -> bool:
        return self.model == "ours"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def flow_settings(self) -> FlowSettings:
        return FlowSettings(self.flow_method, self.flow_preset, self.flow_bound)

    def validate(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {MODELS}")
        if self.num_classes < 2:
            raise ValueError(f"recognition needs at least 2 classes, got {list(self.classes)}")
        if self.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {self.input_size}")
        check_rgb_input(self.rgb_input)
        if self.train_window_s is not None and not self.train_window_s > 0:
            raise ValueError(f"train_window_s must be > 0 seconds, got {self.train_window_s}")
        if self.temporal not in TEMPORAL_KINDS:
            raise ValueError(f"unknown temporal module {self.temporal!r}: {TEMPORAL_KINDS}")
        if (
            min(
                self.epochs,
                self.batch_size,
                self.segments,
                self.test_segments,
                self.skeleton_frames,
            )
            < 1
        ):
            raise ValueError(
                "epochs, batch_size, segments, test_segments and skeleton_frames must be >= 1"
            )


def config_from_dict(data: dict[str, Any]) -> RecognitionConfig:
    """Inverse of ``config_to_dict`` (lists back to tuples)."""
    data = dict(data)
    data["classes"] = tuple(data["classes"])
    data["fusion_weights"] = tuple(data["fusion_weights"])
    return RecognitionConfig(**data)


def build_recognizer(config: RecognitionConfig, *, rgb_weights: Path | None = None) -> nn.Module:
    """The model of ``config``: a two-stream network (``forward(rgb, flow) ->
    TwoStreamOutput``) or a GTN / DGCN joint+bone recognizer (``forward(x (N, 3, T, 17, 1)) ->
    (N, K)``).

    ``rgb_weights``: the BN-Inception state dict to start from; its digest must be
    ``config.rgb_weights_sha``. Without it a pretrained config builds the same architecture
    (Partial BN on) for loading a trained checkpoint."""
    config.validate()
    if rgb_weights is not None:
        if not config.pixels:
            raise ValueError(f"--rgb-weights is for the two-stream model, not {config.model}")
        digest = file_digest(rgb_weights)
        if digest != config.rgb_weights_sha:
            raise ValueError(
                f"{rgb_weights}: SHA-256 {digest} is not the config's weights "
                f"{config.rgb_weights_sha}"
            )
    if config.pixels:
        return build_two_stream(
            rgb_weights=rgb_weights,
            config=TwoStreamConfig(
                num_classes=config.num_classes,
                width_mult=config.width_mult,
                flow_stack=config.flow_length,
                spatial_attention=config.spatial_attention,
                spatial_residual=config.spatial_residual,
                temporal=config.temporal,
                heads=config.heads,
                dropout=config.dropout,
                fusion_weights=config.fusion_weights,
                partial_bn=config.rgb_weights_sha is not None,
            ),
        )
    builder = build_gtn if config.model == "gtn" else build_dgcn
    return builder(num_classes=config.num_classes, num_persons=1, dropout=config.dropout)


#: config fields a fine-tuning run may change from its initial checkpoint (optimisation and
#: sampling; every field that shapes the weights must match)
FINE_TUNE_FIELDS = (
    "segments", "test_segments", "dropout", "epochs", "batch_size", "lr", "weight_decay",
    "warmup_epochs", "seed", "split", "init_sha", "train_window_s",
)  # fmt: skip


def load_initial_weights(model: nn.Module, path: Path, config: RecognitionConfig) -> None:
    """Start ``model`` from the weights of recognition checkpoint ``path`` (fine-tuning:
    optimiser, schedule and epoch start afresh). ``ValueError`` naming the file when its
    config differs in a field other than :data:`FINE_TUNE_FIELDS` (architecture, classes,
    input) or its weights do not fit."""
    load_checkpoint(path, model=model, expected_config=config, ignore_fields=FINE_TUNE_FIELDS)


# --------------------------------------------------------------------------------------------
# one step and the predictions


def recognition_loss(model: nn.Module, batch: dict[str, Any], *, pixels: bool) -> torch.Tensor:
    """Mean cross-entropy of a batch (two-stream: the sum of both streams' losses)."""
    device = next(model.parameters()).device
    y = batch["label"].to(device)
    if pixels:
        out = model(batch["rgb"].to(device), batch["flow"].to(device))
        return F.cross_entropy(out.rgb, y) + F.cross_entropy(out.flow, y)
    return F.cross_entropy(model(batch["skeleton"].to(device)), y)


@torch.no_grad()
def predict_labels(
    model: nn.Module, loader: DataLoader, *, pixels: bool, device: torch.device
) -> list[tuple[int, int, int, int]]:
    """``(index, fused, rgb, flow)`` predicted labels (rgb/flow = fused for skeletons)."""
    model.eval()
    out = []
    for batch in loader:
        if pixels:
            o = model(batch["rgb"].to(device), batch["flow"].to(device))
            preds = [o.fused.argmax(1), o.rgb.argmax(1), o.flow.argmax(1)]
        else:
            fused = model(batch["skeleton"].to(device)).argmax(1)
            preds = [fused, fused, fused]
        rows = zip(batch["index"].tolist(), *(p.cpu().tolist() for p in preds), strict=True)
        out.extend(rows)
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
    """Train and test datasets of the configured model."""
    if config.pixels:
        cache = ClipFlowCache(
            cache_dir / "flow", settings=config.flow_settings(), min_fields=config.flow_length
        )
        common = {
            "flow_cache": cache,
            "seed": config.seed,
            "input_size": config.input_size,
            "flow_length": config.flow_length,
            "compensate": config.flow_compensation,
            "rgb_input": config.rgb_input,
        }
        return (
            ActionClipDataset(
                split.train,
                train=True,
                segments=config.segments,
                window_s=config.train_window_s,
                **common,
            ),
            ActionClipDataset(split.test, train=False, segments=config.test_segments, **common),
        )
    common = {"skeleton_root": skeletons, "frames": config.skeleton_frames, "seed": config.seed}
    return (
        SkeletonClipDataset(split.train, train=True, **common),
        SkeletonClipDataset(split.test, train=False, **common),
    )


# --------------------------------------------------------------------------------------------
# the command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="dataset folder (with actions/)")
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, metrics)")
    p.add_argument("--model", choices=MODELS, default="ours")
    p.add_argument("--temporal", choices=TEMPORAL_KINDS, default="mhssa")
    p.add_argument("--heads", type=int, default=2, help="attention heads (default 2)")
    p.add_argument("--spatial", choices=("sigmoid", "softmax"), default="sigmoid")
    p.add_argument("--no-residual", action="store_true", help="spatial attention without h=f+x")
    p.add_argument("--segments", type=int, default=3, help="TSN segments per clip (default 3)")
    p.add_argument("--test-segments", type=int, default=7, help="segments per test clip")
    p.add_argument("--profile", choices=tuple(PROFILES), default="cpu", help="BN-Inception size")
    p.add_argument("--width", type=float, default=None, help="override the profile's width")
    p.add_argument(
        "--input-size", type=int, default=None, help="input side (default: cpu 96, full 224)"
    )
    p.add_argument("--skeleton-frames", type=int, default=32, help="gtn/dgcn window frames")
    p.add_argument("--epochs", type=int, default=None, help="default: 12 ours, 10 gtn/dgcn")
    p.add_argument("--batch-size", type=int, default=16, help="global batch (default 16)")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW initial lr (paper: 1e-3)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--dropout", type=float, default=None, help="default: 0.5 ours, 0.1 gtn/dgcn")
    p.add_argument("--flow-method", choices=("dis", "farneback", "tvl1"), default="dis")
    p.add_argument(
        "--flow-compensation",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="subtract the camera translation from the flow fields (default on)",
    )
    p.add_argument(
        "--rgb-input",
        choices=RGB_INPUTS,
        default="frames",
        help="RGB stream input: frames (the paper) or diff (TSN's RGB difference, frame t - "
        "frame t-2; ignores static backgrounds)",
    )
    p.add_argument(
        "--train-window",
        type=float,
        default=None,
        metavar="SECONDS",
        help="ours: sample each training clip's snippets inside a random window of this many "
        "seconds (the span of a grounding clip feature); default the whole clip",
    )
    p.add_argument("--split", type=int, default=1, help="HMDB51 split number (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue RUN_DIR/checkpoint.pt")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the checkpoint and metrics of an earlier run in --out",
    )
    p.add_argument("--stop-after", type=int, default=None, help="stop after N epochs (resumable)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda:0")
    p.add_argument("--workers", type=int, default=1, help="data loader processes per rank")
    p.add_argument("--cache-dir", type=Path, default=None, help="flow cache (default DIR/.cache)")
    p.add_argument(
        "--rgb-weights",
        type=Path,
        default=None,
        help="BN-Inception state dict (.pth/.pt, weights only, or .safetensors; e.g. ImageNet) "
        "both streams start from; turns Partial BN on",
    )
    p.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="recognition checkpoint whose weights the model starts from (fine-tuning; same "
        "architecture, classes and input)",
    )
    p.add_argument(
        "--rgb-weights-sha",
        default=None,
        help="refuse --rgb-weights unless its SHA-256 starts with this hex prefix",
    )


def _weights_digest(args: argparse.Namespace) -> str | None:
    """The ``--rgb-weights`` file's SHA-256 prefix, checked against ``--rgb-weights-sha``."""
    if args.rgb_weights is None:
        if args.rgb_weights_sha is not None:
            raise ValueError("--rgb-weights-sha needs --rgb-weights")
        return None
    if args.model != "ours":
        raise ValueError(f"--rgb-weights is for --model ours (BN-Inception), not {args.model}")
    digest = file_digest(check_input_file(args.rgb_weights, "--rgb-weights file"))
    expected = (args.rgb_weights_sha or "").lower()
    if not digest.startswith(expected[: len(digest)]):
        raise ValueError(f"{args.rgb_weights}: SHA-256 {digest}, expected {expected}")
    return digest


def config_from_args(args: argparse.Namespace, classes: list[str]) -> RecognitionConfig:
    profile = PROFILES[args.profile]
    graph = args.model != "ours"
    config = RecognitionConfig(
        model=args.model,
        classes=tuple(classes),
        segments=args.segments,
        test_segments=args.test_segments,
        input_size=args.input_size or TRAIN_INPUT_SIZE[args.profile],
        width_mult=args.width or profile.width_mult,
        temporal=args.temporal,
        heads=args.heads,
        spatial_attention=args.spatial,
        spatial_residual=not args.no_residual,
        flow_method=args.flow_method,
        flow_compensation=args.flow_compensation,
        rgb_input=args.rgb_input,
        train_window_s=args.train_window,
        dropout=args.dropout if args.dropout is not None else (0.1 if graph else 0.5),
        skeleton_frames=args.skeleton_frames,
        epochs=args.epochs or (10 if graph else 12),
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        seed=args.seed,
        split=args.split,
        rgb_weights_sha=_weights_digest(args),
        init_sha=(
            file_digest(check_input_file(args.init_from, "--init-from checkpoint"))
            if args.init_from is not None
            else None
        ),
    )
    config.validate()
    return config


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train and evaluate; returns the metrics record (also written by rank 0)."""
    with distributed_session(args.device) as ctx:
        return _run(args, ctx)


def _run(args: argparse.Namespace, ctx: DistContext) -> dict[str, Any]:
    t_all = time.perf_counter()
    paths = RunPaths(args.out)
    check_run_dir(paths, (paths.checkpoint, paths.metrics), args, ctx)
    split, skeletons = read_split(args.data, split=args.split)
    config = config_from_args(args, split.classes)
    seed_everything(config.seed)
    cache_dir = args.cache_dir or default_cache_dir(args.data, args.out)
    train_set, test_set = make_datasets(config, split, skeletons=skeletons, cache_dir=cache_dir)
    t0 = time.perf_counter()
    if config.pixels:  # every rank computes its share of the flow cache, then all read it
        clips = [c.path for c in split.train + split.test]
        train_set.flow_cache.prepare(
            clips, rank=ctx.rank, world_size=ctx.world_size, progress=ctx.is_main
        )
        barrier(ctx)
    prep_seconds = time.perf_counter() - t0

    model = build_recognizer(config, rgb_weights=args.rgb_weights)
    if args.init_from is not None:
        load_initial_weights(model, args.init_from, config)
    model = wrap_model(model, ctx)
    loader = make_loader(
        train_set,
        batch_size=config.batch_size,
        ctx=ctx,
        shuffle=True,
        seed=config.seed,
        workers=args.workers,
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
        step=lambda m, b: recognition_loss(m, b, pixels=config.pixels),
        epochs=config.epochs,
        ctx=ctx,
        checkpoint=paths.checkpoint,
        config=config,
        seed=config.seed,
        resume=args.resume,
        stop_after=args.stop_after,
        desc=f"recognition[{config.model}]",
    )

    t0 = time.perf_counter()
    mine = Subset(test_set, shard(range(len(test_set)), ctx))
    test_loader = DataLoader(mine, batch_size=max(1, config.batch_size), num_workers=args.workers)
    local = predict_labels(unwrap(model), test_loader, pixels=config.pixels, device=ctx.device)
    rows = sorted(r for part in gather_objects(local, ctx) for r in part)
    eval_seconds = time.perf_counter() - t0
    y = np.array([split.test[i].label for i, *_ in rows])
    metrics = {
        name: classification_metrics(y, np.array([r[k] for r in rows]), config.num_classes)
        for k, name in ((1, "fused"), (2, "rgb"), (3, "flow"))
    }
    memory = gather_objects(peak_memory_mb(), ctx)
    record = {
        "task": "recognition",
        "model": config.model,
        "data": str(args.data),
        "split": config.split,
        "n_train": len(split.train),
        "n_test": len(split.test),
        "skipped": dict(split.log.skipped),
        "metrics": metrics["fused"].as_percent(),
        "streams": {k: m.as_percent() for k, m in metrics.items()} if config.pixels else None,
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
        if config.pixels:
            for name in ("rgb", "flow"):
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
