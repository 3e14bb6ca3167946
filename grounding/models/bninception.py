"""BN-Inception backbone, following TSN's Caffe layer table (``bn_inception.yaml``).

Layer table (channels at ``width_mult=1``; every conv is conv (with bias) -> BN -> ReLU)::

    conv1_7x7_s2      7x7/2, 64          -> max pool 3x3/2 (ceil)
    conv2_3x3_reduce  1x1, 64
    conv2_3x3         3x3, 192           -> max pool 3x3/2 (ceil)
    block  1x1  3x3red 3x3  d3x3red d3x3  pool   proj  stride  out
    3a     64   64     64   64      96    avg    32    1       256
    3b     64   64     96   64      96    avg    64    1       320
    3c     -    128    160  64      96    max    -     2       576
    4a     224  64     96   96      128   avg    128   1       576
    4b     192  96     128  96      128   avg    128   1       576
    4c     160  128    160  128     160   avg    128   1       608
    4d     96   128    192  160     192   avg    128   1       608
    4e     -    128    192  192     256   max    -     2       1056
    5a     352  192    320  160     224   avg    128   1       1024
    5b     352  192    320  192     224   max    128   1       1024
    global average pool -> 1024

Pooling is Caffe-style: ceil mode, average pools count the padding. BN uses ``eps=1e-5`` and
``momentum=0.1`` (PyTorch's convention for Caffe's moving-average factor 0.9).
:meth:`BNInception.forward_features` returns the last map ``(B, 1024, 7, 7)`` at 224x224 and
:meth:`BNInception.forward` the pooled ``(B, 1024)``. Input sides must be multiples of 32 (the
unpadded stride-2 pools of blocks 3c and 4e need even sizes).

Measured complexity (``grounding.models.complexity``; MACs of convolutions and linear layers,
BN and pooling not counted):

=====================  ===========  =========  ===========  ========
profile                width_mult   input      params       MACs
=====================  ===========  =========  ===========  ========
full (TSN)             1.0          224x224    10.27 M      2.03 G
CPU (``CPU_PROFILE``)  0.5          128x128     2.58 M      0.18 G
=====================  ===========  =========  ===========  ========

(exactly 10,270,240 params / 2,031,576,064 MACs and 2,577,424 params / 175,476,736 MACs; at
96x96 the CPU-width model costs 98,705,664 MACs.) The CPU profile scales every channel count
by ``width_mult`` (rounded to a multiple of 8) and feeds 128x128 crops, so the last map is
``(B, 512, 4, 4)`` (16 spatial tokens instead of 49).

Weights: :func:`build_bninception` loads a state dict from a ``.pt``/``.pth`` file (read with
``torch.load(weights_only=True)``) or a ``.safetensors`` file. Keys may be this module's own
names or the flat TSN / ``pretrainedmodels`` names (``inception_3a_1x1.weight``,
``inception_3a_1x1_bn.running_mean``, ...); classifier keys (``fc.*``, ``last_linear.*``) are
ignored. The Caffe-converted ImageNet weights expect BGR input in 0..255 minus the mean
``(104, 117, 128)``; :func:`grounding.models.two_stream.build_two_stream` re-expresses their
conv1 for its normalised RGB input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from grounding.io import check_input_file

BN_EPS = 1e-5
BN_MOMENTUM = 0.1
IGNORED_WEIGHT_PREFIXES = ("fc.", "last_linear.", "classifier.")


@dataclass(frozen=True)
class BNInceptionProfile:
    """A width/resolution setting of the backbone (see the module docstring for its counts)."""

    width_mult: float
    input_size: int


FULL_PROFILE = BNInceptionProfile(width_mult=1.0, input_size=224)
CPU_PROFILE = BNInceptionProfile(width_mult=0.5, input_size=128)


def scale_channels(channels: int, width_mult: float, *, divisor: int = 8) -> int:
    """``channels * width_mult`` rounded to a multiple of ``divisor`` (at least ``divisor``)."""
    if channels == 0:
        return 0
    if width_mult == 1.0:
        return channels
    scaled = channels * width_mult
    return max(divisor, int(scaled / divisor + 0.5) * divisor)


class ConvBNReLU(nn.Sequential):
    """Caffe's conv (with bias) -> BatchNorm -> ReLU unit."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, *, stride: int = 1, padding: int = 0
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=True)
        self.bn = nn.BatchNorm2d(out_ch, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)


@dataclass(frozen=True)
class InceptionSpec:
    """Channels of one inception block (0 = branch absent) and its stride."""

    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n_double_reduce: int
    n_double: int
    pool: Literal["avg", "max"]
    pool_proj: int
    stride: int = 1

    def scaled(self, width_mult: float) -> InceptionSpec:
        s = lambda c: scale_channels(c, width_mult)  # noqa: E731
        return InceptionSpec(
            s(self.n1x1),
            s(self.n3x3_reduce),
            s(self.n3x3),
            s(self.n_double_reduce),
            s(self.n_double),
            self.pool,
            s(self.pool_proj),
            self.stride,
        )


