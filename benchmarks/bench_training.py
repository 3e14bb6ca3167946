"""Measure training throughput against this machine's matmul peak, and what the fast kernels buy.

    python benchmarks/bench_training.py [--rounds 5] [--steps 2]

1. the 1-thread fp32 matmul peak: the best of a few large square ``torch.mm`` (GFLOP/s);
2. train steps of the ``ours`` recognizer (forward, backward, AdamW) at the recognition sizes
   of the ``smoke`` and ``reference`` profiles on synthetic uint8 batches, 1 thread: clips/s and
   achieved GFLOP/s (3 x the forward FLOPs counted by :mod:`grounding.models.complexity`);
   and eval-mode forward passes at the test segments (clips/s);
3. train steps of the grounding network (``grounding.train.grounding.build_network``) at the
   ``reference`` profile's GroundingNet settings on random features, 2 threads: queries/s and
   GFLOP/s;

each in its shipped form (channels_last, fused AdamW) and with one change undone (contiguous
layout; AdamW's ``foreach`` implementation). The variants of one model alternate round by
round in this one process and the medians are compared, so the printed gains are ratios
measured in this run. Every number is measured here; nothing is read from earlier runs.

Importable: :func:`matmul_peak_gflops`, :func:`measure_recognizer_training`,
:func:`measure_recognizer_eval`, :func:`measure_grounding_training` return :class:`Row` s,
:func:`table` formats them; :func:`main` is the command line.
"""

from __future__ import annotations

from grounding.runtime import prefer_passive_omp

if __name__ == "__main__":  # before torch is loaded
    prefer_passive_omp()

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tabulate import tabulate
from torch import nn

from grounding.data.synthetic.actions import ACTIONS
from grounding.extract import clip_pipeline
from grounding.models.complexity import count_macs
from grounding.models.localization import scaled_iou_loss
from grounding.models.recognizer import (
    RecognitionConfig,
    RecognitionSettings,
    build_recognizer,
    recognizer_spec,
)
from grounding.profiles import PROFILES
from grounding.train.grounding import (
    GroundingSettings,
    GroundingTrainConfig,
    build_network,
    grounding_config,
)
from grounding.train.loop import build_optimizer
from grounding.train.recognition import recognition_config

#: the shipped form first: the gains are its speed over each other variant
SHIPPED = "channels_last + fused"
RECOGNIZER_VARIANTS = {
    SHIPPED: (torch.channels_last, True),
    "contiguous + fused": (torch.contiguous_format, True),
    "channels_last + foreach": (torch.channels_last, False),
}
GROUNDING_VARIANTS = {"fused": True, "foreach": False}


@dataclass(frozen=True)
class Row:
    """One measured variant of one workload.

    Attributes:
        workload: e.g. ``"recognizer train (smoke)"``.
        variant: e.g. ``"channels_last + fused"``.
        threads: intra-op threads it ran with.
        items_per_s: clips (recognizer) or queries (grounding) per second, median over rounds.
        gflops: achieved GFLOP/s (counted FLOPs per second).
        step_ms: median wall time of one step (train: forward + backward + optimiser).
        optim_ms: median time of the optimiser step alone (``None`` for eval).
        peak_gflops: the matmul peak at ``threads`` it is compared with.
        gain: shipped variant's speed / this variant's (``None`` on the shipped row).
    """

    workload: str
    variant: str
    threads: int
    items_per_s: float
    gflops: float
    step_ms: float
    optim_ms: float | None
    peak_gflops: float
    gain: float | None = None

    @property
    def of_peak(self) -> float:
        return self.gflops / self.peak_gflops


def matmul_peak_gflops(*, n: int = 2048, threads: int = 1, repeats: int = 5) -> float:
    """Best GFLOP/s of ``repeats`` fp32 ``torch.mm`` of two ``(n, n)`` matrices at ``threads``."""
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    torch.mm(a, b)  # warm-up: the first call picks kernels and touches the pages
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


# --------------------------------------------------------------------------------------------
# timing


StepFn = Callable[[], float]


def alternate(steps: dict[str, StepFn], *, rounds: int, per_round: int) -> dict[str, list]:
    """Run each variant's step ``per_round`` times, round after round, variants alternating
    (so drift of a shared machine falls on all alike); one warm-up step each first.

    ``steps``: ``variant -> step()`` returning the seconds of its optimiser part (0 for none).

    Returns ``variant -> [(step seconds, optimiser seconds), ...]`` one entry per round (the
    mean of its ``per_round`` steps)."""
    for step in steps.values():
        step()
    out: dict[str, list] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            opt = sum(step() for _ in range(per_round))
            out[name].append(((time.perf_counter() - t0) / per_round, opt / per_round))
    return out


