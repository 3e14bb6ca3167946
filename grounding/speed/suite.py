"""The whole speed measurement: models (passed in, or untrained defaults) -> :class:`SpeedReport`.

:func:`run_speed` times, in order, the per-query latency of each grounding model from cached
features, the sentence encoder (when given), the end-to-end pipeline on real video files (the
main model's own feature pipeline, :class:`grounding.extract.ClipPipeline`, as the bench runs
it), and each recognizer (Figure 12), recording peak memory per section. Trained models are
passed in through :class:`SpeedModels`; :func:`build_speed_models` builds untrained ones of any
registered models (speed does not depend on the weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from grounding.data.datasets import load_split
from grounding.extract import clip_pipeline
from grounding.models.grounding_model import (
    GroundingModel,
    GroundingModelConfig,
    build_grounding_network,
)
from grounding.models.recognizer import RecognitionConfig, build_recognizer, recognizer_spec
from grounding.provenance import provenance
from grounding.speed.pipeline import PipelineConfig, measure_pipeline
from grounding.speed.query import measure_query_latency, measure_text_latency
from grounding.speed.recognition import (
    DEFAULT_SAMPLES,
    measure_recognition,
    recognizer_input,
)
from grounding.speed.report import SpeedReport
from grounding.speed.timing import PeakMemory, resolve_device, runtime_info

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
        recognizers: recognizers by model name, with their configs (Figure 12, and the
            feature pipeline of the end-to-end runs).
        grounding: grounding models by name; ``grounding[main]`` takes the features of
            ``recognizers[main]``'s pipeline.
        main: the name of the end-to-end model.
    """

    recognizers: dict[str, tuple[torch.nn.Module, RecognitionConfig]]
    grounding: dict[str, GroundingModel]
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
        pipeline: extraction settings of the end-to-end runs.
    """

    warmup: int = 2
    iters: int = 5
    query_iters: int = 50
    videos: int = 2
    samples: tuple[int, ...] = DEFAULT_SAMPLES
    max_seconds: float | None = 20.0
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    def to_dict(self) -> dict:
        return asdict(self)


def build_speed_models(
    *,
    models: Sequence[str] = ("ours", "gtn", "dgcn"),
    main: str = "ours",
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
    default hyper-parameters, for registered models with a recognizer: each recognizer (from
    its registry defaults, two-stream ones at ``width_mult`` on ``segments`` snippets of
    ``input_size`` pixels, skeleton ones on one person's ``skeleton_frames``-frame window),
    and each grounding network (the model's clip encoder, the same head) over the ``(N, D)``
    features of that recognizer's feature pipeline."""
    if main not in models:
        raise ValueError(f"end-to-end model {main!r} not among {list(models)}")
    torch.manual_seed(seed)
    classes = tuple(f"class{k}" for k in range(num_classes))
    recognizers = {}
    for name in models:
        sizes = {
            "segments": segments,
            "input_size": input_size,
            "width_mult": width_mult,
            "flow_length": flow_length,
            "skeleton_frames": skeleton_frames,
        }
        config = RecognitionConfig(
            model=name, classes=classes, **{**recognizer_spec(name).defaults, **sizes}
        )
        recognizers[name] = (build_recognizer(config), config)
    grounding = {
        name: build_grounding_network(
            model=name,
            config=GroundingModelConfig(
                in_dim=clip_pipeline(net, config, data=Path()).feature_dim(),
                num_clips=num_clips,
            ),
        )
        for name, (net, config) in recognizers.items()
    }
    return SpeedModels(recognizers=recognizers, grounding=grounding, main=main)


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
        videos: ``(video file, query text)`` pairs for the end-to-end runs (none: skipped),
            files ``DIR/videos/<vid>.mp4`` of one dataset folder ``DIR`` (its ``skeletons/``
            for person-centric or skeleton features).
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
        net, config = models.recognizers[models.main]
        pipeline = clip_pipeline(
            net.to(dev).eval(),
            config,
            data=Path(videos[0][0]).parent.parent,
            clip_seconds=s.pipeline.clip_seconds,
            batch_size=s.pipeline.batch_size,
            device=dev,
            person_context=s.pipeline.person_context,
        )
        with PeakMemory(dev) as mem:
            report.pipeline = measure_pipeline(
                [Path(v).stem for v, _ in videos],
                sentences,
                pipeline=pipeline,
                grounding=main,
                config=s.pipeline,
                text_encoder=text_encoder,
                warmup=min(s.warmup, 1),
                iters=s.iters,
            )
        report.memory["end_to_end"] = mem.result
    bar.update()

    for name, (net, config) in models.recognizers.items():
        rec = recognizer_input(name, net, config)
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