INCEPTION_TABLE: dict[str, InceptionSpec] = {
    "inception_3a": InceptionSpec(64, 64, 64, 64, 96, "avg", 32),
    "inception_3b": InceptionSpec(64, 64, 96, 64, 96, "avg", 64),
    "inception_3c": InceptionSpec(0, 128, 160, 64, 96, "max", 0, stride=2),
    "inception_4a": InceptionSpec(224, 64, 96, 96, 128, "avg", 128),
    "inception_4b": InceptionSpec(192, 96, 128, 96, 128, "avg", 128),
    "inception_4c": InceptionSpec(160, 128, 160, 128, 160, "avg", 128),
    "inception_4d": InceptionSpec(96, 128, 192, 160, 192, "avg", 128),
    "inception_4e": InceptionSpec(0, 128, 192, 192, 256, "max", 0, stride=2),
    "inception_5a": InceptionSpec(352, 192, 320, 160, 224, "avg", 128),
    "inception_5b": InceptionSpec(352, 192, 320, 192, 224, "max", 128),
}

# Our submodule name -> TSN's flat layer suffix inside an inception block.
_TSN_BRANCH_NAMES = {
    "b1x1": "1x1",
    "b3x3_reduce": "3x3_reduce",
    "b3x3": "3x3",
    "double_3x3_reduce": "double_3x3_reduce",
    "double_3x3_1": "double_3x3_1",
    "double_3x3_2": "double_3x3_2",
    "pool_proj": "pool_proj",
}


class InceptionBlock(nn.Module):
    """One BN-Inception block: 1x1, 3x3, double-3x3 and pool branches, concatenated.

    ``(B, C_in, H, W) -> (B, out_channels, H / stride, W / stride)``.
    """

    def __init__(self, in_ch: int, spec: InceptionSpec) -> None:
        super().__init__()
        st = spec.stride
        self.b1x1 = ConvBNReLU(in_ch, spec.n1x1, 1) if spec.n1x1 else None
        self.b3x3_reduce = ConvBNReLU(in_ch, spec.n3x3_reduce, 1)
        self.b3x3 = ConvBNReLU(spec.n3x3_reduce, spec.n3x3, 3, stride=st, padding=1)
        self.double_3x3_reduce = ConvBNReLU(in_ch, spec.n_double_reduce, 1)
        self.double_3x3_1 = ConvBNReLU(spec.n_double_reduce, spec.n_double, 3, padding=1)
        self.double_3x3_2 = ConvBNReLU(spec.n_double, spec.n_double, 3, stride=st, padding=1)
        if st == 1:
            pool_cls = nn.AvgPool2d if spec.pool == "avg" else nn.MaxPool2d
            self.pool = pool_cls(3, stride=1, padding=1, ceil_mode=True)
        else:
            self.pool = nn.MaxPool2d(3, stride=st, ceil_mode=True)
        self.pool_proj = ConvBNReLU(in_ch, spec.pool_proj, 1) if spec.pool_proj else None
        pool_out = spec.pool_proj or in_ch
        self.out_channels = spec.n1x1 + spec.n3x3 + spec.n_double + pool_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        if self.b1x1 is not None:
            outs.append(self.b1x1(x))
        outs.append(self.b3x3(self.b3x3_reduce(x)))
        outs.append(self.double_3x3_2(self.double_3x3_1(self.double_3x3_reduce(x))))
        pooled = self.pool(x)
        outs.append(self.pool_proj(pooled) if self.pool_proj is not None else pooled)
        return torch.cat(outs, dim=1)


