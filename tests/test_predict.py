"""grounding.predict: the predictor API and CLI, long-video windows, bad input.

Fast tests build a run folder of untrained (random-weight) checkpoints over a few tiny videos
written here; the slow test trains the tiny bench and compares the predictor's top-1 moments
with the predictions the bench's grounding evaluation wrote."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from grounding.data.moment_detr import read_predictions
from grounding.extract import extract_features
from grounding.models.checkpoint import save_checkpoint
from grounding.models.grounding_model import (
    predict_windows,
    predict_windows_many,
    video_windows,
    window_starts,
)
from grounding.models.recognizer import RecognitionConfig, build_recognizer
from grounding.predict import FeaturePredictor, Moment, MomentPredictor, main
from grounding.train.grounding import GroundingTrainConfig, build_network

FPS = 12


def write_video(path: Path, n_frames: int, *, size: int = 48, seed: int = 0) -> Path:
    """A square moving over noise: ``n_frames`` frames at ``FPS``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (size, size))
    for i in range(n_frames):
        img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        x = (3 * i) % (size - 10)
        img[10:20, x : x + 10] = (200, 50, 50)
        out.write(img)
    out.release()
    return path


def write_pose(path: Path, n_frames: int, *, size: int = 48) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    joints = np.zeros((n_frames, 1, 17, 3), np.float32)
    joints[..., 0] = size / 2 + rng.uniform(-4, 4, (n_frames, 1, 17))
    joints[..., 1] = np.linspace(size * 0.3, size * 0.8, 17)[None, None]
    joints[..., 2] = 1.0
    np.savez(path, joints=joints, fps=np.float32(FPS))
    return path


def recognition_config(model: str) -> RecognitionConfig:
    config = RecognitionConfig(
        model=model,
        classes=("a", "b", "c"),
        segments=2,
        input_size=32,
        width_mult=0.25,
        skeleton_frames=8,
    )
    config.validate()
    return config


def grounding_config(model: str, in_dim: int, num_clips: int = 8) -> GroundingTrainConfig:
    return GroundingTrainConfig(
        dataset="charades",
        train_split="train",
        test_split="test",
        feature_type="i3d",
        in_dim=in_dim,
        model=model,
        num_clips=num_clips,
        hidden_dim=32,
        heads=2,
        map_dim=16,
        head_layers=1,
        head_kernel=3,
    )


def make_run(root: Path, data: Path, model: str, *, num_clips: int = 8) -> Path:
    """A bench-layout run folder of untrained checkpoints for ``model``, seed 0."""
    torch.manual_seed(0)
    rdir = root / "recognition" / f"{model}-s0-aaaa"
    rdir.mkdir(parents=True)
    rconf = recognition_config(model)
    save_checkpoint(
        rdir / "checkpoint.pt", model=build_recognizer(rconf), step=0, epoch=0, config=rconf
    )
    (rdir / "metrics.json").write_text(json.dumps({"finished": True, "data": str(data)}))
    feats = root / "features" / f"{model}-bbbb.h5"
    feats.parent.mkdir(parents=True, exist_ok=True)
    extract_features(
        data=data, checkpoint=rdir / "checkpoint.pt", out=feats, device="cpu", progress=False
    )
    import h5py

    with h5py.File(feats, "r") as f:
        dim = next(iter(f.values())).shape[1]
    gdir = root / "grounding" / f"{model}-s0-cccc"
    gdir.mkdir(parents=True)
    gconf = grounding_config(model, dim, num_clips)
    save_checkpoint(
        gdir / "checkpoint.pt", model=build_network(gconf), step=0, epoch=0, config=gconf
    )
    (gdir / "metrics.json").write_text(json.dumps({"finished": True, "features": str(feats)}))
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A dataset folder of two short videos with pose files, and run folders for ``ours``
    (frame-level: no person context recorded... person kind by its registry entry) and
    ``gtn`` (skeleton)."""
    base = tmp_path_factory.mktemp("predict")
    data = base / "data"
    for k, n in enumerate((40, 52)):
        write_video(data / "videos" / f"v{k}.mp4", n, seed=k)
        write_pose(data / "skeletons" / f"v{k}.npz", n)
    runs = base / "runs"
    make_run(runs, data, "ours")
    make_run(runs, data, "gtn")
    return {"base": base, "data": data, "runs": runs}


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# --------------------------------------------------------------------------------------------
# windows


def test_window_starts_cover_every_row():
    assert window_starts(5, window=8, stride=4).tolist() == [0]
    assert window_starts(20, window=8, stride=4).tolist() == [0, 4, 8, 12]
    assert window_starts(21, window=8, stride=4).tolist() == [0, 4, 8, 12, 13]
    with pytest.raises(ValueError, match="window and stride"):
        window_starts(5, window=0, stride=1)


def test_one_window_is_the_fixed_resampling():
    """A video no longer than the window gives exactly GroundingModel.predict's moments."""
    torch.manual_seed(0)
    net = build_network(grounding_config("ours", 6)).eval()
    feats = np.random.default_rng(0).standard_normal((13, 6)).astype(np.float32)
    sentence = torch.randn(1, 384)
    clips, spans = video_windows(feats, 26.0, num_clips=8)
    assert clips.shape == (1, 8, 6) and spans.tolist() == [[0.0, 26.0]]
    got = predict_windows(net, torch.from_numpy(clips), spans, sentence, top_k=5)
    want = net.predict(torch.from_numpy(clips), sentence, [26.0], top_k=5)[0]
    np.testing.assert_array_equal(got, want)


