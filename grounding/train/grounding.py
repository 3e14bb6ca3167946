"""Temporal grounding on clip features: ``python -m grounding.train grounding``.

Data: a Charades-STA or ActivityNet-Captions split (``grounding.data.datasets.load_split``;
the synthetic dataset's files included) and clip features ``(T, D)`` per video: an HDF5 keyed
by vid (``python -m grounding.extract``, or user I3D/VGG/C3D files) or a folder of
``<vid>.npy`` (``--feature-type i3d|c3d|vgg`` picks the layout). Sentences are embedded by
all-MiniLM-L6-v2 through :class:`grounding.models.text.SentenceCache` (one cache per dataset
in the cache folder).

Model: :class:`grounding.models.grounding_model.GroundingModel`: features resampled to
``--num-clips`` N -> projection -> clip encoder -> 2D moment map head. The encoder is the
only part that differs between ``--model`` values; the registry builds it
(:mod:`grounding.models.registry`; ``--import FILE.py`` registers a model of your own):

- ``ours``: the paper's MHSSA (eqs. 10-14; ``ours-*``: the Table 3 temporal variants);
- ``gtn`` / ``dgcn``: the baselines' blocks in clip-graph mode (the clips are the nodes of a
  temporal chain graph; :func:`baselines.gtn.build_gtn_clip_encoder`,
  :func:`baselines.dgcn.build_dgcn_clip_encoder`).

Training: AdamW (lr 1e-3), scaled-IoU loss (2D-TAN); evaluation on the test split with the
``default`` protocol of :mod:`grounding.eval` (R@{1,5} at IoU {0.3,0.5,0.7}, mIoU), next to
the prior-only blind baseline fit on the same training split. Writes
``RUN_DIR/predictions.jsonl`` (Moment-DETR format), ``RUN_DIR/metrics.json`` and
``RUN_DIR/checkpoint.pt``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from baselines.blind import PriorOnly
from grounding.data.annotations import QuerySet
from grounding.data.datasets import default_test_split, load_split
from grounding.data.features import FEATURE_TYPES, FeatureStore, open_features
from grounding.data.grounding_dataset import GroundingDataset
from grounding.data.moment_detr import write_predictions
from grounding.eval.evaluator import evaluate
from grounding.eval.protocols import get_protocol
from grounding.io import write_json_atomic
from grounding.models.checkpoint import unwrap
from grounding.models.grounding_model import (
    GroundingModel,
    GroundingModelConfig,
    build_grounding_network,
)
from grounding.models.localization import scaled_iou_loss
from grounding.models.registry import add_import_argument, get_model, import_models
from grounding.models.text import Encoder, SentenceCache, TokenCache
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

DATASETS = ("charades", "activitynet")
REPORTED = ("R1@0.3", "R1@0.5", "R1@0.7", "R5@0.5", "R5@0.7", "mIoU")


@dataclass(frozen=True)
class GroundingNet:
    """The grounding network (:class:`GroundingModelConfig` fields and the encoder depth)."""

    num_clips: int = field(default=16, metadata=flag("N clips after resampling"))
    hidden_dim: int = field(default=256, metadata=flag("width of the projection and encoder"))
    heads: int = field(default=4, metadata=flag("attention heads"))
    map_dim: int = field(default=128, metadata=flag("channels of the 2D moment map"))
    head_layers: int = field(default=3, metadata=flag("masked 2D convs of the head"))
    head_kernel: int = field(default=5, metadata=flag("kernel of the head's convs"))
    encoder_layers: int = field(default=2, metadata=flag("gtn/dgcn graph blocks"))
    cross_layers: int = field(
        default=0,
        metadata=flag("word-level cross-attention blocks (clips attend to the sentence's tokens)"),
    )
    dropout: float = field(default=0.1, metadata=flag("dropout"))
    query_fusion: bool = field(
        default=True,
        metadata=flag(
            "condition the clips on the sentence before the temporal encoder (default on)"
        ),
    )
    positional: bool = field(
        default=True, metadata=flag("learned clip-position embedding (default on)")
    )
    cell_prior: bool = field(
        default=False,
        metadata=flag("a learned bias per moment-map cell: the span prior (default off, 2D-TAN)"),
    )


@dataclass(frozen=True)
class GroundingData:
    """The annotations and the layout of the features a grounding run reads."""

    dataset: str = field(default="charades", metadata=flag("annotation format", DATASETS))
    feature_type: str | None = field(
        default=None,
        metadata=flag("layout of --features (default: see resolve_feature_type)", FEATURE_TYPES),
    )
    train_split: str = field(default="train", metadata=flag("training split"))
    test_split: str | None = field(
        default=None, metadata=flag("default: test / val_2 (synthetic val_1)")
    )


@dataclass(frozen=True)
class GroundingOptim:
    """Optimisation of a grounding run (AdamW + cosine schedule, :mod:`grounding.train.loop`)."""

    epochs: int = field(default=20, metadata=flag("epochs"))
    batch_size: int = field(default=32, metadata=flag("global batch"))
    lr: float = field(default=1e-3, metadata=flag("AdamW initial lr (paper: 1e-3)"))
    weight_decay: float = field(default=1e-4, metadata=flag("AdamW weight decay"))
    seed: int = field(default=0, metadata=flag("seed of the weights and the order"))


@dataclass(frozen=True)
class GroundingSettings:
    """What a grounding run is asked for (``grounding.train grounding``'s flags, a profile's
    grounding stage), split by concern; each default is declared here once."""

    model: str = field(default="ours", metadata=flag("a registered model (its clip encoder)"))
    data: GroundingData = field(default_factory=GroundingData)
    net: GroundingNet = field(default_factory=GroundingNet)
    optim: GroundingOptim = field(default_factory=GroundingOptim)

    def for_run(self, model: str, seed: int) -> GroundingSettings:
        """These settings for ``model`` at ``seed``."""
        return replace(self, model=model, optim=replace(self.optim, seed=seed))


@dataclass(frozen=True)
class GroundingTrainConfig:
    """Everything that determines a grounding run (stored flat in its checkpoint), resolved
    from :class:`GroundingSettings` (whose defaults these fields take) and the data read.

    Attributes:
        dataset / train_split / test_split: the annotations.
        feature_type: layout of the features (``i3d``, ``vgg``, ``c3d``).
        in_dim: feature dimension D_in.
        model: a registered model (its clip encoder).
        num_clips .. dropout: :class:`GroundingModelConfig` fields.
        cross_layers: word-level cross-attention blocks before the temporal encoder (the
            clips attend to the sentence's MiniLM token states; 0: pooled sentence only).
        encoder_layers: blocks of a clip encoder that has several (the gtn/dgcn graphs).
        t_min / t_max: scaled-IoU target range (2D-TAN: 0.5 / 1.0).
        nms_thresh / top_k: inference (NMS on the ranked moments, moments kept per query).
        epochs, batch_size (global), lr, weight_decay, warmup_epochs, seed: optimisation.
    """

    dataset: str
    train_split: str
    test_split: str
    feature_type: str
    in_dim: int
    model: str = GroundingSettings.model
    num_clips: int = GroundingNet.num_clips
    hidden_dim: int = GroundingNet.hidden_dim
    heads: int = GroundingNet.heads
    map_dim: int = GroundingNet.map_dim
    head_layers: int = GroundingNet.head_layers
    head_kernel: int = GroundingNet.head_kernel
    pooling: str = "max"
    dropout: float = GroundingNet.dropout
    query_fusion: bool = GroundingNet.query_fusion
    positional: bool = GroundingNet.positional
    cell_prior: bool = GroundingNet.cell_prior
    cross_layers: int = GroundingNet.cross_layers
    encoder_layers: int = GroundingNet.encoder_layers
    t_min: float = 0.5
    t_max: float = 1.0
    nms_thresh: float = 0.5
    top_k: int = 10
    epochs: int = GroundingOptim.epochs
    batch_size: int = GroundingOptim.batch_size
    lr: float = GroundingOptim.lr
    weight_decay: float = GroundingOptim.weight_decay
    warmup_epochs: float = 1.0
    seed: int = GroundingOptim.seed

    def model_config(self) -> GroundingModelConfig:
        return GroundingModelConfig(
            in_dim=self.in_dim,
            num_clips=self.num_clips,
            hidden_dim=self.hidden_dim,
            heads=self.heads,
            map_dim=self.map_dim,
            head_layers=self.head_layers,
            head_kernel=self.head_kernel,
            pooling=self.pooling,
            dropout=self.dropout,
            query_fusion=self.query_fusion,
            positional=self.positional,
            cell_prior=self.cell_prior,
            cross_layers=self.cross_layers,
        )


def build_network(config: GroundingTrainConfig) -> GroundingModel:
    """The grounding network of ``config`` (:func:`build_grounding_network`)."""
    return build_grounding_network(
        model=config.model, config=config.model_config(), layers=config.encoder_layers
    )


def grounding_loss(
    model: nn.Module, batch: dict[str, Any], *, t_min: float, t_max: float
) -> torch.Tensor:
    """Scaled-IoU loss of a batch (2D-TAN)."""
    device = next(model.parameters()).device
    logits = model(
        batch["clips"].to(device), batch["sentence"].to(device), *word_inputs(batch, device)
    )
    return scaled_iou_loss(logits, batch["iou"].to(device), t_min=t_min, t_max=t_max)


def word_inputs(batch: dict[str, Any], device: torch.device) -> tuple[torch.Tensor, ...]:
    """``(words, word_mask)`` of a batch on ``device``, or ``()`` when it has no tokens."""
    if "words" not in batch:
        return ()
    return batch["words"].to(device), batch["word_mask"].to(device)


@torch.inference_mode()
def predict_queries(
    model: nn.Module,
    dataset: GroundingDataset,
    indices: list[int],
    *,
    batch_size: int,
    nms_thresh: float,
    top_k: int,
) -> dict[str, np.ndarray]:
    """``{qid: (K, 3) [start_s, end_s, score]}`` for the dataset items ``indices``."""
    net = unwrap(model)
    device = next(net.parameters()).device
    out: dict[str, np.ndarray] = {}
    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size)
    for batch in loader:
        preds = net.predict(
            batch["clips"].to(device),
            batch["sentence"].to(device),
            batch["duration"].tolist(),
            nms_thresh=nms_thresh,
            top_k=top_k,
            **dict(zip(("words", "word_mask"), word_inputs(batch, device), strict=False)),
        )
        for i, p in zip(batch["index"].tolist(), preds, strict=True):
            out[dataset.query(i).qid] = p
    return out


# --------------------------------------------------------------------------------------------
# data


def resolve_feature_type(path: Path, requested: str | None, dataset: str) -> str:
    """The feature layout: ``requested``; else plain ``f[vid]`` for files written by
    ``grounding.extract`` and folders of ``.npy``; else the dataset's usual features (I3D for
    Charades-STA, C3D for ActivityNet)."""
    if requested is not None:
        if requested not in FEATURE_TYPES:
            raise ValueError(f"unknown feature type {requested!r}; known: {sorted(FEATURE_TYPES)}")
        return requested
    if Path(path).is_dir():
        return "i3d"
    if Path(path).is_file():
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("generator") == "grounding.extract":
                    return "i3d"
        except OSError:
            pass  # open_features names the file with a clear error
    return "i3d" if dataset == "charades" else "c3d"


def resolve_test_split(data: Path, dataset: str, requested: str | None) -> str:
    """``requested``, else the community's test split; the synthetic dataset (which writes
    ActivityNet ``train`` and ``val_1`` only) uses ``val_1`` for ActivityNet."""
    if requested:
        return requested
    manifest = Path(data) / "manifest.json"
    if dataset == "activitynet" and manifest.is_file():
        try:
            if (
                json.loads(manifest.read_text(encoding="utf-8"))
                .get("generator", "")
                .startswith("grounding.synthetic")
            ):
                return "val_1"
        except (OSError, json.JSONDecodeError):
            pass
    return default_test_split(dataset)


def sentence_embeddings(
    cache: SentenceCache | TokenCache, queries: QuerySet, *, progress: bool
) -> np.ndarray | list[np.ndarray]:
    """``(Q, 384)`` embeddings (a :class:`SentenceCache`) or ``Q`` ``(L_k, 384)`` token states
    (a :class:`TokenCache`) of the queries' sentences (empty sentences: error naming the
    qid)."""
    qs = queries.queries
    return cache.get([q.sentence for q in qs], ids=[q.qid for q in qs], progress=progress)


# --------------------------------------------------------------------------------------------
# the command


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``grounding.train grounding``: the annotation, feature and run folders,
    ``--import``, and one flag per field of :class:`GroundingSettings` and
    :class:`RunOptions`."""
    p.add_argument("--data", type=Path, required=True, help="annotation folder")
    p.add_argument("--features", type=Path, required=True, help="HDF5 file or <vid>.npy folder")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    add_import_argument(p)
    add_settings_arguments(p, GroundingSettings)
    add_settings_arguments(p, RunOptions)


