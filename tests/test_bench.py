import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from grounding.bench import main
from grounding.extract import ExtractionSettings
from grounding.models.recognizer import (
    ClipSampling,
    PretrainedWeights,
    RecognitionOptim,
    RecognitionSettings,
    RecognizerNet,
)
from grounding.models.registry import list_models, unregister_model
from grounding.train.grounding import GroundingNet, GroundingOptim, GroundingSettings


def write_charades(root, n_train=60, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        lines, csv = [], ["id,length"]
        for i in range(n):
            vid = f"{split[:2].upper()}{i:03d}"
            d = float(rng.uniform(20, 40))
            s = float(rng.uniform(0, 0.5 * d))
            e = s + float(rng.uniform(2, 10))
            lines.append(f"{vid} {s:.1f} {e:.1f}##a person opens the door.")
            csv.append(f"{vid},{d:.2f}")
        (root / f"charades_sta_{split}.txt").write_text("\n".join(lines) + "\n")
        (root / f"Charades_v1_{split}.csv").write_text("\n".join(csv) + "\n")


def test_bench_blind_charades(tmp_path, capsys):
    write_charades(tmp_path)
    out = tmp_path / "res"
    rc = main(
        ["--dataset", "charades", "--data-root", str(tmp_path), "--seeds", "2", "--out", str(out)]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "prior-only" in text and "whole-video" in text and "±" in text
    doc = json.loads((out / "charades" / "test.json").read_text())
    assert doc["seeds"] == [0, 1] and doc["split"] == "test" and doc["n_queries"] == 20
    assert doc["protocol"]["name"] == "default"
    assert set(doc["grounding"]) == {"whole-video", "prior-only"}
    assert set(doc["grounding"]["prior-only"]["per_seed"]) == {"0", "1"}
    assert "commit" in doc["provenance"] and "numpy" in doc["provenance"]["versions"]
    assert doc["seconds"]["data"] == 0.0 <= doc["seconds"]["total"]  # nothing generated
    # same seeds, same numbers
    main(["--dataset", "charades", "--data-root", str(tmp_path), "--seeds", "2", "--out", str(out)])
    again = json.loads((out / "charades" / "test.json").read_text())
    assert again["grounding"] == doc["grounding"]


def test_bench_without_data_names_expected_files(tmp_path, capsys):
    rc = main(["--dataset", "activitynet", "--data-root", str(tmp_path / "none")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "val_2.json" in err or "train.json" in err


def test_bench_unknown_model(tmp_path, capsys):
    rc = main(["--dataset", "charades", "--data-root", str(tmp_path), "--models", "magic"])
    assert rc == 2 and "unknown model" in capsys.readouterr().err


def test_bench_synthetic_tiny_profile(tmp_path, capsys):
    from grounding.bench import BenchConfig, run
    from grounding.profiles import BenchProfile

    profile = BenchProfile(name="tiny", n_videos=4, size=64, seeds=(0,), models=())
    config = BenchConfig(
        dataset="synthetic",
        data_root=tmp_path / "syn",
        split="test",
        seeds=(0,),
        out=tmp_path / "res",
        profile=profile,
    )
    out = run(config)
    assert out == tmp_path / "res" / "synthetic" / "tiny.json"
    doc = json.loads(out.read_text())
    assert doc["profile"]["n_videos"] == 4 and doc["n_queries"] > 0
    assert (tmp_path / "syn" / "manifest.json").is_file()
    assert "prior-only" in capsys.readouterr().out


def test_bench_check_passes_then_fails_on_perturbed_reference(tmp_path, capsys):
    write_charades(tmp_path)
    out = tmp_path / "res"
    args = [
        "--dataset",
        "charades",
        "--data-root",
        str(tmp_path),
        "--seeds",
        "2",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    ref = out / "charades" / "test.json"
    assert main([*args, "--check", str(ref)]) == 0
    assert "within tolerance" in capsys.readouterr().out
    doc = json.loads(ref.read_text())
    doc["grounding"]["prior-only"]["mean"]["R5@0.5"] += 25.0
    bad = tmp_path / "perturbed.json"
    bad.write_text(json.dumps(doc))
    assert main([*args, "--check", str(bad)]) == 1
    captured = capsys.readouterr()
    assert "grounding/prior-only/R5@0.5" in captured.out and "outside tolerance" in captured.err
    assert (out / "charades" / "test.failed.json").is_file()


def tiny_recognition(**optim: int) -> RecognitionSettings:
    """A tiny recognizer's settings (64 px, width 0.25, 2 segments, 16 skeleton frames)."""
    return RecognitionSettings(
        net=RecognizerNet(input_size=64, width=0.25),
        clips=ClipSampling(segments=2, skeleton_frames=16),
        optim=RecognitionOptim(**optim),
    )


@pytest.mark.slow
def test_bench_synthetic_end_to_end_tiny(tmp_path, capsys):
    """Every stage once on a tiny dataset: recognition, features, grounding, speed, tables,
    then the cached rerun is instant and passes its own regression check."""
    from grounding.bench import BenchConfig, run
    from grounding.profiles import BenchProfile

    profile = BenchProfile(
        name="tiny",
        n_videos=6,
        size=64,
        seeds=(0,),
        models=("ours", "gtn"),
        recognition=tiny_recognition(epochs=1, batch_size=8),
        extraction=ExtractionSettings(clip_seconds=2.0),
        grounding=GroundingSettings(
            net=GroundingNet(num_clips=8, map_dim=16, head_layers=1),
            optim=GroundingOptim(epochs=1),
        ),
        speed_args={
            "iters": 1,
            "query_iters": 2,
            "videos": 1,
            "samples": (1, 2),
            "max_seconds": 2.0,
        },
    )
    config = BenchConfig(
        dataset="synthetic",
        data_root=tmp_path / "syn",
        split="test",
        seeds=(0,),
        out=tmp_path / "res",
        runs=tmp_path / "runs",
        profile=profile,
        device="cpu",
    )
    out = run(config)
    doc = json.loads(out.read_text())
    assert set(doc["grounding"]) == {"ours", "gtn", "whole-video", "prior-only"}
    assert set(doc["recognition"]) == {"ours", "gtn"}
    assert doc["speed"]["recognition"] and "params" in doc["recognition"]["ours"]
    seconds = doc["seconds"]
    parts = seconds["models"] + seconds["speed"] + seconds["data"]
    # Each figure is rounded to 0.1 s, so three parts may sum 0.15 s above the total.
    assert seconds["total"] + 0.15 >= parts > 0
    assert (out.parent / "tiny_tables" / "tiny_table4.md").is_file()
    assert (out.parent / "tiny_tables" / "tiny_figure12.png").is_file()
    config.check = out
    assert run(config) == out  # cached stages, same numbers, within tolerance
    assert "within tolerance" in capsys.readouterr().out
    again = json.loads(out.read_text())["stages"]
    assert {s["name"] for s in again} == {s["name"] for s in doc["stages"]}
    assert all(s["cached"] for s in again) and not any(s["cached"] for s in doc["stages"])
    # the same seed, settings and thread counts, its stages two at a time in child processes
    parallel = replace(config, runs=tmp_path / "runs2", out=tmp_path / "res2", jobs=2, check=None)
    doc2 = json.loads(run(parallel).read_text())
    for section in ("grounding", "recognition"):
        for model, entry in doc[section].items():
            assert doc2[section][model]["per_seed"] == entry["per_seed"], (section, model)


def _charades_features(root, dim=12):
    """I3D-style user features: one ``<vid>.npy`` (T, dim) per video of the annotations."""
    folder = root / "i3d"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for line in (root / f"Charades_v1_{split}.csv").read_text().splitlines()[1:]:
            vid = line.split(",")[0]
            np.save(folder / f"{vid}.npy", rng.standard_normal((24, dim)).astype(np.float32))
    return folder


def test_bench_charades_features_trains_every_model(tmp_path, capsys):
    write_charades(tmp_path)
    features = _charades_features(tmp_path)
    out = tmp_path / "res"
    argv = [
        "--dataset", "charades", "--data-root", str(tmp_path), "--features", str(features),
        "--profile", "smoke", "--seeds", "2", "--out", str(out), "--runs", str(tmp_path / "runs"),
    ]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads((out / "charades" / "test-i3d.json").read_text())
    assert doc["feature_type"] == "i3d"
    assert set(doc["grounding"]) == {"ours", "gtn", "dgcn", "whole-video", "prior-only"}
    assert set(doc["grounding"]["gtn"]["per_seed"]) == {"0", "1"}
    text = capsys.readouterr().out
    assert "dgcn" in text and "wrote" in text
    assert (out / "charades" / "test-i3d_tables" / "test-i3d_table4.md").is_file()
    # the blind-only file of the same split is a different file
    assert not (out / "charades" / "test.json").exists()


def test_bench_features_path_trains_each_model_with_its_own_settings(tmp_path, monkeypatch):
    """A profile's per-model grounding (the reference grounds ours longer) holds on real
    features too, with the dataset's clip count and splits."""
    import grounding.bench as bench
    from grounding.bench import BenchConfig, run_real_features
    from grounding.profiles import PROFILES

    seen = {}
    monkeypatch.setattr(bench, "run_on_features", lambda runner, **kw: seen.update(kw) or {})
    profile = PROFILES["reference"]
    config = BenchConfig(
        dataset="charades", data_root=tmp_path, split="test", profile=profile,
        features=tmp_path / "i3d", feature_type="i3d", runs=tmp_path / "runs",
    )  # fmt: skip
    run_real_features(config, test=None)
    settings = seen["grounding"]
    assert set(settings) == set(profile.models)
    epochs = {m: s.optim.epochs for m, s in settings.items()}
    assert epochs["ours"] == profile.grounding_for("ours").optim.epochs != epochs["gtn"]
    for s in settings.values():
        assert s.net.num_clips == bench.NUM_CLIPS["charades"]
        assert (s.data.dataset, s.data.feature_type, s.data.test_split) == (
            "charades",
            "i3d",
            "test",
        )


def test_bench_charades_without_features_says_why_blind_only(tmp_path, capsys):
    write_charades(tmp_path)
    rc = main(["--dataset", "charades", "--data-root", str(tmp_path), "--out", str(tmp_path)])
    assert rc == 0
    assert "no --features given" in capsys.readouterr().out


def test_bench_features_path_is_checked(tmp_path, capsys):
    write_charades(tmp_path)
    argv = ["--dataset", "charades", "--data-root", str(tmp_path)]
    assert main([*argv, "--features", str(tmp_path / "nope")]) == 2
    assert "--features not found" in capsys.readouterr().err
    assert main(["--features", str(tmp_path)]) == 2
    assert "charades|activitynet" in capsys.readouterr().err


def test_bench_activitynet_c3d_features(tmp_path):
    import h5py

    rng = np.random.default_rng(2)
    with h5py.File(tmp_path / "c3d.hdf5", "w") as f:
        for split, n in (("train", 40), ("val_2", 12)):
            ann = {}
            for i in range(n):
                vid = f"v_{split}{i:03d}"
                d = float(rng.uniform(60, 120))
                s = float(rng.uniform(0, d / 2))
                ann[vid] = {
                    "duration": d,
                    "timestamps": [[s, s + float(rng.uniform(5, d / 3))]],
                    "sentences": ["a man throws a ball."],
                }
                f.create_group(vid).create_dataset(
                    "c3d_features", data=rng.standard_normal((30, 10)).astype(np.float32)
                )
            (tmp_path / f"{split}.json").write_text(json.dumps(ann))
    out = tmp_path / "res"
    argv = [
        "--dataset", "activitynet", "--data-root", str(tmp_path),
        "--features", str(tmp_path / "c3d.hdf5"), "--profile", "smoke", "--seeds", "1",
        "--out", str(out), "--runs", str(tmp_path / "runs"),
    ]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads((out / "activitynet" / "val_2-c3d.json").read_text())
    assert doc["feature_type"] == "c3d" and doc["n_queries"] == 12
    assert {"ours", "gtn", "dgcn"} <= set(doc["grounding"])


def test_bench_speed_only_measures_the_profile_models(tmp_path, capsys):
    from grounding.bench import BenchConfig, profile_recognition_config, run_speed_only
    from grounding.profiles import BenchProfile

    profile = BenchProfile(
        name="tiny",
        n_videos=4,
        size=64,
        seeds=(0,),
        recognition=RecognitionSettings(
            net=RecognizerNet(input_size=64, width=0.25), clips=ClipSampling(segments=2)
        ),
        speed_args={"iters": 1, "query_iters": 2, "videos": 1, "max_seconds": 2.0},
    )
    rec = profile_recognition_config(profile)
    assert (rec["input_size"], rec["width_mult"], rec["segments"]) == (64, 0.25, 2)
    config = BenchConfig(
        dataset="synthetic", data_root=tmp_path / "syn", split="test", out=tmp_path / "res",
        profile=profile, device="cpu",
    )  # fmt: skip
    out = run_speed_only(config)
    assert out == tmp_path / "res" / "synthetic" / "speed-tiny.json"
    doc = json.loads(out.read_text())
    assert doc["speed"] and "grounding" not in doc
    assert "wrote" in capsys.readouterr().out


def test_profile_recognition_config_includes_the_ours_settings():
    from grounding.bench import profile_recognition_config
    from grounding.profiles import PROFILES, BenchProfile

    shared = RecognitionSettings(net=RecognizerNet(width=0.25))
    profile = BenchProfile(
        name="tiny",
        n_videos=4,
        recognition=shared,
        model_recognition={
            "ours": replace(shared, clips=ClipSampling(rgb_input="diff")),
            "gtn": replace(shared, optim=RecognitionOptim(epochs=1)),
        },
    )
    rec = profile_recognition_config(profile)
    assert (rec["width_mult"], rec["rgb_input"]) == (0.25, "diff")
    assert rec["epochs"] != 1  # gtn's settings are not ours
    assert profile_recognition_config(PROFILES["reference"])["rgb_input"] == "diff"
    # pixel-only settings stay out of the skeleton baselines' stages
    default = PROFILES["reference"]
    for model in ("gtn", "dgcn"):
        assert default.recognition_for(model).clips.rgb_input == "frames"
        assert profile_recognition_config(default, model)["epochs"] == 5
    # person-centric features are the two-stream model's (its registry entry says so); their
    # context only goes to its extraction
    from grounding.models.registry import FeatureKind, get_model

    assert get_model("ours").features is FeatureKind.PERSON
    for name in ("smoke", "quick", "reference"):
        p = PROFILES[name]
        assert p.extraction_for("ours").person_context > 0
        for model in ("gtn", "dgcn"):
            assert p.extraction_for(model).person_context == 0


def test_smoke_profile_settings_are_the_committed_ones():
    """The smoke profile resolves to the recognition configs and sizes the committed
    results/synthetic/smoke.json was made with (behaviour kept across the typed settings)."""
    from grounding.bench import profile_recognition_config
    from grounding.profiles import PROFILES

    committed = json.loads(
        (Path(__file__).resolve().parents[1] / "results/synthetic/smoke.json").read_text()
    )
    smoke = PROFILES["smoke"]
    for model, stored in committed["recognition_configs"].items():
        rec = profile_recognition_config(smoke, model)
        for name, value in stored.items():
            if name not in ("classes", "init_sha"):
                assert json.loads(json.dumps(rec[name])) == value, (model, name)


def test_stage_folders_are_keyed_by_the_settings_and_the_version(tmp_path, monkeypatch):
    """A stage's folder is <model>-s<seed>-<hash of its canonical settings + version>: the
    same settings reuse it, another setting or package version gives another folder."""
    from grounding import pipeline
    from grounding.pipeline import StageRunner
    from grounding.settings import stage_key

    calls = []

    def fake_train(settings, *, data, out, options):
        calls.append((settings, out, options.resume))
        out.mkdir(parents=True)
        (out / "metrics.json").write_text(json.dumps({"finished": True, "metrics": {}}))

    monkeypatch.setattr(pipeline, "train_recognition", fake_train)
    runner = StageRunner(tmp_path, device="cpu")
    settings = tiny_recognition().for_run("gtn", 1)
    _, first = runner.recognition(data=tmp_path / "d", settings=settings)
    _, again = runner.recognition(data=tmp_path / "d", settings=settings)
    assert first == again and len(calls) == 1
    assert first.parent == tmp_path / "recognition" and first.name.startswith("gtn-s1-")
    other = replace(settings, optim=replace(settings.optim, epochs=3))
    _, changed = runner.recognition(data=tmp_path / "d", settings=other)
    assert changed != first and len(calls) == 2
    stage = {"a": settings}
    assert stage_key(stage, version="1") == stage_key(stage, version="1")
    assert stage_key(stage, version="1") != stage_key(stage, version="2")


def test_bench_rgb_weights_reach_the_two_stream_recognizers_only(tmp_path, capsys):
    from grounding.bench import with_rgb_weights
    from grounding.io import file_digest
    from grounding.profiles import PROFILES

    weights = tmp_path / "w.pth"
    weights.write_bytes(b"not really weights")
    default = PROFILES["reference"]
    profile = with_rgb_weights(default, weights)
    ours = profile.recognition_for("ours")
    assert ours == replace(
        default.recognition_for("ours"),
        weights=PretrainedWeights(
            rgb_weights=weights.resolve(), rgb_weights_sha=file_digest(weights)
        ),
    )
    assert profile.recognition_for("gtn") == default.recognition_for("gtn")
    assert main(["--rgb-weights", str(tmp_path / "missing.pth")]) == 2
    assert "existing file" in capsys.readouterr().err
    assert (
        main(["--dataset", "charades", "--data-root", str(tmp_path), "--rgb-weights", str(weights)])
        == 2
    )
    assert "needs --dataset synthetic" in capsys.readouterr().err


def _charades_args(root, out):
    return ["--dataset", "charades", "--data-root", str(root), "--seeds", "2", "--out", str(out)]


def test_bad_check_reference_is_refused_before_the_first_stage(tmp_path, capsys, monkeypatch):
    """Issue 22 #2: a reference that cannot be compared with is reported at once, naming the
    file and the key path; nothing runs and nothing is written."""
    import grounding.bench as bench

    write_charades(tmp_path)
    good = tmp_path / "good.json"
    assert main(_charades_args(tmp_path, tmp_path / "first")) == 0
    good.write_bytes((tmp_path / "first" / "charades" / "test.json").read_bytes())
    capsys.readouterr()
    doc = json.loads(good.read_text())
    key = next(iter(doc["tolerances"]))
    section, model, metric = key.split("/", 2)
    no_mean = json.loads(good.read_text())
    del no_mean[section][model]["mean"][metric]
    cases = {
        "empty.json": (b"", "empty file"),
        "truncated.json": (good.read_bytes()[:200], "invalid JSON at line"),
        "latin1.json": (b'{"tolerances": "\xa5"}', "not UTF-8 text"),
        "list.json": (b"[1]", "got a JSON list"),
        "evaluate.json": (b'{"metrics": {"R1@0.5": 10.0}}', "no 'tolerances' key"),
        "abc.json": (
            json.dumps({**doc, "tolerances": {key: "abc"}}).encode(),
            f"tolerances['{key}']: expected a non-negative number, got 'abc'",
        ),
        "no_mean.json": (json.dumps(no_mean).encode(), f"{section}/{model}/mean/{metric}"),
    }
    ran = []
    monkeypatch.setattr(bench, "load_split", lambda *a, **k: ran.append(a))
    for name, (data, message) in cases.items():
        ref = tmp_path / name
        ref.write_bytes(data)
        out = tmp_path / f"res-{name}"
        assert main([*_charades_args(tmp_path, out), "--check", str(ref)]) == 2, name
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(ref) in err and message in err, (name, err)
        assert not out.exists()
    assert ran == []  # refused before the first stage
    assert main([*_charades_args(tmp_path, tmp_path / "x"), "--check", str(tmp_path / "no")]) == 2
    assert "not found" in capsys.readouterr().err


def test_results_are_written_even_when_the_comparison_fails(tmp_path, capsys, monkeypatch):
    import grounding.bench as bench

    write_charades(tmp_path)
    first = tmp_path / "first"
    assert main(_charades_args(tmp_path, first)) == 0
    ref = first / "charades" / "test.json"

    def broken(doc, reference):
        raise TypeError("unexpected shape")

    monkeypatch.setattr(bench, "check_against", broken)
    out = tmp_path / "res"
    assert main([*_charades_args(tmp_path, out), "--check", str(ref)]) == 2
    assert "cannot compare: unexpected shape" in capsys.readouterr().err
    written = json.loads((out / "charades" / "test.failed.json").read_text())
    assert written["grounding"] == json.loads(ref.read_text())["grounding"]


def test_empty_test_split_is_refused_before_training(tmp_path, capsys, monkeypatch):
    """Issue 22 #14: no table of zeros, no bootstrap error: the split and its file are named."""
    import grounding.bench as bench

    write_charades(tmp_path, n_test=0)
    called = []
    monkeypatch.setattr(bench, "run_blind", lambda *a: called.append(a) or {})
    out = tmp_path / "res"
    assert main(_charades_args(tmp_path, out)) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "split 'test' has no usable queries" in err
    assert "charades_sta_test.txt" in err and "bootstrap" not in err
    assert "±" not in captured.out and called == [] and not out.exists()
    write_charades(tmp_path, n_train=0, n_test=5)
    assert main(_charades_args(tmp_path, out)) == 2
    assert "split 'train' has no usable queries" in capsys.readouterr().err


# ---- a model of the user's own: one file, one decorator, one flag ----------------------------

TOY_MODEL = """
from torch import nn

from grounding.models.registry import get_model, register_model


class Toy(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, x, mask=None):
        return self.linear(x)


@register_model(recognizer=get_model("gtn").recognizer)
def toy(*, dim: int, num_clips: int, heads: int, layers: int, dropout: float) -> nn.Module:
    \"\"\"A linear clip encoder: (B, N, dim) -> (B, N, dim).\"\"\"
    return Toy(dim)
"""


@pytest.fixture
def toy_file(tmp_path):
    path = tmp_path / "toy_model.py"
    path.write_text(TOY_MODEL)
    yield path
    if "toy" in list_models():  # each test imports its own copy of the file
        unregister_model("toy")


def test_a_user_model_runs_on_charades_features_by_import(tmp_path, toy_file, capsys):
    write_charades(tmp_path)
    features = _charades_features(tmp_path)
    out = tmp_path / "res"
    argv = [
        "--dataset", "charades", "--data-root", str(tmp_path), "--features", str(features),
        "--profile", "smoke", "--seeds", "1", "--out", str(out), "--runs", str(tmp_path / "runs"),
        "--import", str(toy_file), "--models", "toy,prior-only",
    ]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads((out / "charades" / "test-i3d.json").read_text())
    assert set(doc["grounding"]) == {"toy", "prior-only"}
    assert 0 <= doc["grounding"]["toy"]["mean"]["R1@0.5"] <= 100
    assert "toy" in capsys.readouterr().out
    runs = list((tmp_path / "runs").rglob("metrics.json"))
    assert len(runs) == 1 and json.loads(runs[0].read_text())["config"]["model"] == "toy"


def test_a_bad_import_is_a_one_line_error_naming_it(tmp_path, capsys):
    write_charades(tmp_path)
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    base = ["--dataset", "charades", "--data-root", str(tmp_path), "--out", str(tmp_path / "r")]
    cases = [
        (tmp_path / "missing.py", "file not found"),
        (broken, "RuntimeError: boom"),
        (empty, "registered no model"),
        ("no_such_module_anywhere", "no module of that name"),
    ]
    for source, message in cases:
        assert main([*base, "--import", str(source)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(source) in err and message in err
    assert main([*base, "--models", "never-imported"]) == 2
    assert "--import" in capsys.readouterr().err


@pytest.mark.slow
def test_a_user_model_runs_on_synthetic_data_by_import(tmp_path, toy_file, capsys, monkeypatch):
    """Every stage of the synthetic bench for a model from a user file: its recognizer (GTN's,
    which it names), features, grounding with its own encoder, speed, tables."""
    from grounding.profiles import PROFILES, BenchProfile

    tiny = BenchProfile(
        name="tiny",
        n_videos=6,
        size=64,
        seeds=(0,),
        recognition=tiny_recognition(epochs=1, batch_size=8),
        extraction=ExtractionSettings(clip_seconds=2.0),
        grounding=GroundingSettings(
            net=GroundingNet(num_clips=8, map_dim=16), optim=GroundingOptim(epochs=1)
        ),
        speed_args={"iters": 1, "query_iters": 2, "videos": 1, "samples": (1,), "max_seconds": 2.0},
    )  # fmt: skip
    monkeypatch.setitem(PROFILES, "tiny", tiny)
    out = tmp_path / "res"
    argv = [
        "--profile", "tiny", "--data-root", str(tmp_path / "syn"), "--out", str(out),
        "--runs", str(tmp_path / "runs"), "--device", "cpu",
        "--import", str(toy_file), "--models", "toy,whole-video",
    ]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads((out / "synthetic" / "tiny.json").read_text())
    assert set(doc["grounding"]) == {"toy", "whole-video"} and set(doc["recognition"]) == {"toy"}
    assert [r["name"] for r in doc["speed"]["recognition"]] == ["toy"]
    assert doc["speed"]["end_to_end"]["skeleton_frames"] > 0  # its own (skeleton) features


def test_a_model_grounding_override_reaches_only_that_models_stages(tmp_path):
    """``model_grounding`` gives one model its own grounding settings (every seed); the other
    models keep the shared ones."""
    from grounding.pipeline import StageRunner, bench_graph
    from grounding.profiles import PROFILES

    smoke = PROFILES["smoke"]
    own = replace(smoke.grounding, optim=replace(smoke.grounding.optim, epochs=9))
    profile = replace(smoke, model_grounding={"ours": own})
    graph = bench_graph(StageRunner(tmp_path), data=tmp_path / "d", profile=profile, seeds=(0, 1))
    by_name = {stage.name: stage for stage in graph.stages}
    for model, by_seed in graph.grounding.items():
        for seed, name in by_seed.items():
            settings = by_name[name].fn.args[-1]  # partial(grounding_stage, runner, data, s)
            expected = own if model == "ours" else smoke.grounding
            assert settings == expected.for_run(model, seed)


def test_fewer_recognizer_seeds_keep_every_grounding_seed(tmp_path):
    """``recognition_seeds=1``: one recognizer per model (seed 0, whose features every
    grounding seed reads), grounding still per seed; ``None`` trains a recognizer per seed."""
    from grounding.pipeline import StageRunner, bench_graph
    from grounding.profiles import PROFILES

    runner = StageRunner(tmp_path / "runs")
    for n, expected in ((1, [0]), (None, [0, 1, 2])):
        profile = replace(PROFILES["smoke"], recognition_seeds=n)
        graph = bench_graph(runner, data=tmp_path / "data", profile=profile, seeds=(0, 1, 2))
        assert {m: sorted(s) for m, s in graph.recognition.items()} == dict.fromkeys(
            profile.models, expected
        )
        assert all(sorted(s) == [0, 1, 2] for s in graph.grounding.values())
        names = {stage.name for stage in graph.stages}
        assert ("recognition ours s1" in names) == (n is None)