def _rows(
    workload: str,
    samples: dict[str, list],
    *,
    items: int,
    flops: float,
    threads: int,
    peak: float,
    has_optim: bool,
) -> list[Row]:
    """Rows of :func:`alternate`'s samples; the first variant is the shipped one."""
    medians = {
        name: (statistics.median(s for s, _ in v), statistics.median(o for _, o in v))
        for name, v in samples.items()
    }
    shipped = next(iter(medians.values()))[0]
    return [
        Row(
            workload=workload,
            variant=name,
            threads=threads,
            items_per_s=items / step,
            gflops=flops / step / 1e9,
            step_ms=1e3 * step,
            optim_ms=1e3 * opt if has_optim else None,
            peak_gflops=peak,
            gain=None if k == 0 else step / shipped,
        )
        for k, (name, (step, opt)) in enumerate(medians.items())
    ]


# --------------------------------------------------------------------------------------------
# the recognizer


def recognizer_config(profile: str, model: str = "ours") -> RecognitionConfig:
    """The recognition config ``grounding.bench --profile <profile>`` trains ``model`` with
    (the synthetic dataset's action classes)."""
    p = PROFILES[profile]
    settings: RecognitionSettings = p.model_recognition.get(model, p.recognition)
    return recognition_config(replace(settings, model=model), ACTIONS)


def _recognizer(config: RecognitionConfig, memory_format: torch.memory_format) -> nn.Module:
    torch.manual_seed(config.seed)  # every variant starts from the same weights
    return build_recognizer(config).to(memory_format=memory_format)


def measure_recognizer_training(
    profile: str,
    *,
    peak: float,
    threads: int = 1,
    rounds: int = 5,
    per_round: int = 2,
    variants: dict[str, tuple[torch.memory_format, bool]] = RECOGNIZER_VARIANTS,
) -> list[Row]:
    """Train steps of the ``ours`` recognizer of ``profile`` at its batch size on one
    synthetic batch (``rgb (B, S, 3, H, W)``, ``flow (B, S, 2L, H, W)`` uint8), one row per
    variant (``name -> (memory format, fused AdamW)``, the shipped one first)."""
    torch.set_num_threads(threads)
    config = recognizer_config(profile)
    inputs = recognizer_spec(config.model).inputs
    n = config.batch_size
    rgb, flow = inputs.example(config, n, seed=0)
    batch = {"rgb": rgb, "flow": flow, "label": torch.arange(n) % config.num_classes}
    flops = 3.0 * 2.0 * count_macs(_recognizer(config, torch.channels_last), rgb, flow)

    def make_step(memory_format: torch.memory_format, fused: bool) -> StepFn:
        model = _recognizer(config, memory_format).train()
        opt = build_optimizer(model, lr=config.lr, weight_decay=config.weight_decay, fused=fused)

        def step() -> float:
            opt.zero_grad(set_to_none=True)
            inputs.loss(model, batch).backward()
            t0 = time.perf_counter()
            opt.step()
            return time.perf_counter() - t0

        return step

    steps = {name: make_step(*v) for name, v in variants.items()}
    samples = alternate(steps, rounds=rounds, per_round=per_round)
    return _rows(
        f"recognizer train ({profile}, B={n}, S={config.segments})",
        samples,
        items=n,
        flops=flops,
        threads=threads,
        peak=peak,
        has_optim=True,
    )


def measure_recognizer_eval(
    profile: str, *, peak: float, threads: int = 1, rounds: int = 5, per_round: int = 2
) -> list[Row]:
    """Eval-mode forward passes of the ``ours`` recognizer of ``profile`` on a batch of its
    test clips (``test_segments`` per clip) under ``inference_mode``, channels_last vs
    contiguous."""
    torch.set_num_threads(threads)
    train_config = recognizer_config(profile)
    config = replace(train_config, segments=train_config.test_segments)
    inputs = recognizer_spec(config.model).inputs
    n = config.batch_size
    rgb, flow = inputs.example(config, n, seed=0)
    flops = 2.0 * count_macs(_recognizer(config, torch.channels_last), rgb, flow)

    def make_step(memory_format: torch.memory_format) -> StepFn:
        model = _recognizer(config, memory_format).eval()

        def step() -> float:
            with torch.inference_mode():
                model(rgb, flow)
            return 0.0

        return step

    formats = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
    samples = alternate(
        {name: make_step(f) for name, f in formats.items()}, rounds=rounds, per_round=per_round
    )
    return _rows(
        f"recognizer eval ({profile}, B={n}, S={config.segments})",
        samples,
        items=n,
        flops=flops,
        threads=threads,
        peak=peak,
        has_optim=False,
    )


# --------------------------------------------------------------------------------------------
# the grounding network


def grounding_train_config(profile: str = "reference", model: str = "ours") -> GroundingTrainConfig:
    """The grounding config of ``profile`` on the clip features of ``model``'s recognizer
    (their width from its feature pipeline)."""
    recognizer = recognizer_config(profile, model)
    in_dim = clip_pipeline(build_recognizer(recognizer), recognizer, data=Path()).feature_dim()
    settings: GroundingSettings = replace(PROFILES[profile].grounding_for(model), model=model)
    return grounding_config(settings, in_dim=in_dim, feature_type="i3d", test_split="test")