class BNInception(nn.Module):
    """BN-Inception without classifier.

    ``forward_features``: ``(B, in_channels, H, W) -> (B, out_dim, H/32, W/32)``;
    ``forward``: ``(B, in_channels, H, W) -> (B, out_dim)`` (global average pool).
    ``out_dim`` is 1024 at ``width_mult=1``.
    """

    def __init__(self, *, in_channels: int = 3, width_mult: float = 1.0) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if not 0.0 < width_mult <= 4.0:
            raise ValueError(f"width_mult must be in (0, 4], got {width_mult}")
        self.in_channels = in_channels
        self.width_mult = width_mult
        c1, c2r, c2 = (scale_channels(c, width_mult) for c in (64, 64, 192))
        self.conv1_7x7_s2 = ConvBNReLU(in_channels, c1, 7, stride=2, padding=3)
        self.pool1_3x3_s2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2_3x3_reduce = ConvBNReLU(c1, c2r, 1)
        self.conv2_3x3 = ConvBNReLU(c2r, c2, 3, padding=1)
        self.pool2_3x3_s2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        blocks: list[tuple[str, nn.Module]] = []
        ch = c2
        for name, spec in INCEPTION_TABLE.items():
            block = InceptionBlock(ch, spec.scaled(width_mult))
            blocks.append((name, block))
            ch = block.out_channels
        for name, block in blocks:
            self.add_module(name, block)
        self.block_names = tuple(name for name, _ in blocks)
        self.out_dim = ch

    @property
    def conv1(self) -> nn.Conv2d:
        """The first convolution (replaced for the flow stream, paper eq. 6)."""
        return self.conv1_7x7_s2.conv

    @property
    def memory_format(self) -> torch.memory_format:
        """``torch.channels_last`` when the model was moved to it
        (``model.to(memory_format=torch.channels_last)``), else ``torch.contiguous_format``:
        read from conv1's weight, so that one ``.to`` switches the weights and the inputs."""
        weight = self.conv1.weight
        # a weight whose layout is ambiguous (one input channel) counts as contiguous
        if weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous():
            return torch.channels_last
        return torch.contiguous_format

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W) -> (B, out_dim, H/32, W/32)``; H, W multiples of 32."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"BNInception expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        if h % 32 or w % 32:
            raise ValueError(f"BNInception input sides must be multiples of 32, got {h}x{w}")
        # the input follows the weights' layout; every later map inherits it from the convs
        x = x.contiguous(memory_format=self.memory_format)
        x = self.pool1_3x3_s2(self.conv1_7x7_s2(x))
        x = self.pool2_3x3_s2(self.conv2_3x3(self.conv2_3x3_reduce(x)))
        for name in self.block_names:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x).mean(dim=(2, 3))


def tsn_key_map(model: BNInception) -> dict[str, str]:
    """Map TSN / ``pretrainedmodels`` flat state-dict keys to this module's keys."""
    mapping: dict[str, str] = {}
    for key in model.state_dict():
        parts = key.split(".")
        # parts: [stem_or_block, (branch,) conv|bn, tensor]
        *path, layer, tensor = parts
        if path[0] in model.block_names:
            flat = f"{path[0]}_{_TSN_BRANCH_NAMES[path[1]]}"
        else:
            flat = path[0]
        flat = flat + ("_bn" if layer == "bn" else "")
        mapping[f"{flat}.{tensor}"] = key
    return mapping


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file (``weights_only=True``)."""
    path = check_input_file(path, "weights file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: cannot read as a torch state dict: {exc}") from exc
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a mapping of parameter names to tensors")
    return dict(obj)


def load_backbone_weights(
    model: BNInception, state: Mapping[str, torch.Tensor], *, source: str = "weights"
) -> list[str]:
    """Load ``state`` into ``model``; return the ignored classifier keys.

    Accepts this module's own keys or TSN's flat keys (and a ``module.`` / ``base_model.``
    prefix). Raises ``ValueError`` naming missing keys, unexpected keys and shape mismatches.
    """
    own = model.state_dict()
    tsn = tsn_key_map(model)
    renamed: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    unexpected: list[str] = []
    for raw_key, value in state.items():
        key = raw_key
        for prefix in ("module.", "base_model."):
            key = key.removeprefix(prefix)
        if key.startswith(IGNORED_WEIGHT_PREFIXES):
            ignored.append(raw_key)
        elif key in own:
            renamed[key] = value
        elif key in tsn:
            renamed[tsn[key]] = value
        else:
            unexpected.append(raw_key)
    missing = [k for k in own if k not in renamed and not k.endswith("num_batches_tracked")]
    shape_errors = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in renamed.items()
        if tuple(v.shape) != tuple(own[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {_preview(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {_preview(unexpected)}")
    if shape_errors:
        problems.append(f"shape mismatches ({len(shape_errors)}): {_preview(shape_errors)}")
    if problems:
        raise ValueError(
            f"{source}: does not match BNInception(in_channels={model.in_channels}, "
            f"width_mult={model.width_mult}): " + "; ".join(problems)
        )
    for key in own:
        if key.endswith("num_batches_tracked") and key not in renamed:
            renamed[key] = own[key]
    model.load_state_dict(renamed, strict=True)
    return ignored


def _preview(items: list[str], n: int = 6) -> str:
    shown = ", ".join(items[:n])
    return shown + (f", ... (+{len(items) - n} more)" if len(items) > n else "")


def build_bninception(
    *, in_channels: int = 3, width_mult: float = 1.0, weights: str | Path | None = None
) -> BNInception:
    """Build BN-Inception; optionally load weights from a user state-dict file."""
    model = BNInception(in_channels=in_channels, width_mult=width_mult)
    if weights is not None:
        load_backbone_weights(model, read_state_dict(weights), source=str(weights))
    return model