def grounding_config(
    settings: GroundingSettings, *, in_dim: int, feature_type: str, test_split: str
) -> GroundingTrainConfig:
    """The config of ``settings`` on features of ``in_dim`` and ``feature_type``."""
    return GroundingTrainConfig(
        dataset=settings.data.dataset,
        train_split=settings.data.train_split,
        test_split=test_split,
        feature_type=feature_type,
        in_dim=in_dim,
        model=settings.model,
        **asdict(settings.net),
        **asdict(settings.optim),
    )


def config_from_args(
    args: argparse.Namespace, *, in_dim: int, feature_type: str, test_split: str
) -> GroundingTrainConfig:
    """The config of the flags (:func:`grounding_config` of their settings)."""
    return grounding_config(
        settings_from_args(GroundingSettings, args),
        in_dim=in_dim,
        feature_type=feature_type,
        test_split=test_split,
    )


def run(args: argparse.Namespace, *, encoder: Encoder | None = None) -> dict[str, Any]:
    """``grounding.train grounding``: :func:`train_grounding` of the flags' settings.
    ``encoder`` replaces the sentence encoder (tests)."""
    import_models(args.imports)
    return train_grounding(
        settings_from_args(GroundingSettings, args),
        data=args.data,
        features=args.features,
        out=args.out,
        options=settings_from_args(RunOptions, args),
        encoder=encoder,
    )


