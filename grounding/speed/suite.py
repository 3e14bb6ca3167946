"""The whole speed measurement: models (passed in, or untrained defaults) -> :class:`SpeedReport`.

:func:`run_speed` times, in order, the per-query latency of each grounding model from cached
features, the sentence encoder (when given), the end-to-end pipeline on real video files, and
each recognizer (Figure 12), recording peak memory per section. Trained models are passed in
through :class:`SpeedModels`; :func:`build_speed_models` builds untrained ones of the right
shapes (speed does not depend on the weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from grounding.data.datasets import load_split
from grounding.models.grounding_model import GroundingModel
from grounding.models.two_stream import TwoStreamNetwork
from grounding.provenance import provenance
from grounding.speed.pipeline import PipelineConfig, measure_pipeline
from grounding.speed.query import measure_query_latency, measure_text_latency
from grounding.speed.recognition import (
    DEFAULT_SAMPLES,
    Recognizer,
    measure_recognition,
    skeleton_recognizer,
    two_stream_recognizer,
)
from grounding.speed.report import SpeedReport
from grounding.speed.timing import PeakMemory, resolve_device, runtime_info
from grounding.train.grounding import GroundingTrainConfig, build_grounding_network
from grounding.train.recognition import RecognitionConfig, build_recognizer

__all__ = [
    "SpeedModels",
    "SpeedSettings",
    "build_speed_models",
    "run_speed",
    "synthetic_queries",
]


@dataclass
class SpeedModels:
    """The models to time.

    Attributes:
        two_stream: the paper's two-stream network (end-to-end backbones).
        grounding: grounding models by name; the end-to-end pipeline uses ``grounding[main]``,
            whose ``config.in_dim`` must equal ``two_stream.feature_dim``.
        recognizers: Figure 12 recognizers with their inputs.
        main: the name of the end-to-end grounding model.
    """

    two_stream: TwoStreamNetwork
    grounding: dict[str, GroundingModel]
    recognizers: list[Recognizer]
    main: str = "ours"


@dataclass(frozen=True)
class SpeedSettings:
    """How much to time.

    Attributes:
        warmup / iters: untimed and timed calls per measurement (query latency uses
            ``query_iters`` timed calls: it is cheap and its p95 needs more samples).
        videos: end-to-end videos (each run ``iters`` times).
        samples: Figure 12(b) batch sizes.
        max_seconds: per-measurement budget of timed wall time for recognizers.
        skeleton_frames: GTN / DGCN window ``T`` (one person, as trained).
        pipeline: sampling and flow settings of the end-to-end runs (its ``segments`` and
            ``input_size`` should be the two-stream recognizer's).
    """

    warmup: int = 2
    iters: int = 5
    query_iters: int = 50
    videos: int = 2
    samples: tuple[int, ...] = DEFAULT_SAMPLES
    max_seconds: float | None = 20.0
    skeleton_frames: int = 32
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    def to_dict(self) -> dict:
        return asdict(self)


def build_speed_models(
    *,
    width_mult: float,
    input_size: int,
    num_classes: int = 10,
    num_clips: int = 16,
    segments: int = 3,
    flow_length: int = 5,
    skeleton_frames: int = 32,
    seed: int = 0,
) -> SpeedModels:
    """Untrained models built exactly as ``python -m grounding.train`` builds them with its
    default hyper-parameters: the recognizers ``ours`` (two-stream at ``width_mult`` on
    ``segments`` snippets of ``input_size`` pixels), ``gtn`` and ``dgcn`` (joint + bone streams
    on one person's ``skeleton_frames``-frame window), and the grounding networks ``ours``,
    ``gtn``, ``dgcn`` (same head; MHSSA or the clip-graph encoders) over the two-stream's
    ``(N, D)`` clip features."""
    torch.manual_seed(seed)
    classes = tuple(f"class{k}" for k in range(num_classes))
    nets = {
        name: build_recognizer(
            RecognitionConfig(
                model=name,
                classes=classes,
                segments=segments,
                input_size=input_size,
                width_mult=width_mult,
                flow_length=flow_length,
                skeleton_frames=skeleton_frames,
            )
        )
        for name in ("ours", "gtn", "dgcn")
    }
    two_stream = nets["ours"]
    grounding = {
        name: build_grounding_network(
            GroundingTrainConfig(
                dataset="charades",
                train_split="train",
                test_split="test",
                feature_type="i3d",  # the layout of grounding.extract's files
                in_dim=two_stream.feature_dim,
                model=name,
                num_clips=num_clips,
            )
        )
        for name in ("ours", "gtn", "dgcn")
    }
    recognizers = [
        two_stream_recognizer(
            two_stream, segments=segments, input_size=input_size, flow_length=flow_length
        ),
        *[
            skeleton_recognizer(nets[name], name=name, frames=skeleton_frames, persons=1)
            for name in ("gtn", "dgcn")
        ],
    ]
    return SpeedModels(two_stream=two_stream, grounding=grounding, recognizers=recognizers)


def synthetic_queries(root: str | Path, n_videos: int) -> list[tuple[Path, str]]:
    """``(video path, first query sentence)`` for up to ``n_videos`` videos of a dataset in the
    synthetic layout (``charades_sta_{test,train}.txt`` + ``videos/<vid>.mp4``), test split
    first.

    Raises:
        FileNotFoundError: no annotations, or a video file named by them is missing.
    """
    root = Path(root)
    out: dict[str, tuple[Path, str]] = {}
    for split in ("test", "train"):
        try:
            queries = load_split("charades", root, split).queries
        except FileNotFoundError:
            continue
        for q in queries:
            if len(out) >= n_videos:
                break
            if q.vid not in out:
                path = root / "videos" / f"{q.vid}.mp4"
                if not path.is_file():
                    raise FileNotFoundError(f"{path}: video of query {q.qid} not found")
                out[q.vid] = (path, q.sentence)
    if not out:
        raise FileNotFoundError(
            f"{root}: no charades_sta_test.txt / charades_sta_train.txt queries (a synthetic "
            "dataset folder is expected, e.g. from python -m grounding.data.synthetic)"
        )
    return list(out.values())


def run_speed(
    models: SpeedModels,
    *,
    videos: Sequence[tuple[str | Path, str]] = (),
    settings: SpeedSettings = SpeedSettings(),
    device: torch.device | str = "auto",
    text_encoder: object | None = None,
    progress: bool = True,
) -> SpeedReport:
    """Measure everything (see the module docstring).

    Args:
        models: what to time (moved to ``device``).
        videos: ``(video file, query text)`` pairs for the end-to-end runs (none: skipped).
        settings: iteration counts and sizes.
        device: ``auto``, ``cpu``, ``cuda``...
        text_encoder: a sentence encoder (``encode([text]) -> (1, D_s)``); when given, its
            latency is measured and the end-to-end runs encode the query text; otherwise they
            use a cached (random, normalised) embedding.
    """
    from tqdm.auto import tqdm

    dev = resolve_device(device)
    s = settings
    if models.main not in models.grounding:
        raise ValueError(f"end-to-end model {models.main!r} not among {sorted(models.grounding)}")
    report = SpeedReport(
        runtime=runtime_info(dev),
        settings=s.to_dict(),
        provenance=provenance(str(dev)),
    )
    steps = len(models.grounding) + len(models.recognizers) + 2
    bar = tqdm(total=steps, desc="speed", unit="step", disable=not progress)

    with PeakMemory(dev) as mem:
        for name, model in models.grounding.items():
            bar.set_postfix_str(f"query {name}")
            report.query.append(
                measure_query_latency(
                    model, name=name, device=dev, warmup=s.warmup, iters=s.query_iters
                )
            )
            bar.update()
        if text_encoder is not None:
            report.text = measure_text_latency(
                text_encoder, device=dev, warmup=s.warmup, iters=s.query_iters
            )
    report.memory["query"] = mem.result
    bar.update()

    if videos:
        bar.set_postfix_str("end to end")
        main = models.grounding[models.main]
        if text_encoder is not None:
            sentences = [text for _, text in videos]
        else:
            g = torch.Generator().manual_seed(0)
            sentences = [
                torch.nn.functional.normalize(
                    torch.randn(1, main.config.text_dim, generator=g), dim=-1
                )
                for _ in videos
            ]
        with PeakMemory(dev) as mem:
            report.pipeline = measure_pipeline(
                [v for v, _ in videos],
                sentences,
                two_stream=models.two_stream,
                grounding=main,
                config=s.pipeline,
                device=dev,
                text_encoder=text_encoder,
                warmup=min(s.warmup, 1),
                iters=s.iters,
            )
        report.memory["end_to_end"] = mem.result
    bar.update()

    for rec in models.recognizers:
        bar.set_postfix_str(f"recognizer {rec.name}")
        result = measure_recognition(
            rec,
            device=dev,
            warmup=s.warmup,
            iters=s.iters,
            samples=s.samples,
            max_seconds=s.max_seconds,
        )
        report.recognition.append(result)
        report.memory[f"recognition {rec.name}"] = result.memory
        bar.update()
    bar.close()
    return report
