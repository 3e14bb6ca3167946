"""grounding.speed: latency statistics, end-to-end FPS bookkeeping, recognition speed, report
and CLI, on tiny models (width 0.25, 64 px) and a 2-video synthetic dataset."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
import torch

from grounding.data.synthetic import generate_dataset
from grounding.data.video import video_info
from grounding.extract import clip_pipeline, extract_features
from grounding.speed import (
    DeviceError,
    LatencyStats,
    PeakMemory,
    PipelineConfig,
    SpeedSettings,
    ground_video,
    measure_latency,
    measure_pipeline,
    measure_query_latency,
    measure_recognition,
    recognizer_input,
    resolve_device,
    run_speed,
    synthetic_queries,
)
from grounding.speed.__main__ import main
from grounding.speed.suite import build_speed_models

SIZE = 64
CLIPS = 4  # N of the grounding model
FLOW_LEN = 5
SEGMENTS = 3
PIPELINE = PipelineConfig(clip_seconds=4.0, top_k=3)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a shared CPU, more threads than free cores can be 100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("speed") / "synthetic"
    generate_dataset(root, n_videos=2, seed=0, size=SIZE, progress=False)
    return root


@pytest.fixture(scope="module")
def models():
    return build_speed_models(
        models=("ours", "dgcn"),
        width_mult=0.25,
        input_size=SIZE,
        num_classes=4,
        num_clips=CLIPS,
        segments=SEGMENTS,
        skeleton_frames=8,
    )


def _pipeline(models, dataset, name="ours", **kw):
    net, config = models.recognizers[name]
    return clip_pipeline(net.eval(), config, data=dataset, clip_seconds=4.0, **kw)


class FakeEncoder:
    """``encode([text]) -> (1, 384)`` normalised, with a measurable cost."""

    def encode(self, sentences):
        time.sleep(0.001)
        return torch.nn.functional.normalize(torch.ones(len(sentences), 384), dim=-1)


# ---- timing -------------------------------------------------------------------------------


def test_measure_latency_stats_are_positive_and_ordered():
    calls = []
    stats = measure_latency(lambda: (calls.append(1), time.sleep(0.002)), warmup=2, iters=5)
    assert len(calls) == 7
    assert stats.n == 5
    assert stats.p50_ms >= 2.0 and stats.min_ms >= 2.0
    assert stats.p95_ms >= stats.p50_ms >= stats.min_ms
    assert stats.mean_ms > 0 and stats.per_second == pytest.approx(1e3 / stats.p50_ms)


def test_measure_latency_budget_and_bad_arguments():
    stats = measure_latency(lambda: time.sleep(0.01), warmup=0, iters=50, max_seconds=0.02)
    assert 1 <= stats.n < 50
    with pytest.raises(ValueError, match="iters >= 1"):
        measure_latency(lambda: None, warmup=0, iters=0)
    with pytest.raises(ValueError, match="no timing samples"):
        LatencyStats.from_seconds([])
    with pytest.raises(ValueError, match="finite"):
        LatencyStats.from_seconds([0.1, math.nan])


def test_measure_latency_runs_in_inference_mode():
    seen = []
    measure_latency(lambda: seen.append(torch.is_inference_mode_enabled()), warmup=1, iters=1)
    assert seen == [True, True]


def test_resolve_device_auto_and_cuda_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu-ish")


def test_cuda_code_path_synchronises_and_reads_allocator(monkeypatch):
    """The CUDA branches, without a GPU: torch.cuda calls are recorded, not run."""
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: calls.append("sync"))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda d=None: calls.append("reset"))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d=None: 2**20)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d=None: 5 * 2**20)
    dev = resolve_device("cuda")
    assert dev.type == "cuda"
    stats = measure_latency(lambda: calls.append("fn"), warmup=1, iters=2, device=dev)
    assert stats.n == 2
    assert calls == ["fn", "sync", "sync", "fn", "sync", "sync", "fn", "sync"]
    calls.clear()
    with PeakMemory(dev) as mem:
        pass
    assert calls == ["sync", "reset", "sync"]
    assert mem.result.peak_mb == 5.0 and mem.result.delta_mb == 4.0
    assert "max_memory_allocated" in mem.result.kind


def test_peak_memory_cpu_reports_process_peak():
    with PeakMemory(torch.device("cpu")) as mem:
        block = torch.ones(8 * 2**20 // 4)  # 8 MiB
        del block
    assert mem.result is not None
    assert mem.result.peak_mb > 0 and mem.result.delta_mb >= 0
    assert "process peak" in mem.result.kind


# ---- end to end ---------------------------------------------------------------------------


def test_ground_video_counts_and_stages(dataset, models):
    video, sentence = synthetic_queries(dataset, 1)[0]
    pipeline = _pipeline(models, dataset)
    assert pipeline.kind == "person"  # ours: the bench's person-centric features
    run = ground_video(
        video.stem,
        sentence,
        pipeline=pipeline,
        grounding=models.grounding["ours"],
        config=PIPELINE,
        text_encoder=FakeEncoder(),
    )
    c = run.counts
    info = video_info(video)
    assert c.n_frames == info.n_frames
    assert c.clips == math.ceil(info.n_frames / round(4.0 * info.fps))
    # every clip but the last (possibly shorter than one stack) has S distinct snippets
    assert (c.clips - 1) * SEGMENTS <= c.rgb_frames <= c.clips * SEGMENTS
    assert c.flow_fields >= (c.clips - 1) * SEGMENTS * FLOW_LEN
    assert c.flow_fields < c.flow_frames <= c.clips * SEGMENTS * (FLOW_LEN + 1)
    assert c.processed == c.rgb_frames + c.flow_frames
    assert all(run.stages[s] > 0 for s in ("inputs", "backbone", "text", "head"))
    assert run.seconds == pytest.approx(sum(run.stages.values()))
    assert run.moments.shape == (3, 3)
    assert (run.moments[:, 0] < run.moments[:, 1]).all()


def test_the_timed_features_are_the_extracted_ones(dataset, models, tmp_path):
    """One inference path: the speed suite's features of a video are extract's, bit for bit."""
    from dataclasses import asdict

    import h5py
    import numpy as np

    from grounding.models.checkpoint import save_checkpoint

    video, _ = synthetic_queries(dataset, 1)[0]
    net, config = models.recognizers["ours"]
    ckpt = tmp_path / "ours.pt"
    save_checkpoint(ckpt, model=net, config=config, step=0, epoch=0)
    out = tmp_path / "f.h5"
    extract_features(
        data=dataset, checkpoint=ckpt, out=out, clip_seconds=4.0, device="cpu", progress=False
    )
    timed = _pipeline(models, dataset)(video.stem)
    with h5py.File(out, "r") as f:
        np.testing.assert_allclose(f[video.stem][()], timed, rtol=1e-5, atol=1e-6)
        assert json.loads(f.attrs["recognition_config"]) == json.loads(json.dumps(asdict(config)))


def test_measure_pipeline_fps_definitions_match_counts(dataset, models):
    pairs = synthetic_queries(dataset, 2)
    assert len(pairs) == 2
    sentences = [torch.nn.functional.normalize(torch.ones(1, 384), dim=-1)] * 2
    speed = measure_pipeline(
        [v.stem for v, _ in pairs],
        sentences,
        pipeline=_pipeline(models, dataset),
        grounding=models.grounding["ours"],
        config=PIPELINE,
        warmup=1,
        iters=2,
    )
    frames = sum(video_info(v).n_frames for v, _ in pairs)
    assert speed.runs == 4 and speed.videos == 2
    assert speed.frames_covered == 2 * frames
    assert speed.frames_processed == speed.rgb_frames + speed.flow_frames
    assert speed.rgb_frames > 0 and speed.clips >= 4
    assert speed.fps_covered == pytest.approx(speed.frames_covered / speed.seconds)
    assert speed.fps_processed == pytest.approx(speed.frames_processed / speed.seconds)
    assert speed.fps_covered > speed.fps_processed > 0  # sparse sampling of long videos
    assert speed.stage_ms["text"] == 0.0  # cached embeddings
    assert speed.per_video.p95_ms >= speed.per_video.p50_ms > 0
    assert sum(speed.stage_ms.values()) == pytest.approx(speed.per_video.mean_ms)
    d = speed.to_dict()
    assert "wall seconds" in d["fps_covered_definition"]
    assert "decoded for flow" in d["fps_processed_definition"]


# ---- query and recognition ---------------------------------------------------------------


def test_query_latency(models):
    q = measure_query_latency(models.grounding["ours"], warmup=1, iters=3)
    assert q.latency.n == 3 and q.latency.p95_ms >= q.latency.p50_ms > 0
    assert q.params > 0 and q.gflops > 0 and q.num_clips == CLIPS
    assert q.in_dim == _pipeline(models, Path()).feature_dim()
    assert models.grounding["ours"].training  # mode restored


def test_recognition_speed_and_scaling(models):
    recs = [recognizer_input(n, net, c) for n, (net, c) in models.recognizers.items()]
    for rec in recs:
        r = measure_recognition(rec, warmup=1, iters=2, samples=(1, 2, 4))
        assert sorted(r.scaling) == [1, 2, 4]
        assert all(s.p95_ms >= s.p50_ms > 0 for s in r.scaling.values())
        assert r.clips_per_s == pytest.approx(1e3 / r.latency.p50_ms)
        assert r.fps == pytest.approx(r.clips_per_s * r.frames_per_clip)
        assert r.params > 0 and r.gflops_per_clip > 0
        json.dumps(r.to_dict(), allow_nan=False)
    ours = recs[0]
    assert ours.frames_per_clip == SEGMENTS * (1 + FLOW_LEN)
    rgb, flow = ours.make_input(3)
    shape = (3, SEGMENTS)
    assert rgb.shape == (*shape, 3, SIZE, SIZE) and flow.shape == (*shape, 10, SIZE, SIZE)
    assert recs[1].make_input(2)[0].shape == (2, 3, 8, 17, 1)


# ---- report and CLI -----------------------------------------------------------------------


def test_run_speed_report_is_json_safe(dataset, models, tmp_path):
    settings = SpeedSettings(
        warmup=0,
        iters=1,
        query_iters=2,
        samples=(1, 2),
        pipeline=PIPELINE,
    )
    report = run_speed(
        models,
        videos=synthetic_queries(dataset, 1),
        settings=settings,
        device="cpu",
        text_encoder=FakeEncoder(),
        progress=False,
    )
    assert report.text is not None and report.pipeline is not None
    assert report.pipeline.stage_ms["text"] > 0
    assert set(report.memory) == {"query", "end_to_end", "recognition ours", "recognition dgcn"}
    doc = report.to_dict()
    json.dumps(doc, allow_nan=False)
    out = report.write_json(tmp_path / "sub" / "speed.json")
    assert json.loads(out.read_text()) == json.loads(json.dumps(doc))
    assert doc["runtime"]["device"] == "cpu" and doc["runtime"]["torch_threads"] >= 1
    text = report.tables()
    for needle in ("FPS covered", "FPS processed", "p95 ms", "n=2 (ms)", "Peak memory"):
        assert needle in text


def test_cli_runs_on_cpu(dataset, tmp_path, capsys):
    out = tmp_path / "speed.json"
    args = ["--device", "cpu", "--data", str(dataset), "--json", str(out), "--no-text"]
    args += ["--width-mult", "0.25", "--input-size", str(SIZE), "--num-clips", "4"]
    args += ["--warmup", "0", "--iters", "1", "--query-iters", "2", "--videos", "1"]
    args += ["--samples", "1,2", "--segments", "1", "--threads", "1", "--clip-seconds", "8"]
    assert main(args) == 0
    assert torch.get_num_threads() == 1  # restored to the fixture's setting
    printed = capsys.readouterr().out
    assert "video frames spanned / wall seconds" in printed
    assert "decoded for flow" in printed
    doc = json.loads(out.read_text())
    assert doc["settings"]["input_size"] == SIZE and doc["settings"]["size"] == "cpu"
    assert [r["name"] for r in doc["recognition"]] == ["ours", "gtn", "dgcn"]
    assert doc["end_to_end"]["fps_covered"] == pytest.approx(
        doc["end_to_end"]["frames_covered"] / doc["end_to_end"]["seconds"]
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_cli_cuda_without_cuda_is_a_clear_error(capsys):
    assert main(["--device", "cuda", "--no-text"]) == 2
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and "--device cpu" in err


def test_cli_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["--samples", "0,2"])
    assert main(["--iters", "0", "--device", "cpu"]) == 2
    assert "--iters must be >= 1, got 0" in capsys.readouterr().err
