"""Action recognizers of the registered models: their config, how they are fed, how built.

- :class:`RecognitionSettings`: what a recognition run is asked for, split by concern:
  :class:`RecognizerNet` (architecture), :class:`ClipSampling` (data: sampling, flow, split),
  :class:`RecognitionOptim` (optimisation) and :class:`PretrainedWeights`; each default is
  declared once, in these classes (the flags of ``grounding.train recognition`` are generated
  from them, :mod:`grounding.settings`); ``None`` fields take the model's registry default.
- :class:`RecognitionConfig`: everything that determines a recognizer, resolved from the
  settings (stored flat in its checkpoint); ``model`` names a registry entry
  (:mod:`grounding.models.registry`).
- :class:`RecognizerSpec`: a registry entry's recognizer: the builder, its inputs, the config
  defaults it changes and the kind of grounding features made from it.
- :class:`PixelClips` / :class:`SkeletonClips`: what a recognizer is fed (datasets, loss,
  predictions, a timing input), one object per input kind, passed in by the entry::

      PixelClips      rgb (B, S, 3, H, W) + flow (B, S, 2L, H, W) uint8 TSN snippets
                      -> TwoStreamOutput (fused, rgb, flow logits (B, A))
      SkeletonClips   skeleton windows (B, 3, T, 17, 1) -> logits (B, A)

- :func:`build_recognizer`: the recognizer of a config, through its registry entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from grounding.data.action_dataset import (
    RGB_INPUTS,
    ActionClipDataset,
    FlowSettings,
    SkeletonClipDataset,
    check_rgb_input,
)
from grounding.data.hmdb import ActionSplit
from grounding.data.input_cache import ClipInputCache
from grounding.io import file_digest
from grounding.models.bninception import CPU_PROFILE, FULL_PROFILE
from grounding.models.registry import FeatureKind, get_model
from grounding.models.temporal import TEMPORAL_KINDS
from grounding.settings import flag

__all__ = [
    "PIXEL_CLIPS",
    "SIZES",
    "SKELETON_CLIPS",
    "ClipSampling",
    "PixelClips",
    "PretrainedWeights",
    "RecognitionConfig",
    "RecognitionOptim",
    "RecognitionSettings",
    "RecognizerInputs",
    "RecognizerNet",
    "RecognizerSpec",
    "SkeletonClips",
    "build_recognizer",
    "config_from_dict",
    "recognizer_spec",
    "skeleton_spec",
]


#: BN-Inception sizes (``--size``): width and training input side (the CPU size's width 0.5
#: trains at 96x96, about half the cost of its 128x128)
SIZES = {"cpu": (CPU_PROFILE.width_mult, 96), "full": (FULL_PROFILE.width_mult, 224)}


@dataclass(frozen=True)
class RecognizerNet:
    """A recognizer's architecture (``None``: the model's registry default, else
    :class:`RecognitionConfig`'s)."""

    temporal: str | None = field(
        default=None, metadata=flag("default: the model's (mhssa)", TEMPORAL_KINDS)
    )
    heads: int | None = field(default=None, metadata=flag("attention heads (default 2)"))
    spatial: str = field(
        default="sigmoid", metadata=flag("spatial attention", ("sigmoid", "softmax"))
    )
    residual: bool = field(
        default=True, metadata=flag("spatial attention with h=f+x (--no-residual: without)")
    )
    size: str = field(
        default="cpu",
        metadata=flag("BN-Inception size: cpu (width 0.5, 96 px) or full (1.0, 224 px)", SIZES),
    )
    width: float | None = field(default=None, metadata=flag("override the size's width"))
    input_size: int | None = field(default=None, metadata=flag("override the size's input side"))
    dropout: float | None = field(
        default=None, metadata=flag("default: the model's (0.5; gtn 0.1)")
    )