def train_grounding(
    settings: GroundingSettings,
    *,
    data: Path,
    features: Path,
    out: Path,
    options: RunOptions | None = None,
    encoder: Encoder | None = None,
) -> dict[str, Any]:
    """Train and evaluate a grounding model on ``features`` and the annotations in ``data``
    into the run folder ``out``; returns the metrics record (also written by rank 0).
    ``encoder`` replaces the sentence encoder (tests)."""
    options = options or RunOptions()
    run_dir = RunDir(data=Path(data), features=Path(features), out=Path(out), options=options)
    with distributed_session(options.device) as ctx:
        return _run(settings, run_dir, ctx, encoder)


@dataclass(frozen=True)
class RunDir:
    """The inputs and the run folder of a grounding run, and how it is carried out."""

    data: Path
    features: Path
    out: Path
    options: RunOptions


@dataclass
class GroundingInputs:
    """The loaded splits, features and text of a run (``words`` only with cross-attention)."""

    train_q: QuerySet
    test_q: QuerySet
    store: FeatureStore
    feature_type: str
    sentences: tuple[np.ndarray, np.ndarray]
    words: tuple[list[np.ndarray], list[np.ndarray]] | None

    def datasets(self, num_clips: int) -> tuple[GroundingDataset, GroundingDataset]:
        """The train and test :class:`GroundingDataset`."""
        return tuple(  # type: ignore[return-value]
            GroundingDataset(
                qs,
                self.store,
                self.sentences[k],
                num_clips=num_clips,
                words=None if self.words is None else self.words[k],
            )
            for k, qs in enumerate((self.train_q, self.test_q))
        )