def test_windows_put_moments_in_video_time():
    torch.manual_seed(0)
    net = build_network(grounding_config("ours", 6)).eval()
    feats = np.random.default_rng(0).standard_normal((100, 6)).astype(np.float32)
    clips, spans = video_windows(feats, 200.0, num_clips=8, window=16)
    assert clips.shape == (12, 8, 6)  # starts 0, 8, ..., 80 and 84
    assert spans[0].tolist() == [0.0, 32.0] and spans[-1].tolist() == [168.0, 200.0]
    got = predict_windows(net, torch.from_numpy(clips), spans, torch.randn(384), top_k=10)
    assert len(got) == 10 and (np.diff(got[:, 2]) <= 0).all()
    assert (got[:, 0] >= 0).all() and (got[:, 1] <= 200.0).all()
    assert (got[:, 1] - got[:, 0] <= 32.0 + 1e-9).all()  # at most one window long


@pytest.mark.parametrize("batch_rows", [1, 12, 25, 512])
def test_many_sentences_in_batches_rank_as_one_at_a_time(batch_rows):
    """The (query, window) pairs batched in any chunking give each query's own ranking."""
    torch.manual_seed(0)
    net = build_network(grounding_config("ours", 6)).eval()
    feats = np.random.default_rng(0).standard_normal((40, 6)).astype(np.float32)
    clips, spans = video_windows(feats, 80.0, num_clips=8, window=16)
    clips_t, sentences = torch.from_numpy(clips), torch.randn(7, 384)
    got = predict_windows_many(net, clips_t, spans, sentences, top_k=5, batch_rows=batch_rows)
    assert len(got) == 7
    for s, many in zip(sentences, got, strict=True):
        one = predict_windows(net, clips_t, spans, s, top_k=5)
        np.testing.assert_array_equal(many[:, :2], one[:, :2])
        np.testing.assert_allclose(many[:, 2], one[:, 2], rtol=1e-5)


# --------------------------------------------------------------------------------------------
# the predictor on videos


@pytest.mark.parametrize("model", ["ours", "gtn"])
def test_predictor_features_are_the_runs_features(tiny, model):
    """encode_video computes the feature file's numbers (the bench's feature path)."""
    import h5py

    p = MomentPredictor.from_run(tiny["runs"], model=model, seed=0, device="cpu")
    assert p.window == 5  # the longest video of the feature file: 52 frames / 12 fps -> 5 clips
    v = p.encode_video(tiny["data"] / "videos" / "v1.mp4")  # pose found beside it
    with h5py.File(next((tiny["runs"] / "features").glob(f"{model}-*.h5")), "r") as f:
        np.testing.assert_allclose(v.features, f["v1"][:], atol=1e-5)
    assert v.windows == 1 and v.duration == pytest.approx(52 / FPS)
    moments = p.predict("a square moves to the right", top_k=3)
    assert len(moments) == 3 and all(isinstance(m, Moment) for m in moments)
    assert moments[0].score >= moments[1].score >= moments[2].score
    assert all(0 <= m.start < m.end <= v.duration + 1e-6 for m in moments)