@dataclass(frozen=True)
class ClipSampling:
    """What a recognizer is fed: TSN sampling, optical flow, RGB input, skeleton windows and
    the HMDB51 split."""

    segments: int = field(default=3, metadata=flag("TSN segments per clip (default 3)"))
    test_segments: int = field(default=7, metadata=flag("segments per test clip"))
    skeleton_frames: int = field(default=32, metadata=flag("skeleton window frames"))
    flow_method: str = field(
        default="dis", metadata=flag("optical flow method", ("dis", "farneback", "tvl1"))
    )
    flow_compensation: bool = field(
        default=True,
        metadata=flag("subtract the camera translation from the flow fields (default on)"),
    )
    rgb_input: str = field(
        default="frames",
        metadata=flag(
            "RGB stream input: frames (the paper) or diff (TSN's RGB difference, frame t - frame "
            "t-2; ignores static backgrounds)",
            RGB_INPUTS,
        ),
    )
    split: int = field(default=1, metadata=flag("HMDB51 split number (default 1)"))


@dataclass(frozen=True)
class RecognitionOptim:
    """Optimisation of a recognition run (AdamW + cosine schedule, :mod:`grounding.train.loop`)."""

    epochs: int | None = field(default=None, metadata=flag("default: the model's (12; gtn 10)"))
    batch_size: int = field(default=16, metadata=flag("global batch (default 16)"))
    lr: float = field(default=1e-3, metadata=flag("AdamW initial lr (paper: 1e-3)"))
    weight_decay: float = field(default=1e-4, metadata=flag("AdamW weight decay"))
    seed: int = field(default=0, metadata=flag("seed of the weights, sampling and order"))


@dataclass(frozen=True)
class PretrainedWeights:
    """Weights a recognizer starts from (none: from scratch)."""

    rgb_weights: Path | None = field(
        default=None,
        metadata=flag(
            "BN-Inception state dict (.pth/.pt, weights only, or .safetensors; e.g. ImageNet) both "
            "streams start from; turns Partial BN on"
        ),
    )
    rgb_weights_sha: str | None = field(
        default=None,
        metadata=flag("refuse --rgb-weights unless its SHA-256 starts with this hex prefix"),
    )
    init_from: Path | None = field(
        default=None,
        metadata=flag(
            "recognition checkpoint whose weights the model starts from (fine-tuning; same "
            "architecture, classes and input)"
        ),
    )


@dataclass(frozen=True)
class RecognitionSettings:
    """What a recognition run is asked for (``grounding.train recognition``'s flags, a
    profile's recognition stage); resolved into a :class:`RecognitionConfig` once the classes
    are read (:func:`grounding.train.recognition.recognition_config`)."""

    model: str = field(default="ours", metadata=flag("a registered model with a recognizer"))
    net: RecognizerNet = field(default_factory=RecognizerNet)
    clips: ClipSampling = field(default_factory=ClipSampling)
    optim: RecognitionOptim = field(default_factory=RecognitionOptim)
    weights: PretrainedWeights = field(default_factory=PretrainedWeights)

    def for_run(self, model: str, seed: int) -> RecognitionSettings:
        """These settings for ``model`` at ``seed``."""
        return replace(self, model=model, optim=replace(self.optim, seed=seed))