def _load_inputs(
    settings: GroundingData,
    run_dir: RunDir,
    ctx: DistContext,
    *,
    words: bool,
    encoder: Encoder | None,
) -> GroundingInputs:
    data, dataset = run_dir.data, settings.dataset
    test_split = resolve_test_split(data, dataset, settings.test_split)
    train_q = load_split(dataset, data, settings.train_split)
    test_q = load_split(dataset, data, test_split)
    for qs in (train_q, test_q):
        if not qs.queries:
            raise ValueError(f"{qs.source}: no usable queries in {qs.dataset}/{qs.split}")
    feature_type = resolve_feature_type(run_dir.features, settings.feature_type, dataset)
    store = open_features(run_dir.features, feature_type=feature_type)
    cache_dir = run_dir.options.cache_dir or default_cache_dir(data, run_dir.out)
    caches: list[SentenceCache | TokenCache] = [
        SentenceCache(cache_dir / f"sentences_{dataset}.npz", encoder=encoder)
    ]
    if words:
        caches.append(TokenCache(cache_dir / f"tokens_{dataset}.npz", encoder=encoder))
    # rank 0 encodes the missing sentences first, the others then read the caches
    text: list[tuple] = []
    for turn in (True, False):
        if ctx.is_main == turn:
            text = [
                tuple(sentence_embeddings(c, qs, progress=ctx.is_main) for qs in (train_q, test_q))
                for c in caches
            ]
        barrier(ctx)
    words = text[1] if len(text) > 1 else None
    return GroundingInputs(train_q, test_q, store, feature_type, text[0], words)