def test_long_video_windows_and_chunks(tiny, tmp_path):
    """A video longer than the window: several windows, chunked encoding, same features as in
    one chunk."""
    video = write_video(tmp_path / "videos" / "long.mp4", 150)
    write_pose(tmp_path / "skeletons" / "long.npz", 150)
    p = MomentPredictor.from_run(tiny["runs"], model="gtn", seed=0, device="cpu", chunk_clips=4)
    v = p.encode_video(video)
    assert len(v.features) == 13 and v.windows == 5  # windows of 5 rows at 0, 2, 4, 6, 8
    p.chunk_clips = 64
    np.testing.assert_allclose(p.encode_video(video).features, v.features, atol=1e-5)
    moments = p.predict("someone runs", top_k=5)
    assert moments and max(m.end for m in moments) <= 150 / FPS + 1e-6


def test_feature_predictor_on_a_npy_file(tiny, tmp_path):
    p = FeaturePredictor.from_run(tiny["runs"], model="gtn", seed=0, window=4)
    dim = p.config.in_dim
    np.save(tmp_path / "f.npy", np.random.default_rng(0).standard_normal((9, dim), np.float32))
    v = p.encode_feature_file(tmp_path / "f.npy", duration=90.0)
    assert v.windows == 4 and v.spans[-1, 1] == 90.0
    assert len(p.predict("someone jumps", top_k=2)) == 2
    with pytest.raises(ValueError, match=f"must be \\(T >= 1, {dim}\\)"):
        p.encode_features(np.zeros((4, dim + 1)), duration=4.0)


def test_many_queries_at_once_answer_as_one_at_a_time(tiny, tmp_path):
    p = FeaturePredictor.from_run(tiny["runs"], model="gtn", seed=0, window=4)
    np.save(tmp_path / "f.npy", np.random.default_rng(1).standard_normal((9, p.config.in_dim)))
    p.encode_feature_file(tmp_path / "f.npy", duration=90.0)
    queries = ["someone jumps", "the player in red shoots from the left", "a pass"]
    batched = p.predict_many(queries, top_k=3)
    for q, many in zip(queries, batched, strict=True):
        one = p.predict(q, top_k=3)
        assert [(m.start, m.end) for m in many] == [(m.start, m.end) for m in one]
        assert [m.score for m in many] == pytest.approx([m.score for m in one], abs=1e-5)
    with pytest.raises(ValueError, match="query"):
        p.predict_many(["fine", "  "])


def test_cli_tables_json_and_plot(tiny, tmp_path, capsys):
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    argv = [
        "--run", str(tiny["runs"]), "--model", "gtn", "--video",
        str(tiny["data"] / "videos" / "v0.mp4"), "--query", "a player shoots",
        "--query", "someone dribbles", "--top-k", "3", "--json", str(out_json),
        "--plot", str(out_png),
    ]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "encoded in" in text and "per video-minute" in text and " ms per query" in text
    assert text.count("rank") == 2
    doc = json.loads(out_json.read_text())
    assert [q["query"] for q in doc["queries"]] == ["a player shoots", "someone dribbles"]
    assert all(len(q["moments"]) == 3 for q in doc["queries"])
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------------
# bad input: one line naming what is wrong, exit 2