@dataclass(frozen=True)
class RecognitionConfig:
    """Everything that determines a recognition run (stored flat in its checkpoint), resolved
    from :class:`RecognitionSettings`; the defaults of the fields the settings carry are theirs.

    Attributes:
        model: a registered model with a recognizer (``ours``, ``gtn``, ``dgcn``, ...).
        classes: class names; ``classes[label]``.
        segments: TSN segments per clip when training (two-stream).
        test_segments: segments per test clip (TSN tests with more segments than it trains
            with, 25 in the paper; the class scores are averaged over them).
        input_size: frame side fed to BN-Inception (multiple of 32).
        width_mult: BN-Inception width (CPU size 0.5, full 1.0).
        temporal / heads: temporal module over the segments (Table 3 ablations).
        spatial_attention / spatial_residual: spatial module variants (Figure 10 ablations).
        flow_length: flow fields per stack (5: 10 channels).
        flow_method / flow_preset / flow_bound: optical flow settings.
        flow_compensation: subtract the camera translation from the flow fields.
        rgb_input: what the RGB stream sees, ``frames`` (the paper) or ``diff`` (TSN's RGB
            difference, :func:`grounding.data.action_dataset.snippet_rgb`).
        fusion_weights: RGB : flow score weights (eq. 7).
        dropout: before the classifier(s).
        skeleton_frames: frames per skeleton window (skeleton models).
        epochs, batch_size (global), lr, weight_decay, warmup_epochs, seed: optimisation.
        split: HMDB51 split number.
        rgb_weights_sha: SHA-256 prefix of the BN-Inception state dict (e.g. ImageNet) both
            backbones started from (``--rgb-weights``; the flow conv1 by eq. 6); ``None``:
            from scratch. Partial BN is on exactly when it is set.
        init_sha: SHA-256 prefix of the recognition checkpoint the whole model started from
            (``--init-from``, fine-tuning); ``None``: not one.
    """

    model: str
    classes: tuple[str, ...]
    segments: int = ClipSampling.segments
    test_segments: int = ClipSampling.test_segments
    input_size: int = CPU_PROFILE.input_size
    width_mult: float = CPU_PROFILE.width_mult
    temporal: str = "mhssa"
    heads: int = 2
    spatial_attention: str = RecognizerNet.spatial
    spatial_residual: bool = RecognizerNet.residual
    flow_length: int = 5
    flow_method: str = ClipSampling.flow_method
    flow_preset: str = "medium"
    flow_bound: float = 20.0
    flow_compensation: bool = ClipSampling.flow_compensation
    rgb_input: str = ClipSampling.rgb_input
    fusion_weights: tuple[float, float] = (1.0, 1.5)
    dropout: float = 0.5
    skeleton_frames: int = ClipSampling.skeleton_frames
    epochs: int = 12
    batch_size: int = RecognitionOptim.batch_size
    lr: float = RecognitionOptim.lr
    weight_decay: float = RecognitionOptim.weight_decay
    warmup_epochs: float = 0.5
    seed: int = RecognitionOptim.seed
    split: int = ClipSampling.split
    rgb_weights_sha: str | None = None
    init_sha: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def flow_settings(self) -> FlowSettings:
        return FlowSettings(self.flow_method, self.flow_preset, self.flow_bound)

    def validate(self) -> None:
        recognizer_spec(self.model)
        if self.num_classes < 2:
            raise ValueError(f"recognition needs at least 2 classes, got {list(self.classes)}")
        if self.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {self.input_size}")
        check_rgb_input(self.rgb_input)
        if self.temporal not in TEMPORAL_KINDS:
            raise ValueError(f"unknown temporal module {self.temporal!r}: {TEMPORAL_KINDS}")
        counts = (self.epochs, self.batch_size, self.segments, self.test_segments)
        if min(*counts, self.skeleton_frames) < 1:
            raise ValueError(
                "epochs, batch_size, segments, test_segments and skeleton_frames must be >= 1"
            )


#: fields earlier versions stored, with the only value they may hold to be read now
#: (``train_window_s``: removed, measured not to help)
_RETIRED = {"train_window_s": None}
#: fields files of earlier versions may lack, with the value those versions used
_ABSENT = {"flow_compensation": False}


def config_from_dict(data: Mapping[str, Any]) -> RecognitionConfig:
    """Inverse of ``dataclasses.asdict`` (lists back to tuples; retired fields at their
    neutral value dropped)."""
    data = dict(data)
    for name, neutral in _RETIRED.items():
        if name in data and data[name] == neutral:
            del data[name]
    data = _ABSENT | data
    data["classes"] = tuple(data["classes"])
    data["fusion_weights"] = tuple(data["fusion_weights"])
    return RecognitionConfig(**data)


# --------------------------------------------------------------------------------------------
# what a recognizer is fed