def _run(
    settings: GroundingSettings, run_dir: RunDir, ctx: DistContext, encoder: Encoder | None
) -> dict[str, Any]:
    t_all = time.perf_counter()
    paths = RunPaths(run_dir.out)
    options = run_dir.options
    check_run_dir(paths, (paths.checkpoint, paths.metrics, paths.predictions), options, ctx)
    get_model(settings.model)  # an unknown name is refused before the data is read
    inputs = _load_inputs(
        settings.data, run_dir, ctx, words=settings.net.cross_layers > 0, encoder=encoder
    )
    train_q, test_q, feature_type = inputs.train_q, inputs.test_q, inputs.feature_type
    config = grounding_config(
        settings, in_dim=inputs.store.dim, feature_type=feature_type, test_split=test_q.split
    )
    seed_everything(config.seed)
    train_set, test_set = inputs.datasets(config.num_clips)

    net = build_network(config)
    net.fit_sentence_stats(train_set.sentences[train_set.items])
    model = wrap_model(net, ctx)
    loader = make_loader(
        train_set, batch_size=config.batch_size, ctx=ctx, shuffle=True, seed=config.seed
    )
    optimizer = build_optimizer(model, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = build_scheduler(
        optimizer,
        total_steps=config.epochs * len(loader),
        warmup_steps=round(config.warmup_epochs * len(loader)),
    )

    def describe(batch: dict[str, Any]) -> str:
        qids = [train_set.query(i).qid for i in batch["index"].tolist()]
        more = f" (+{len(qids) - 8} more)" if len(qids) > 8 else ""
        return f"qids {qids[:8]}{more}"

    result = fit(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        loader=loader,
        step=lambda m, b: grounding_loss(m, b, t_min=config.t_min, t_max=config.t_max),
        epochs=config.epochs,
        ctx=ctx,
        checkpoint=paths.checkpoint,
        config=config,
        seed=config.seed,
        resume=options.resume,
        stop_after=options.stop_after,
        describe=describe,
        desc=f"grounding[{config.model}]",
    )

    t0 = time.perf_counter()
    local = predict_queries(
        model,
        test_set,
        shard(range(len(test_set)), ctx),
        batch_size=config.batch_size,
        nms_thresh=config.nms_thresh,
        top_k=config.top_k,
    )
    predictions: dict[str, np.ndarray] = {}
    for part in gather_objects(local, ctx):
        predictions.update(part)
    predictions = {q.qid: predictions[q.qid] for q in test_q.queries if q.qid in predictions}
    protocol = get_protocol("default")
    ours = evaluate(test_q, predictions, protocol)
    prior = PriorOnly().fit(train_q)
    blind = evaluate(test_q, prior.predict(test_q, seed=config.seed), protocol)
    eval_seconds = time.perf_counter() - t0
    memory = gather_objects(peak_memory_mb(), ctx)
    skipped = {
        "train": dict(train_set.log.skipped) | dict(train_q.log.skipped),
        "test": dict(test_set.log.skipped) | dict(test_q.log.skipped),
    }
    record: dict[str, Any] = {
        "task": "grounding",
        "model": config.model,
        "dataset": config.dataset,
        "split": config.test_split,
        "features": str(run_dir.features),
        "feature_type": feature_type,
        "protocol": protocol.name,
        "n_train": len(train_set),
        "n_test": len(test_q.queries),
        "skipped": skipped,
        "metrics": ours.metrics,
        "prior_only": blind.metrics,
        "counts": ours.counts,
        "epochs_done": result.epochs_done,
        "finished": result.epochs_done == config.epochs,
        "resumed_from_epoch": result.resumed_from_epoch,
        "history": result.history,
        "seconds": {
            "train": round(result.seconds, 1),
            "eval": round(eval_seconds, 1),
            "total": round(time.perf_counter() - t_all, 1),
        },
        "peak_memory_mb": memory,
        "world_size": ctx.world_size,
        "device": str(ctx.device),
        "config": json.loads(json.dumps(asdict(config))),
    }
    record = _json_safe(record)
    if ctx.is_main:
        write_predictions(paths.predictions, predictions)
        write_json_atomic(paths.metrics, record)
        rows = [
            [f"{config.model} (trained)", *(ours.metrics[k] for k in REPORTED)],
            ["prior-only (blind)", *(blind.metrics[k] for k in REPORTED)],
        ]
        print_table(rows, [f"{config.dataset}/{config.test_split}", *REPORTED])
        prior_r1 = blind.metrics["R1@0.5"]
        ratio = f"{ours.metrics['R1@0.5'] / prior_r1:.2f}x" if prior_r1 > 0 else "n/a (prior 0)"
        status = "finished" if record["finished"] else f"stopped after epoch {result.epochs_done}"
        skips = {k: v for k, v in skipped.items() if v}
        if skips:
            print(f"skipped queries: {skips}", flush=True)
        print(
            f"{status}; {len(test_q.queries)} test queries, R1@0.5 {ratio} prior-only; "
            f"train {record['seconds']['train']:.1f} s, peak memory "
            f"{max(x['self_mb'] for x in memory):.0f} MiB per process; "
            f"predictions {paths.predictions}; metrics {paths.metrics}",
            flush=True,
        )
    return record


def _json_safe(obj: Any) -> Any:
    """NaN (an empty mAP bucket) -> None, recursively."""
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj
