"""Ground sentences in your own video: ``python -m grounding.predict`` and :class:`MomentPredictor`.

Encode a video once, then ask many sentences::

    p = MomentPredictor.from_run("runs/synthetic-smoke", model="ours", seed=0)
    p.encode_video("my_video.mp4")            # pose file beside it for person / skeleton models
    p.predict("the player in red shoots")     # [Moment(start=3.5, end=7.0, score=0.81), ...]

:meth:`MomentPredictor.encode_video` decodes the video, computes flow and the recognizer's clip
features with the exact feature path the bench used for that model (the registry's
:class:`~grounding.models.registry.FeatureKind` and the extraction settings recorded in the
run's feature file; :func:`grounding.extract.video_clip_features`), chunk by chunk, so memory
stays flat in the video's length. :meth:`FeaturePredictor.predict` embeds the sentence
(all-MiniLM-L6-v2) and runs the grounding network; moments are in seconds, after the model's
NMS. :class:`FeaturePredictor` alone grounds given clip features (``(T, D)`` arrays, I3D /
C3D files) with a model trained on them (``bench --dataset charades --features``).

Long videos (docs/design.md, "The paper's model": the head sees ``N`` clips): a video whose
``T`` feature rows are at most ``window`` (default: the longest video of the run's feature
file, i.e. of training) is resampled to ``N`` clips as a whole, exactly as the bench evaluates
it. A longer one is cut into windows of ``window`` rows every ``stride`` rows (default half a
window, so every moment up to half a window long lies whole in a window), each resampled to
the ``N`` clips the head was trained with (a clip spans as many seconds as in training, not
``T / N`` rows); every window's moments are moved to video time, merged, ranked by score and
NMS-ed (:func:`grounding.models.grounding_model.predict_windows`). A moment longer than one
window cannot be returned.

The run folder is read, never recomputed: ``RUN/grounding/<model>-s<seed>-*/`` (its
``metrics.json`` names the feature file, ``checkpoint.pt`` the grounding network), the feature
file's attributes (the recognizer checkpoint's digest, clip length, person context, stream,
the recognizer config it was extracted with) and ``RUN/recognition/<model>-s*/checkpoint.pt``
(the one of that digest).
"""

from __future__ import annotations

from grounding.runtime import prefer_passive_omp

if __name__ == "__main__":  # before torch is loaded
    prefer_passive_omp()

import argparse
import json
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import h5py
import numpy as np
import torch
from tabulate import tabulate

from grounding.data.annotations import QuerySet
from grounding.data.datasets import guess_gt, load_split
from grounding.data.features import FeatureStore, open_features
from grounding.data.moment_detr import write_predictions
from grounding.data.video import VideoError, read_frames, video_info
from grounding.extract import (
    ClipPipeline,
    clip_pipeline,
    load_recognizer,
    video_clip_features,
)
from grounding.io import atomic_path, check_input_file, file_digest, write_json_atomic
from grounding.models.checkpoint import load_checkpoint
from grounding.models.device import resolve_device
from grounding.models.grounding_model import (
    GroundingModel,
    predict_windows,
    predict_windows_many,
    video_windows,
)
from grounding.models.registry import FeatureKind, add_import_argument, import_models
from grounding.models.text import SentenceEncoder
from grounding.train.grounding import GroundingTrainConfig, build_network

__all__ = [
    "EncodedVideo",
    "FeaturePredictor",
    "Moment",
    "MomentPredictor",
    "RunModels",
    "find_run_models",
    "main",
    "predict_split",
]


@dataclass(frozen=True)
class Moment:
    """One ranked moment: ``[start, end]`` in seconds and its score (sigmoid of the head's
    logit, in ``(0, 1)``)."""

    start: float
    end: float
    score: float


@dataclass(frozen=True)
class EncodedVideo:
    """A video (or a feature array) ready for queries.

    Attributes:
        name: the video file, or what the features were read from.
        duration: seconds.
        features: ``(T, D)`` clip features.
        clips: ``(W, N, D)`` the windows the head sees; spans: ``(W, 2)`` their seconds.
        seconds: time the encoding took (decode, flow, recognizer, windows).
    """

    name: str
    duration: float
    features: np.ndarray
    clips: torch.Tensor
    spans: np.ndarray
    seconds: float

    @property
    def windows(self) -> int:
        return len(self.spans)


def read_grounding_config(path: Path) -> GroundingTrainConfig:
    """The :class:`GroundingTrainConfig` stored in a grounding checkpoint (clear errors)."""
    path = check_input_file(path, "grounding checkpoint")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    kind = obj.get("config_type") if isinstance(obj, dict) else type(obj).__name__
    if kind != GroundingTrainConfig.__name__:
        raise ValueError(f"{path}: not a grounding checkpoint (config type {kind!r})")
    try:
        stored = json.loads(obj["config_json"])
        known = {f.name for f in fields(GroundingTrainConfig)}
        return GroundingTrainConfig(**{k: v for k, v in stored.items() if k in known})
    except Exception as exc:
        raise ValueError(f"{path}: unreadable grounding config ({type(exc).__name__})") from None


def load_grounding(
    path: Path, *, device: torch.device
) -> tuple[GroundingModel, GroundingTrainConfig]:
    """The grounding network of a checkpoint, weights loaded, eval mode."""
    config = read_grounding_config(path)
    net = build_network(config)
    load_checkpoint(path, model=net, expected_config=config, map_location="cpu")
    return net.to(device).eval(), config


def check_query(query: object) -> str:
    """The stripped query; ``ValueError`` for an empty, whitespace-only or non-text one."""
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"the query is empty or only whitespace: {query!r}; give a sentence")
    return query.strip()