def measure_grounding_training(
    profile: str = "reference",
    *,
    peak: float,
    threads: int = 2,
    rounds: int = 5,
    per_round: int = 4,
) -> list[Row]:
    """Train steps of the grounding network of ``profile`` at its batch size on random
    ``clips (B, N, D)``, ``sentence (B, 384)`` and IoU maps ``(B, N, N)``: fused vs foreach
    AdamW."""
    torch.set_num_threads(threads)
    config = grounding_train_config(profile)
    g = torch.Generator().manual_seed(0)
    b, n = config.batch_size, config.num_clips
    probe = build_network(config)
    clips = torch.randn(b, n, config.in_dim, generator=g)
    sentence = torch.randn(b, probe.config.text_dim, generator=g)
    iou = torch.rand(b, n, n, generator=g).triu()
    flops = 3.0 * 2.0 * count_macs(probe, clips, sentence)

    def make_step(fused: bool) -> StepFn:
        torch.manual_seed(config.seed)
        model = build_network(config).train()
        opt = build_optimizer(model, lr=config.lr, weight_decay=config.weight_decay, fused=fused)

        def step() -> float:
            opt.zero_grad(set_to_none=True)
            logits = model(clips, sentence)
            scaled_iou_loss(logits, iou, t_min=config.t_min, t_max=config.t_max).backward()
            t0 = time.perf_counter()
            opt.step()
            return time.perf_counter() - t0

        return step

    samples = alternate(
        {name: make_step(f) for name, f in GROUNDING_VARIANTS.items()},
        rounds=rounds,
        per_round=per_round,
    )
    return _rows(
        f"grounding train ({profile}, B={b}, N={n}, map {config.map_dim})",
        samples,
        items=b,
        flops=flops,
        threads=threads,
        peak=peak,
        has_optim=True,
    )


# --------------------------------------------------------------------------------------------
# the command


HEADERS = [
    "workload",
    "variant",
    "threads",
    "items/s",
    "GFLOP/s",
    "of peak",
    "step ms",
    "optim ms",
    "gain of shipped",
]


def table(rows: Sequence[Row]) -> str:
    """The rows as a tabulate table (``gain of shipped``: the shipped variant's speed over
    this one's, measured in the same run)."""
    return tabulate(
        [
            [
                r.workload,
                r.variant,
                r.threads,
                r.items_per_s,
                r.gflops,
                f"{100 * r.of_peak:.1f}%",
                r.step_ms,
                "" if r.optim_ms is None else f"{r.optim_ms:.1f}",
                "" if r.gain is None else f"{r.gain:.2f}x",
            ]
            for r in rows
        ],
        headers=HEADERS,
        floatfmt=".1f",
    )


def main(argv: Sequence[str] | None = None) -> list[Row]:
    """Run the measurements the flags select, print the table; return the rows."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument(
        "--profiles", nargs="+", default=["smoke", "reference"], choices=sorted(PROFILES)
    )
    p.add_argument("--grounding-profile", default="reference", choices=sorted(PROFILES))
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (median)")
    p.add_argument("--steps", type=int, default=2, help="recognizer steps per variant per round")
    p.add_argument("--no-eval", action="store_true", help="skip the recognizer eval rows")
    p.add_argument("--no-grounding", action="store_true", help="skip the grounding rows")
    args = p.parse_args(argv)

    t_all = time.perf_counter()
    threads_before = torch.get_num_threads()
    peaks = {t: matmul_peak_gflops(threads=t) for t in (1, 2)}
    print(
        "fp32 matmul peak: "
        + ", ".join(f"{v:.1f} GFLOP/s at {t} thread(s)" for t, v in peaks.items()),
        flush=True,
    )
    rows: list[Row] = []
    try:
        for profile in args.profiles:
            rows += measure_recognizer_training(
                profile, peak=peaks[1], rounds=args.rounds, per_round=args.steps
            )
            if not args.no_eval:
                rows += measure_recognizer_eval(
                    profile, peak=peaks[1], rounds=args.rounds, per_round=args.steps
                )
        if not args.no_grounding:
            rows += measure_grounding_training(
                args.grounding_profile, peak=peaks[2], rounds=args.rounds
            )
    finally:
        torch.set_num_threads(threads_before)
    print(table(rows))
    print(
        f"gain of shipped: median step time of the variant / of '{SHIPPED}' (recognizer), "
        f"'channels_last' (eval), 'fused' (grounding); {args.rounds} alternating rounds; "
        f"{time.perf_counter() - t_all:.0f} s in all",
        flush=True,
    )
    return rows


if __name__ == "__main__":
    main()