def _fails(capsys, argv: list[str], *needles: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def _argv(tiny, video, *more: str, model: str = "ours") -> list[str]:
    return ["--run", str(tiny["runs"]), "--model", model, "--video", str(video), *more]


def test_bad_missing_video(tiny, capsys):
    _fails(capsys, _argv(tiny, tiny["base"] / "nope.mp4", "--query", "x"), "nope.mp4", "not found")


def test_bad_undecodable_video(tiny, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 50)
    _fails(capsys, _argv(tiny, bad, "--query", "x"), "bad.mp4")


def test_bad_video_shorter_than_a_flow_stack(tiny, tmp_path, capsys):
    short = write_video(tmp_path / "videos" / "short.mp4", 4)
    write_pose(tmp_path / "skeletons" / "short.npz", 4)
    _fails(capsys, _argv(tiny, short, "--query", "x"), "short.mp4", "flow stack")


@pytest.mark.parametrize("query", ["", "   \t "])
def test_bad_empty_query(tiny, capsys, query):
    _fails(capsys, _argv(tiny, tiny["data"] / "videos" / "v0.mp4", "--query", query), "empty")
    p = FeaturePredictor.from_run(tiny["runs"], model="gtn", seed=0)
    p.encode_features(np.zeros((3, p.config.in_dim), np.float32), duration=3.0)
    with pytest.raises(ValueError, match="empty or only whitespace"):
        p.predict(query)


def test_bad_run_without_model_or_seed(tiny, capsys):
    video = str(tiny["data"] / "videos" / "v0.mp4")
    argv = ["--run", str(tiny["runs"]), "--video", video, "--query", "x"]
    _fails(capsys, [*argv, "--model", "dgcn"], "no finished grounding run", "'dgcn'", "gtn-s0")
    _fails(capsys, [*argv, "--model", "ours", "--seed", "3"], "seed 3", "ours-s0")
    _fails(capsys, [*argv[:1], str(tiny["base"] / "nowhere"), *argv[2:]], "run folder not found")


def test_bad_checkpoint_pair(tiny, capsys):
    runs = tiny["runs"]
    rec = {
        m: next((runs / "recognition").glob(f"{m}-*")) / "checkpoint.pt" for m in ("ours", "gtn")
    }
    gro = {m: next((runs / "grounding").glob(f"{m}-*")) / "checkpoint.pt" for m in ("ours", "gtn")}
    video = str(tiny["data"] / "videos" / "v0.mp4")
    base = ["--video", video, "--query", "x"]
    # feature dimension: a gtn grounding network (trained for 'gtn') on ours' recognizer
    _fails(capsys, [*base, "--recognizer", str(rec["ours"]), "--grounding", str(gro["gtn"])],
           "'ours'", "'gtn'")  # fmt: skip
    # the same model, another feature dimension
    bad = tiny["base"] / "bad-dim" / "checkpoint.pt"
    bad.parent.mkdir(exist_ok=True)
    gconf = grounding_config("gtn", 7)
    save_checkpoint(bad, model=build_network(gconf), step=0, epoch=0, config=gconf)
    _fails(capsys, [*base, "--recognizer", str(rec["gtn"]), "--grounding", str(bad)],
           "7-dim", "matching pair")  # fmt: skip
    # clip length: the grounding run recorded features of 1.0 s clips
    _fails(capsys, [*base, "--recognizer", str(rec["gtn"]), "--grounding", str(gro["gtn"]),
                    "--clip-seconds", "2"], "clips of 1.0 s")  # fmt: skip
    # another recognizer than the one the features were extracted with
    other = tiny["base"] / "other" / "checkpoint.pt"
    other.parent.mkdir(exist_ok=True)
    torch.manual_seed(5)
    rconf = recognition_config("gtn")
    save_checkpoint(other, model=build_recognizer(rconf), step=0, epoch=0, config=rconf)
    _fails(capsys, [*base, "--recognizer", str(other), "--grounding", str(gro["gtn"])],
           "another recognizer")  # fmt: skip


def test_bad_pose_file(tiny, tmp_path, capsys):
    video = write_video(tmp_path / "clip.mp4", 30)
    _fails(capsys, _argv(tiny, video, "--query", "x"), "pose file", "--pose")
    wrong = write_pose(tmp_path / "wrong.npz", 25)
    _fails(capsys, _argv(tiny, video, "--query", "x", "--pose", str(wrong)), "wrong.npz",
           "25 pose frames", "30 frames")  # fmt: skip
    _fails(capsys, _argv(tiny, video, "--query", "x", "--pose", str(wrong), model="gtn"),
           "25 pose frames")  # fmt: skip


# --------------------------------------------------------------------------------------------
# the bench's own predictions


@pytest.mark.slow
def test_top1_equals_the_bench_predictions(tmp_path):
    """Train the tiny bench (ours: person-centric features, gtn: skeletons); for every test
    query of every test video (3), the predictor's top-1 moment is the one the bench's
    grounding evaluation wrote to predictions.jsonl."""
    from grounding.bench import BenchConfig, run
    from grounding.data.datasets import load_split
    from grounding.extract import ExtractionSettings
    from grounding.profiles import BenchProfile
    from grounding.train.grounding import GroundingNet, GroundingOptim, GroundingSettings
    from tests.test_bench import tiny_recognition

    extraction = ExtractionSettings(clip_seconds=2.0)
    profile = BenchProfile(
        name="tiny",
        n_videos=12,
        size=64,
        seeds=(0,),
        models=("ours", "gtn"),
        recognition=tiny_recognition(epochs=1, batch_size=8),
        extraction=extraction,
        model_extraction={"ours": replace(extraction, person_context=0.5)},
        grounding=GroundingSettings(
            net=GroundingNet(num_clips=8, map_dim=16, head_layers=1),
            optim=GroundingOptim(epochs=1),
        ),
    )
    data = tmp_path / "syn"
    config = BenchConfig(
        dataset="synthetic",
        data_root=data,
        split="test",
        seeds=(0,),
        out=tmp_path / "res",
        runs=tmp_path / "runs",
        profile=profile,
        device="cpu",
        speed=False,
    )
    run(config)
    root = next(p.parent for p in (tmp_path / "runs").rglob("grounding") if p.is_dir())
    test = load_split("charades", data, "test").queries
    vids = sorted({q.vid for q in test})
    assert len(vids) >= 3
    for model in ("ours", "gtn"):
        gdir = next((root / "grounding").glob(f"{model}-s0-*"))
        bench = read_predictions(gdir / "predictions.jsonl").windows
        p = MomentPredictor.from_run(root, model=model, seed=0, device="cpu")
        checked = 0
        for vid in vids:
            v = p.encode_video(data / "videos" / f"{vid}.mp4")
            assert v.windows == 1
            for q in (q for q in test if q.vid == vid):
                top = p.predict(q.sentence, top_k=1)[0]
                want = np.asarray(bench[q.qid])[0]
                # the bench's times use the annotation's duration (2 decimals), ours the video's
                got = np.array([top.start, top.end]) / v.duration
                np.testing.assert_allclose(got, want[:2] / q.duration, atol=1e-3, err_msg=q.qid)
                assert top.score == pytest.approx(want[2], abs=2e-3), q.qid
                checked += 1
        assert checked == len(test)


def test_predict_split_without_windows_is_the_bench_evaluation(tiny):
    """predict_split(window=None) gives GroundingModel.predict's moments on the resampled
    features (what grounding.train writes); with windows, moments stay in each video."""
    import h5py

    from grounding.data.annotations import Query, QuerySet
    from grounding.data.features import open_features, resample_features
    from grounding.predict import predict_split

    path = next((tiny["runs"] / "features").glob("gtn-*.h5"))
    store = open_features(path, feature_type="i3d")
    queries = QuerySet(
        "charades",
        "test",
        [
            Query("q0", "v0", "someone runs", ((0.5, 2.0),), 3.3),
            Query("q1", "v1", "a player shoots", ((1.0, 3.0),), 4.3),
            Query("q2", "nope", "a player shoots", ((1.0, 3.0),), 4.3),
        ],
    )
    p = FeaturePredictor.from_run(tiny["runs"], model="gtn", seed=0, window=None)
    p.window = None
    got = predict_split(p, queries, store)
    assert set(got) == {"q0", "q1"}
    with h5py.File(path, "r") as f:
        feats = f["v1"][:]
    sentence = p.text.encode(["a player shoots"])
    clips = torch.from_numpy(resample_features(feats, p.config.num_clips))[None]
    want = p.model.predict(clips, sentence, [4.3], nms_thresh=0.5, top_k=p.config.top_k)[0]
    np.testing.assert_allclose(got["q1"], want, atol=1e-6)
    p.window, p.stride = 2, 1
    windowed = predict_split(p, queries, store, top_k=3)
    assert all(len(v) == 3 and (v[:, 1] <= 4.3 + 1e-9).all() for v in windowed.values())


def test_cli_answers_a_whole_split_in_windows_for_the_evaluator(tiny, tmp_path, capsys):
    """--gt: every query of a split from the run's features, in windows, as prediction jsonl
    that grounding.evaluate scores; a video without features is counted."""
    from grounding.data.annotations import Query, QuerySet
    from grounding.data.moment_detr import read_predictions, write_moment_detr_gt
    from grounding.evaluate import main as evaluate_main

    feats = next((tiny["runs"] / "features").glob("gtn-*.h5"))
    gt = write_moment_detr_gt(
        tmp_path / "gt.jsonl",
        QuerySet(
            "charades",
            "test",
            [
                Query("q0", "v0", "someone runs", ((0.5, 2.0),), 3.3),
                Query("q1", "v1", "a player shoots", ((1.0, 3.0),), 4.3),
                Query("q2", "nope", "a player shoots", ((1.0, 3.0),), 4.3),
            ],
        ),
    )
    out = tmp_path / "pred.jsonl"
    argv = ["--run", str(tiny["runs"]), "--model", "gtn", "--features", str(feats)]
    argv += ["--gt", str(gt), "--out", str(out), "--window", "2", "--stride", "1", "--top-k", "3"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "2 of 3 queries" in text and "1 without features" in text
    preds = read_predictions(out)
    assert set(preds.windows) == {"q0", "q1"} and all(len(v) == 3 for v in preds.windows.values())
    assert evaluate_main(["--gt", str(gt), "--pred", str(out)]) == 0
    assert main(argv) == 2  # never overwrites the file it wrote before
    assert "exists" in capsys.readouterr().err