class FeaturePredictor:
    """Ground sentences in clip features with a trained grounding network.

    Args:
        model: the grounding network (eval mode); config: its training config.
        window: feature rows per window of a long video (``None``: every video as a whole,
            the bench's fixed resampling); stride: rows between windows (default half).
        device: where the network and the sentence encoder run.
        name: how tables and plots name the model.
    """

    def __init__(
        self,
        *,
        model: GroundingModel,
        config: GroundingTrainConfig,
        window: int | None = None,
        stride: int | None = None,
        device: torch.device | str = "cpu",
        name: str | None = None,
    ) -> None:
        if window is not None and window < 1:
            raise ValueError(f"window must be >= 1 feature rows, got {window}")
        if stride is not None and stride < 1:
            raise ValueError(f"stride must be >= 1 feature rows, got {stride}")
        self.model, self.config = model, config
        self.window, self.stride = window, stride
        self.device = torch.device(device)
        self.name = name or config.model
        self.video: EncodedVideo | None = None
        self._text: SentenceEncoder | None = None

    @classmethod
    def from_checkpoint(
        cls,
        grounding: str | Path,
        *,
        window: int | None = None,
        stride: int | None = None,
        device: str = "cpu",
    ) -> FeaturePredictor:
        """From a grounding checkpoint (``RUN_DIR/checkpoint.pt`` of ``grounding.train
        grounding`` or a bench run)."""
        dev = resolve_device(device)
        model, config = load_grounding(Path(grounding), device=dev)
        return cls(model=model, config=config, window=window, stride=stride, device=dev)

    @classmethod
    def from_run(
        cls,
        run: str | Path,
        *,
        model: str = "ours",
        seed: int = 0,
        window: int | None = None,
        stride: int | None = None,
        device: str = "cpu",
    ) -> FeaturePredictor:
        """The grounding network of ``model`` at ``seed`` in a bench run folder; ``window``
        defaults to the longest video of the features it was trained on."""
        found = find_run_models(run, model=model, seed=seed)
        p = cls.from_checkpoint(found.grounding, stride=stride, device=device)
        p.window = window if window is not None else found.max_rows
        return p

    # ---------------------------------------------------------------------------------------
    @property
    def text(self) -> SentenceEncoder:
        """The sentence encoder (all-MiniLM-L6-v2), loaded on first use."""
        if self._text is None:
            self._text = SentenceEncoder(device=self.device)
        return self._text

    def encode_features(
        self, features: np.ndarray, *, duration: float, name: str = "features"
    ) -> EncodedVideo:
        """Take ``(T, D)`` clip features covering ``[0, duration]`` seconds as the video to
        query (and return it)."""
        t0 = time.perf_counter()
        features = np.asarray(features, dtype=np.float32)
        d = self.config.in_dim
        if features.ndim != 2 or len(features) < 1 or features.shape[1] != d:
            raise ValueError(
                f"{name}: features must be (T >= 1, {d}) for this model (trained on "
                f"{d}-dim features), got shape {features.shape}"
            )
        if not np.isfinite(features).all():
            raise ValueError(f"{name}: features contain NaN or inf")
        clips, spans = video_windows(
            features,
            float(duration),
            num_clips=self.config.num_clips,
            window=self.window,
            stride=self.stride,
        )
        self.video = EncodedVideo(
            name=name,
            duration=float(duration),
            features=features,
            clips=torch.from_numpy(clips).to(self.device),
            spans=spans,
            seconds=time.perf_counter() - t0,
        )
        return self.video

    def encode_feature_file(
        self, path: str | Path, *, duration: float, vid: str | None = None
    ) -> EncodedVideo:
        """Features from a file: a ``(T, D)`` ``.npy``, or one video ``vid`` of a folder of
        ``<vid>.npy`` or an HDF5 file in the layout of the run's feature type (I3D ``f[vid]``,
        C3D ``f[vid]['c3d_features']``)."""
        path = Path(path)
        if path.suffix == ".npy" and vid is None:
            check_input_file(path, "feature file")
            try:
                arr = np.load(path, allow_pickle=False)
            except Exception as exc:
                raise ValueError(
                    f"{path}: not a readable .npy array ({type(exc).__name__})"
                ) from None
            return self.encode_features(arr, duration=duration, name=str(path))
        if vid is None:
            raise ValueError(f"{path}: a feature folder or HDF5 file needs the video id (--vid)")
        store = open_features(path, feature_type=self.config.feature_type, check=False)
        if vid not in store:
            raise ValueError(f"{path}: no features of video {vid!r}")
        return self.encode_features(store[vid], duration=duration, name=f"{path}:{vid}")

    def _sentence(self, query: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        query = check_query(query)
        if self.config.cross_layers:
            states, mask = self.text.token_embeddings([query])
            sentence = self.text.mean_pool(states, mask).float()
            # the bench's token cache stores float16 token states
            words = states.to(torch.float16).float()
            return sentence.to(self.device), {"words": words, "word_mask": mask}
        return self.text.encode([query]).to(self.device), {}

    def predict(
        self, query: str, top_k: int = 5, *, video: EncodedVideo | None = None
    ) -> list[Moment]:
        """The ``top_k`` best moments of ``query`` in the encoded video (the last one encoded
        unless ``video``), ranked, after the model's NMS."""
        video = video or self.video
        if video is None:
            raise ValueError("no video encoded yet: call encode_video / encode_features first")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        sentence, words = self._sentence(query)
        return _predict_encoded(self, video, sentence, words, top_k)

    def predict_many(
        self, queries: Sequence[str], top_k: int = 5, *, video: EncodedVideo | None = None
    ) -> list[list[Moment]]:
        """:meth:`predict` for many queries: their sentences encoded in one batch (as the
        bench's sentence cache encodes them) and the grounding network run on many
        (query, window) pairs at once, so both costs are shared."""
        video = video or self.video
        if video is None:
            raise ValueError("no video encoded yet: call encode_video / encode_features first")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        texts = [check_query(q) for q in queries]
        if self.config.cross_layers:  # token states per query, as predict computes them
            return [self.predict(q, top_k, video=video) for q in texts]
        # batches of 16 similar-length sentences pad least for MiniLM on a CPU (measured
        # faster than 8, 32 or 64 by benchmarks/bench_predict.py's query set)
        sentences = self.text.encode(texts, batch_size=16).to(self.device)
        ranked = predict_windows_many(
            self.model,
            video.clips,
            video.spans,
            sentences,
            nms_thresh=self.config.nms_thresh,
            top_k=top_k,
        )
        return [_moments(r) for r in ranked]


def _predict_encoded(
    predictor: FeaturePredictor,
    video: EncodedVideo,
    sentence: torch.Tensor,
    words: dict[str, torch.Tensor],
    top_k: int,
) -> list[Moment]:
    ranked = predict_windows(
        predictor.model,
        video.clips,
        video.spans,
        sentence,
        nms_thresh=predictor.config.nms_thresh,
        top_k=top_k,
        **words,
    )
    return _moments(ranked)


def _moments(ranked: np.ndarray) -> list[Moment]:
    """``(K, 3) [start_s, end_s, score]`` rows as :class:`Moment` s."""
    return [Moment(float(s), float(e), float(c)) for s, e, c in ranked]


def predict_split(
    predictor: FeaturePredictor,
    queries: QuerySet,
    features: FeatureStore,
    *,
    top_k: int | None = None,
) -> dict[str, np.ndarray]:
    """The evaluator path with windows: ``{qid: (K, 3) [start_s, end_s, score]}`` for every
    query whose video has features, each video cut into the predictor's windows once
    (``predictor.window`` / ``stride``; ``window=None`` is the bench's fixed resampling and
    gives its predictions), ``top_k`` moments (default the model's). Score them with
    :func:`grounding.eval.evaluate`, e.g. ActivityNet's long videos at a fixed clip scale."""
    top_k = top_k or predictor.config.top_k
    out: dict[str, np.ndarray] = {}
    by_vid: dict[str, list] = {}
    for q in queries.queries:
        by_vid.setdefault(q.vid, []).append(q)
    for vid, qs in by_vid.items():
        if vid not in features:
            continue  # a miss for the evaluator, counted there
        video = predictor.encode_features(features[vid], duration=qs[0].duration, name=vid)
        for q in qs:
            sentence, words = predictor._sentence(q.sentence)
            out[q.qid] = predict_windows(
                predictor.model,
                video.clips,
                video.spans,
                sentence,
                nms_thresh=predictor.config.nms_thresh,
                top_k=top_k,
                **words,
            )
    return out


@dataclass(frozen=True)
class RunModels:
    """What a bench run folder holds for one model and seed.

    Attributes:
        grounding: the grounding checkpoint; recognizer: the recognizer checkpoint its
            features were extracted with (``None`` for given features).
        features: the feature file it trained on; attrs: that file's extraction settings.
        max_rows: feature rows of its longest video; data: the dataset folder (if recorded).
    """

    grounding: Path
    recognizer: Path | None
    features: Path
    attrs: dict[str, str]
    max_rows: int | None
    data: Path | None


def _finished_runs(folder: Path, prefix: str) -> list[Path]:
    out = []
    for d in sorted(folder.glob(f"{prefix}-*")) if folder.is_dir() else []:
        try:
            rec = json.loads((d / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and rec.get("finished") and (d / "checkpoint.pt").is_file():
            out.append(d)
    return out


def find_run_models(run: str | Path, *, model: str, seed: int) -> RunModels:
    """Locate ``model`` at ``seed`` in a bench run folder by its layout and files
    (module docstring); ``ValueError`` naming what is there when it is not."""
    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"run folder not found: {run}")
    stage = run / "grounding"
    dirs = _finished_runs(stage, f"{model}-s{seed}")
    if not dirs:
        have = sorted({d.name.rsplit("-", 1)[0] for d in _finished_runs(stage, "*")})
        raise ValueError(
            f"{run}: no finished grounding run of model {model!r} seed {seed} in {stage} "
            f"(it has: {', '.join(have) or 'none'})"
        )
    gdir = max(dirs, key=lambda d: (d / "metrics.json").stat().st_mtime)  # the newest
    record = json.loads((gdir / "metrics.json").read_text(encoding="utf-8"))
    features = Path(str(record.get("features", "")))
    if not features.exists():  # recorded relative to where the bench ran
        features = run / "features" / features.name
    if not features.exists():
        raise ValueError(f"{gdir}: the features it trained on ({record.get('features')}) are gone")
    attrs: dict[str, str] = {}
    max_rows = None
    if features.is_file() and features.suffix in (".h5", ".hdf5"):
        with h5py.File(features, "r") as f:
            attrs = {k: str(v) for k, v in f.attrs.items()}
            shapes = [f[k].shape for k in f if isinstance(f[k], h5py.Dataset)]
            max_rows = max((s[0] for s in shapes if len(s) == 2), default=None)
    recognizer, data = None, None
    if attrs.get("generator") == "grounding.extract":
        sha = attrs.get("checkpoint_sha", "")
        for d in _finished_runs(run / "recognition", f"{model}-s*"):
            if file_digest(d / "checkpoint.pt") == sha:
                recognizer = d / "checkpoint.pt"
                rec = json.loads((d / "metrics.json").read_text(encoding="utf-8"))
                data = Path(rec["data"]) if rec.get("data") else None
                break
        if recognizer is None:
            raise ValueError(
                f"{features}: extracted with recognizer checkpoint {sha}, which no finished "
                f"run in {run / 'recognition'} holds"
            )
    return RunModels(gdir / "checkpoint.pt", recognizer, features, attrs, max_rows, data)


def pose_beside(video: Path) -> Path | None:
    """The pose file of a video where the datasets keep it: ``<dir>/<vid>.npz``, or
    ``skeletons/<vid>.npz`` next to the video's folder (the synthetic layout) or in it."""
    for p in (
        video.with_suffix(".npz"),
        video.parent.parent / "skeletons" / f"{video.stem}.npz",
        video.parent / "skeletons" / f"{video.stem}.npz",
    ):
        if p.is_file():
            return p
    return None


class MomentPredictor(FeaturePredictor):
    """:class:`FeaturePredictor` plus the recognizer and feature pipeline that turn a video
    file into the clip features the grounding network was trained on.

    Args:
        pipeline: the clip feature pipeline (:func:`grounding.extract.clip_pipeline`).
        chunk_clips: clips decoded and computed at a time (memory).
        the rest: as :class:`FeaturePredictor`.
    """

    def __init__(
        self,
        *,
        pipeline: ClipPipeline,
        model: GroundingModel,
        config: GroundingTrainConfig,
        window: int | None = None,
        stride: int | None = None,
        device: torch.device | str = "cpu",
        chunk_clips: int = 16,
    ) -> None:
        super().__init__(model=model, config=config, window=window, stride=stride, device=device)
        if pipeline.config.model != config.model:
            raise ValueError(
                f"the recognizer is a {pipeline.config.model!r} model but the grounding "
                f"checkpoint was trained for {config.model!r}: give a matching pair"
            )
        dim = pipeline.feature_dim()
        if dim != config.in_dim:
            raise ValueError(
                f"the recognizer makes {dim}-dim {pipeline.kind} features but the grounding "
                f"checkpoint was trained on {config.in_dim}-dim features: give a matching pair"
            )
        self.pipeline, self.chunk_clips = pipeline, chunk_clips
        self.data: Path | None = None  # the dataset folder of a bench run

    @classmethod
    def from_checkpoints(
        cls,
        *,
        recognizer: str | Path,
        grounding: str | Path,
        kind: FeatureKind | str | None = None,
        clip_seconds: float = 1.0,
        input_size: int | None = None,
        segments: int | None = None,
        stream: str = "fused",
        person_context: float = 0.0,
        window: int | None = None,
        stride: int | None = None,
        device: str = "cpu",
        chunk_clips: int = 16,
    ) -> MomentPredictor:
        """From a recognizer + grounding checkpoint pair and the extraction settings the
        grounding network's features were made with (``grounding.extract``'s flags)."""
        dev = resolve_device(device)
        rec, rec_config = load_recognizer(Path(recognizer), device=dev)
        net, config = load_grounding(Path(grounding), device=dev)
        pipeline = clip_pipeline(
            rec,
            rec_config,
            data=Path("."),
            kind=kind,
            clip_seconds=clip_seconds,
            device=dev,
            input_size=input_size,
            segments=segments,
            stream=stream,
            person_context=person_context,
        )
        predictor = cls(
            pipeline=pipeline,
            model=net,
            config=config,
            window=window,
            stride=stride,
            device=dev,
            chunk_clips=chunk_clips,
        )
        _check_feature_record(Path(grounding), Path(recognizer), clip_seconds)
        return predictor

    @classmethod
    def from_run(  # type: ignore[override]
        cls,
        run: str | Path,
        *,
        model: str = "ours",
        seed: int = 0,
        window: int | None = None,
        stride: int | None = None,
        device: str = "cpu",
        chunk_clips: int = 16,
    ) -> MomentPredictor:
        """``model`` at ``seed`` of a bench run folder, with the extraction settings recorded
        in its feature file; ``window`` defaults to the longest video of that file."""
        found = find_run_models(run, model=model, seed=seed)
        if found.recognizer is None:
            raise ValueError(
                f"{found.features}: the {model} run grounds given features, not videos; use "
                "FeaturePredictor.from_run (CLI: --features)"
            )
        a = found.attrs
        stored = json.loads(a.get("recognition_config", "{}"))
        person = "persons" in a
        p = cls.from_checkpoints(
            recognizer=found.recognizer,
            grounding=found.grounding,
            kind=FeatureKind.PERSON if person else _plain_kind(found.recognizer),
            clip_seconds=float(a["clip_seconds"]),
            input_size=stored.get("input_size"),
            segments=stored.get("segments"),
            stream=a.get("stream", "fused"),
            person_context=float(a.get("persons", 0.0)),
            window=window if window is not None else found.max_rows,
            stride=stride,
            device=device,
            chunk_clips=chunk_clips,
        )
        p.data = found.data
        return p

    def encode_video(
        self, path: str | Path, pose: str | Path | None = None, *, progress: bool = False
    ) -> EncodedVideo:
        """Decode ``path``, compute flow and the clip features once (pose file: ``pose``, else
        beside the video, :func:`pose_beside`; needed by person and skeleton models), cut the
        windows; the video later queries run on (returned too)."""
        t0 = time.perf_counter()
        path = Path(path)
        info = video_info(path)  # missing or undecodable: an error naming the file
        needs_pose = self.pipeline.kind in (FeatureKind.PERSON, FeatureKind.SKELETON)
        pose_path = Path(pose) if pose is not None else (pose_beside(path) if needs_pose else None)
        if needs_pose and pose_path is None:
            raise FileNotFoundError(
                f"{path}: {self.name} grounds {self.pipeline.kind} features, which need the "
                f"video's pose file (joints (T, M, 17, 3) .npz); none beside it "
                f"({path.with_suffix('.npz').name} or ../skeletons/{path.stem}.npz): pass --pose"
            )
        try:
            feats = video_clip_features(
                self.pipeline, path, pose=pose_path, chunk_clips=self.chunk_clips, progress=progress
            )
        except (ValueError, OSError) as exc:
            msg = str(exc)
            if "fewer than one flow stack" in msg and str(path) not in msg:
                msg = f"{path}: too short: {msg}"
            raise type(exc)(msg) from None
        except Exception as exc:  # anything else a broken input provokes: name the input
            raise VideoError(path, f"cannot be read ({type(exc).__name__}: {exc})") from None
        video = self.encode_features(feats, duration=info.duration, name=str(path))
        self.video = replace(video, seconds=time.perf_counter() - t0)
        return self.video


def _plain_kind(recognizer: Path) -> FeatureKind:
    """The non-person kind a recognizer's features are made as (frame or skeleton)."""
    from grounding.extract import read_recognition_config
    from grounding.models.recognizer import recognizer_spec

    declared = recognizer_spec(read_recognition_config(recognizer).model).features
    return FeatureKind.FRAME if declared == FeatureKind.PERSON else declared


def _check_feature_record(grounding: Path, recognizer: Path, clip_seconds: float) -> None:
    """When the grounding run's folder records its feature file: the file's recognizer and
    clip length must be the ones given (else the pair was not trained together)."""
    try:
        record = json.loads((grounding.parent / "metrics.json").read_text(encoding="utf-8"))
        features = Path(record["features"])
        if not features.is_file():
            features = grounding.parent.parent.parent / "features" / features.name
        with h5py.File(features, "r") as f:
            attrs = {k: str(v) for k, v in f.attrs.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return  # nothing recorded to check against
    if attrs.get("generator") != "grounding.extract":
        return
    if attrs.get("checkpoint_sha") != file_digest(recognizer):
        raise ValueError(
            f"{grounding} was trained on features of another recognizer than {recognizer} "
            f"(digest {attrs.get('checkpoint_sha')}): give the pair trained together"
        )
    if float(attrs.get("clip_seconds", clip_seconds)) != float(clip_seconds):
        raise ValueError(
            f"{grounding} was trained on clips of {attrs['clip_seconds']} s, not "
            f"{clip_seconds} s: the clip length must match (--clip-seconds)"
        )


# --------------------------------------------------------------------------------------------
# ground truth and the picture


def ground_truth(video: Path, query: str) -> list[tuple[float, float]] | None:
    """The annotated windows of ``query`` in ``video`` when the video belongs to a dataset
    folder with Charades-STA files (the synthetic dataset), else ``None``."""
    root = video.parent.parent
    if video.parent.name != "videos" or not (root / "charades_sta_test.txt").is_file():
        return None
    wanted = " ".join(query.split()).lower()
    found: list[tuple[float, float]] = []
    for split in ("train", "test"):
        try:
            queries = load_split("charades", root, split).queries
        except (ValueError, OSError):
            continue
        for q in queries:
            if q.vid == video.stem and " ".join(q.sentence.split()).lower() == wanted:
                found.extend(q.windows)
    return found or None


def _iou(a: Moment, gt: Sequence[tuple[float, float]]) -> float:
    best = 0.0
    for s, e in gt:
        inter = max(0.0, min(a.end, e) - max(a.start, s))
        union = max(a.end, e) - min(a.start, s)
        best = max(best, inter / union if union > 0 else 0.0)
    return best


def plot_predictions(
    path: Path,
    *,
    video: Path,
    duration: float,
    results: Sequence[tuple[str, list[Moment], list[tuple[float, float]] | None]],
    title: str,
    n_frames: int = 8,
) -> Path:
    """A PNG: a strip of ``n_frames`` frames of the video at their times, then one timeline
    per query with its ground truth (when annotated) and its top-k moments, darker for a
    higher score, labelled with rank and score (and IoU with the ground truth)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    info = video_info(video)
    idx = np.linspace(0, info.n_frames - 1, n_frames + 2)[1:-1].round().astype(int)
    frames = read_frames(video, idx)
    rows = len(results)
    fig = plt.figure(figsize=(11, 1.9 + 1.25 * rows))
    grid = fig.add_gridspec(rows + 1, 1, height_ratios=[1.5] + [1] * rows, hspace=0.9)
    strip = fig.add_subplot(grid[0])
    strip.imshow(np.concatenate(list(frames), axis=1))
    w = frames.shape[2]
    strip.set_xticks([w * (k + 0.5) for k in range(len(idx))])
    strip.set_xticklabels([f"{i / info.fps:.1f} s" for i in idx], fontsize=8)
    strip.set_yticks([])
    strip.set_title(title, fontsize=10)
    cmap = plt.get_cmap("Blues")
    for r, (query, moments, gt) in enumerate(results):
        ax = fig.add_subplot(grid[r + 1])
        ax.set_xlim(0, duration)
        n = len(moments)
        ax.set_ylim(-0.5, n + 0.5)
        if gt:
            for s, e in gt:
                ax.axvspan(s, e, color="tab:green", alpha=0.25, lw=0)
            ax.barh(n, [e - s for s, e in gt], left=[s for s, _ in gt], height=0.7,
                    color="tab:green", label="ground truth")  # fmt: skip
        for k, m in enumerate(moments):
            y = n - 1 - k
            ax.barh(y, m.end - m.start, left=m.start, height=0.7,
                    color=cmap(0.35 + 0.65 * m.score), edgecolor="black", lw=0.5)  # fmt: skip
            label = f"{m.score:.2f}" + (f", IoU {_iou(m, gt):.2f}" if gt else "")
            ax.text(m.end + duration * 0.005, y, label, va="center", fontsize=7)
        ax.set_yticks(range(n + 1), [f"#{n - k}" for k in range(n)] + ["GT"], fontsize=7)
        gt_note = "" if gt else " (no annotation)"
        ax.set_title(textwrap.shorten(f'"{query}"', 120) + gt_note, fontsize=9, loc="left")
        ax.set_xlabel("seconds", fontsize=8)
        ax.tick_params(labelsize=8)
    handles = [
        plt.Rectangle((0, 0), 1, 1, color="tab:green", alpha=0.8),
        plt.Rectangle((0, 0), 1, 1, color=cmap(0.8)),
    ]
    fig.legend(
        handles,
        ["ground truth", "predicted moment (darker: higher score)"],
        loc="upper right",
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.05, right=0.88, top=1 - 0.45 / height, bottom=0.5 / height)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------
# the command


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m grounding.predict",
        description="Ground sentences in a video (or in clip features) with a trained model: "
        "the video is encoded once, then every --query is answered from it.",
    )
    src = p.add_argument_group("model (a bench run folder, or checkpoints)")
    src.add_argument("--run", type=Path, help="bench run folder, e.g. runs/synthetic-smoke")
    src.add_argument("--model", default="ours", help="registered model of the run (default ours)")
    src.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")
    src.add_argument("--grounding", type=Path, help="grounding checkpoint.pt (instead of --run)")
    src.add_argument("--recognizer", type=Path, help="recognizer checkpoint.pt (with --grounding)")
    src.add_argument("--clip-seconds", type=float, default=1.0, help="with --recognizer")
    src.add_argument("--person-context", type=float, default=0.0, help="with --recognizer")
    inp = p.add_argument_group("input (a video, or clip features)")
    inp.add_argument("--video", type=Path, help="the video file")
    inp.add_argument("--pose", type=Path, help="its pose file (default: beside the video)")
    inp.add_argument("--features", type=Path, help="(T, D) .npy, or a folder / HDF5 with --vid")
    inp.add_argument("--vid", help="video id in --features")
    inp.add_argument("--duration", type=float, help="seconds the --features cover")
    inp.add_argument(
        "--gt",
        type=Path,
        help="a ground-truth split (file or bundled name): answer its every query from "
        "--features in windows and write them to --out (for grounding.evaluate)",
    )
    inp.add_argument("--out", type=Path, help="with --gt: the Moment-DETR jsonl to write")
    inp.add_argument(
        "--feature-type", default="i3d", help="with --gt: layout of --features (i3d, vgg, c3d)"
    )
    p.add_argument("--query", action="append", default=[], help="a sentence (repeatable)")
    p.add_argument("--top-k", type=int, default=5, help="moments per query (default 5)")
    p.add_argument("--window", type=int, help="feature rows per window (default: training's)")
    p.add_argument("--stride", type=int, help="rows between windows (default half a window)")
    p.add_argument("--json", type=Path, help="write the moments and timings here")
    p.add_argument("--plot", type=Path, help="PNG: frames, timeline, top-k moments, GT")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda:0")
    add_import_argument(p)
    return p


def _predictor(args: argparse.Namespace) -> FeaturePredictor:
    common = {"window": args.window, "stride": args.stride, "device": args.device}
    if args.run is not None:
        if args.features is not None:
            return FeaturePredictor.from_run(args.run, model=args.model, seed=args.seed, **common)
        return MomentPredictor.from_run(args.run, model=args.model, seed=args.seed, **common)
    if args.grounding is None:
        raise ValueError("give --run RUN_DIR, or --grounding CHECKPOINT (and --recognizer)")
    if args.features is not None:
        return FeaturePredictor.from_checkpoint(args.grounding, **common)
    if args.recognizer is None:
        raise ValueError("a --video needs --recognizer CHECKPOINT with --grounding")
    return MomentPredictor.from_checkpoints(
        recognizer=args.recognizer,
        grounding=args.grounding,
        clip_seconds=args.clip_seconds,
        person_context=args.person_context,
        **common,
    )


def run_split(args: argparse.Namespace) -> dict:
    """``--gt``: every query of a split answered from ``--features`` with the predictor's
    windows, written as Moment-DETR jsonl; returns a summary."""
    if args.features is None or args.out is None or args.video is not None or args.query:
        raise ValueError("--gt takes --features and --out (no --video, no --query)")
    if args.out.exists():
        raise FileExistsError(f"--out {args.out} exists: give a new file name")
    gt = guess_gt(args.gt)
    store = open_features(args.features, feature_type=args.feature_type)
    import_models(args.imports)
    predictor = _predictor(args)
    t0 = time.perf_counter()
    preds = predict_split(predictor, gt, store, top_k=args.top_k)
    seconds = time.perf_counter() - t0
    write_predictions(args.out, preds)
    missing = len(gt) - len(preds)
    window = "the whole video" if predictor.window is None else f"{predictor.window} rows"
    print(
        f"{len(preds)} of {len(gt)} queries of {gt.source or args.gt} answered in {seconds:.1f} s"
        f" (windows of {window}); {missing} without features (misses for the evaluator)"
    )
    print(
        f"wrote {args.out}; score it: python -m grounding.evaluate --gt {args.gt} --pred {args.out}"
    )
    return {"answered": len(preds), "queries": len(gt), "without_features": missing}


def run(args: argparse.Namespace) -> dict:
    """Encode the input, answer every query, print the tables; returns the JSON record."""
    if args.gt is not None:
        return run_split(args)
    if (args.video is None) == (args.features is None):
        raise ValueError("give exactly one of --video and --features")
    if not args.query:
        raise ValueError("give at least one --query")
    queries = [check_query(q) for q in args.query]
    if args.top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {args.top_k}")
    if args.video is not None:
        check_input_file(args.video, "video")
        video_info(args.video)  # undecodable: fail before the models load
    import_models(args.imports)
    predictor = _predictor(args)
    if args.video is not None:
        assert isinstance(predictor, MomentPredictor)
        video = predictor.encode_video(args.video, args.pose, progress=True)
    else:
        if args.duration is None or not args.duration > 0:
            raise ValueError("--features needs --duration SECONDS > 0 (what they cover)")
        video = predictor.encode_feature_file(args.features, duration=args.duration, vid=args.vid)
    predictor.text  # noqa: B018 (load the sentence encoder outside the per-query timing)
    predictor.predict(queries[0], 1)  # warm-up
    minutes = video.duration / 60
    print(
        f"{video.name}: {video.duration:.1f} s, {len(video.features)} clips, "
        f"{video.windows} window(s) of {predictor.config.num_clips} clips; model "
        f"{predictor.name}; encoded in {video.seconds:.2f} s "
        f"({video.seconds / max(minutes, 1e-9):.2f} s per video-minute)"
    )
    record: dict = {
        "input": video.name,
        "duration": video.duration,
        "model": predictor.name,
        "clips": len(video.features),
        "windows": video.windows,
        "encode_seconds": round(video.seconds, 3),
        "queries": [],
    }
    results = []
    t0 = time.perf_counter()
    answers = predictor.predict_many(queries, args.top_k)  # sentences encoded in one batch
    ms = 1000 * (time.perf_counter() - t0) / len(queries)
    record["ms_per_query"] = round(ms, 2)
    for q, moments in zip(queries, answers, strict=True):
        gt = ground_truth(args.video, q) if args.video is not None else None
        results.append((q, moments, gt))
        rows = []
        for k, m in enumerate(moments):
            rows.append([k + 1, f"{m.start:.2f}", f"{m.end:.2f}", f"{m.score:.3f}"])
            if gt:
                rows[-1].append(f"{_iou(m, gt):.2f}")
        print(f'\n"{q}"')
        headers = ["rank", "start (s)", "end (s)", "score"] + (["IoU with GT"] if gt else [])
        print(tabulate(rows, headers=headers))
        record["queries"].append(
            {
                "query": q,
                "moments": [[m.start, m.end, m.score] for m in moments],
                "ground_truth": gt,
            }
        )
    print(
        f"\n{len(queries)} queries answered in {ms * len(queries):.1f} ms ({ms:.1f} ms per "
        "query; their sentences encoded together)"
    )
    if args.json is not None:
        write_json_atomic(args.json, record)
        print(f"\nwrote {args.json}")
    if args.plot is not None:
        if args.video is None:
            raise ValueError("--plot draws the video's frames: it needs --video")
        plot_predictions(
            args.plot,
            video=args.video,
            duration=video.duration,
            results=results,
            title=f"{args.video.name} ({video.duration:.1f} s), model {predictor.name}: "
            f"top-{args.top_k} moments per query",
        )
        print(f"wrote {args.plot}")
    return record


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