class RecognizerInputs(Protocol):
    """How a kind of recognizer is fed: training data, loss, predictions and a timing input.

    ``streams``: the per-stream predictions besides the fused one (``()`` when single)."""

    streams: tuple[str, ...]

    def datasets(
        self, config: RecognitionConfig, split: ActionSplit, *, skeletons: Path, cache_dir: Path
    ) -> tuple[Dataset, Dataset]: ...

    def prepare(self, dataset: Dataset, clips: list[Path], *, rank: int, world_size: int) -> int:
        """Precompute what the datasets read (e.g. the input cache), this rank's share;
        returns how many clips it computed (0: all there)."""

    def loss(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor: ...

    def predict(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """``{"fused": (B,), **streams}`` predicted labels."""

    def example(self, config: RecognitionConfig, n: int, *, seed: int) -> tuple[torch.Tensor, ...]:
        """A deterministic input batch of ``n`` clips (speed)."""

    def frames(self, config: RecognitionConfig) -> tuple[int, str]:
        """Input frames one clip feeds the model, and what they are."""


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@dataclass(frozen=True)
class PixelClips:
    """TSN snippets of RGB + optical flow (:class:`ActionClipDataset`) for a two-stream
    network: ``rgb (B, S, 3, H, W), flow (B, S, 2L, H, W)`` uint8 -> ``TwoStreamOutput``."""

    streams: tuple[str, ...] = ("rgb", "flow")

    def datasets(
        self, config: RecognitionConfig, split: ActionSplit, *, skeletons: Path, cache_dir: Path
    ) -> tuple[Dataset, Dataset]:
        cache = ClipInputCache(
            cache_dir / "inputs",
            settings=config.flow_settings(),
            min_fields=config.flow_length,
            compensate=config.flow_compensation,
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
            ActionClipDataset(split.train, train=True, segments=config.segments, **common),
            ActionClipDataset(split.test, train=False, segments=config.test_segments, **common),
        )

    def prepare(self, dataset: Dataset, clips: list[Path], *, rank: int, world_size: int) -> int:
        cache: ClipInputCache = dataset.flow_cache  # type: ignore[attr-defined]
        built = cache.prepare(clips, rank=rank, world_size=world_size, progress=rank == 0)
        if built and rank == 0:
            print(f"input cache {cache.folder}: {cache.disk_bytes() / 2**20:.0f} MiB on disk")
        return built

    def _forward(self, model: nn.Module, batch: dict[str, Any]) -> Any:
        dev = _device(model)
        return model(batch["rgb"].to(dev), batch["flow"].to(dev))

    def loss(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        out, y = self._forward(model, batch), batch["label"].to(_device(model))
        return F.cross_entropy(out.rgb, y) + F.cross_entropy(out.flow, y)

    def predict(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        out = self._forward(model, batch)
        return {"fused": out.fused.argmax(1), "rgb": out.rgb.argmax(1), "flow": out.flow.argmax(1)}

    def example(self, config: RecognitionConfig, n: int, *, seed: int) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        side, shape = config.input_size, (n, config.segments)
        rgb = torch.randint(0, 256, (*shape, 3, side, side), generator=g)
        flow = torch.randint(0, 256, (*shape, 2 * config.flow_length, side, side), generator=g)
        return rgb.to(torch.uint8), flow.to(torch.uint8)

    def frames(self, config: RecognitionConfig) -> tuple[int, str]:
        s, length = config.segments, config.flow_length
        return s * (1 + length), f"{s} x (1 RGB frame + {length} flow fields)"


@dataclass(frozen=True)
class SkeletonClips:
    """Windows of one person's COCO-17 skeleton (:class:`SkeletonClipDataset`):
    ``(B, 3, T, 17, 1) -> logits (B, A)``."""

    streams: tuple[str, ...] = ()
    joints: int = 17

    def datasets(
        self, config: RecognitionConfig, split: ActionSplit, *, skeletons: Path, cache_dir: Path
    ) -> tuple[Dataset, Dataset]:
        common = {"skeleton_root": skeletons, "frames": config.skeleton_frames, "seed": config.seed}
        return (
            SkeletonClipDataset(split.train, train=True, **common),
            SkeletonClipDataset(split.test, train=False, **common),
        )

    def prepare(self, dataset: Dataset, clips: list[Path], *, rank: int, world_size: int) -> int:
        return 0

    def loss(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        dev = _device(model)
        return F.cross_entropy(model(batch["skeleton"].to(dev)), batch["label"].to(dev))

    def predict(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"fused": model(batch["skeleton"].to(_device(model))).argmax(1)}

    def example(self, config: RecognitionConfig, n: int, *, seed: int) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        return (torch.randn(n, 3, config.skeleton_frames, self.joints, 1, generator=g),)

    def frames(self, config: RecognitionConfig) -> tuple[int, str]:
        t = config.skeleton_frames
        return t, f"{t} skeleton frames of {self.joints} joints x 1 person(s)"


PIXEL_CLIPS = PixelClips()
SKELETON_CLIPS = SkeletonClips()


class RecognizerBuilder(Protocol):
    """``(*, config, rgb_weights) -> nn.Module`` (``rgb_weights``: a verified BN-Inception
    state dict to start from, or ``None``)."""

    def __call__(self, *, config: RecognitionConfig, rgb_weights: Path | None) -> nn.Module: ...


@dataclass(frozen=True)
class RecognizerSpec:
    """A registry entry's recognizer.

    Attributes:
        build: the builder (:class:`RecognizerBuilder`).
        inputs: what it is fed (:data:`PIXEL_CLIPS`, :data:`SKELETON_CLIPS`).
        features: how its grounding clip features are made.
        defaults: :class:`RecognitionConfig` fields this model starts from instead of the
            class defaults (command-line flags still override them).
    """

    build: RecognizerBuilder
    inputs: RecognizerInputs
    features: FeatureKind
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known = {f.name for f in fields(RecognitionConfig)}
        unknown = sorted(set(self.defaults) - known)
        if unknown:
            raise ValueError(f"unknown RecognitionConfig fields in defaults: {unknown}")


def recognizer_spec(model: str) -> RecognizerSpec:
    """The recognizer of registered model ``model``; ``ValueError`` when it has none."""
    spec = get_model(model).recognizer
    if spec is None:
        raise ValueError(
            f"model {model!r} has no recognizer (it trains on given clip features: --features)"
        )
    return spec


def build_recognizer(config: RecognitionConfig, *, rgb_weights: Path | None = None) -> nn.Module:
    """The recognizer of ``config`` through its registry entry (``forward`` as its inputs
    say, see the module docstring).

    ``rgb_weights``: the BN-Inception state dict to start from; its digest must be
    ``config.rgb_weights_sha``. Without it a pretrained config builds the same architecture
    (Partial BN on) for loading a trained checkpoint."""
    config.validate()
    if rgb_weights is not None:
        digest = file_digest(rgb_weights)
        if digest != config.rgb_weights_sha:
            raise ValueError(
                f"{rgb_weights}: SHA-256 {digest} is not the config's weights "
                f"{config.rgb_weights_sha}"
            )
    return recognizer_spec(config.model).build(config=config, rgb_weights=rgb_weights)


def skeleton_spec(build: Callable[..., nn.Module]) -> RecognizerSpec:
    """A skeleton recognizer (joint + bone streams on one person's window, fed
    :data:`SKELETON_CLIPS`, skeleton grounding features) from a builder
    ``(*, num_classes, num_persons, dropout) -> nn.Module`` (``(B, 3, T, 17, 1) -> (B, A)``);
    it starts from 10 epochs and dropout 0.1."""

    def build_recognizer(*, config: RecognitionConfig, rgb_weights: Path | None) -> nn.Module:
        if rgb_weights is not None:
            raise ValueError(f"--rgb-weights is for BN-Inception recognizers, not {config.model}")
        return build(num_classes=config.num_classes, num_persons=1, dropout=config.dropout)

    return RecognizerSpec(
        build=build_recognizer,
        inputs=SKELETON_CLIPS,
        features=FeatureKind.SKELETON,
        defaults={"epochs": 10, "dropout": 0.1},
    )
