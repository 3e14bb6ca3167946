"""``python -m grounding.train recognition`` on a tiny synthetic dataset (tiny models)."""

from __future__ import annotations

import json

import pytest
import torch

from grounding.data.synthetic import generate_dataset
from grounding.models.recognizer import RecognitionConfig, build_recognizer
from grounding.train.__main__ import main

TINY = ["--width", "0.25", "--input-size", "64", "--batch-size", "4", "--workers", "0"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn") / "data"
    generate_dataset(root, n_videos=4, seed=3, size=64, fps=8, workers=1, progress=False)
    return root


def _run(data, out, *extra: str) -> dict:
    code = main(["recognition", "--data", str(data), "--out", str(out), *TINY, *extra])
    assert code == 0
    return json.loads((out / "metrics.json").read_text())


def test_two_stream_run_writes_metrics_and_checkpoint(data, tmp_path, capsys):
    m = _run(data, tmp_path / "run", "--epochs", "1", "--segments", "2", "--heads", "1")
    assert m["task"] == "recognition" and m["model"] == "ours" and m["finished"]
    assert set(m["metrics"]) == {"accuracy", "recall", "f1"}
    n_test = sum(
        line.split()[1] == "2"
        for f in (data / "actions" / "splits").glob("*_test_split1.txt")
        for line in f.read_text().splitlines()
    )
    assert 0 <= m["metrics"]["accuracy"] <= 100 and m["n_test"] == n_test > 0
    assert set(m["streams"]) == {"fused", "rgb", "flow"} and len(m["history"]) == 1
    assert m["config"]["segments"] == 2 and m["config"]["width_mult"] == 0.25
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    assert (data / ".cache" / "inputs").is_dir()  # the input cache lives next to the data
    out = capsys.readouterr().out
    assert "accuracy %" in out and "ours" in out


def test_same_seed_same_metrics_and_resume(data, tmp_path):
    a = _run(data, tmp_path / "a", "--model", "gtn", "--epochs", "2")
    b = _run(data, tmp_path / "b", "--model", "gtn", "--epochs", "2")
    assert a["metrics"] == b["metrics"] and a["history"][-1]["loss"] == b["history"][-1]["loss"]
    c = _run(data, tmp_path / "c", "--model", "gtn", "--epochs", "2", "--stop-after", "1")
    assert not c["finished"] and c["epochs_done"] == 1
    d = _run(data, tmp_path / "c", "--model", "gtn", "--epochs", "2", "--resume")
    assert d["resumed_from_epoch"] == 1 and d["finished"]
    assert d["history"][-1]["loss"] == a["history"][-1]["loss"] and d["metrics"] == a["metrics"]


def test_resume_with_another_config_names_the_fields(data, tmp_path, capsys):
    _run(data, tmp_path, "--model", "dgcn", "--epochs", "1")
    code = main(
        [
            "recognition",
            "--data",
            str(data),
            "--out",
            str(tmp_path),
            *TINY,
            "--model",
            "dgcn",
            "--epochs",
            "1",
            "--lr",
            "0.01",
            "--resume",
        ]
    )
    assert code == 2
    assert "lr: checkpoint 0.001, expected 0.01" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("temporal", "spatial", "residual"),
    [
        ("mhssa", "sigmoid", True),
        ("softmax", "softmax", False),
        ("gru", "sigmoid", True),
        ("none", "sigmoid", True),
    ],
)
def test_ablation_variants_build(temporal, spatial, residual):
    config = RecognitionConfig(
        model="ours",
        classes=("a", "b", "c"),
        segments=2,
        input_size=64,
        width_mult=0.25,
        temporal=temporal,
        heads=2,
        spatial_attention=spatial,
        spatial_residual=residual,
    )
    net = build_recognizer(config).eval()
    out = net(torch.zeros(1, 2, 3, 64, 64), torch.zeros(1, 2, 10, 64, 64))
    assert out.fused.shape == (1, 3)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="multiple of 32"):
        build_recognizer(RecognitionConfig(model="ours", classes=("a", "b"), input_size=100))
    with pytest.raises(ValueError, match="at least 2 classes"):
        build_recognizer(RecognitionConfig(model="gtn", classes=("a",)))
    with pytest.raises(ValueError, match="unknown RGB input 'grey'"):
        build_recognizer(RecognitionConfig(model="ours", classes=("a", "b"), rgb_input="grey"))
    with pytest.raises(ValueError, match=r"unknown model 'magic'.*--import"):
        build_recognizer(RecognitionConfig(model="magic", classes=("a", "b")))


def test_size_sets_width_and_side_and_the_model_its_defaults():
    import argparse

    from grounding.train.recognition import add_arguments, config_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)

    def config(*argv: str) -> RecognitionConfig:
        return config_from_args(p.parse_args(["--data", ".", "--out", ".", *argv]), ["a", "b"])

    assert (config().width_mult, config().input_size) == (0.5, 96)
    assert (config("--size", "full").width_mult, config("--size", "full").input_size) == (1.0, 224)
    assert (config().epochs, config().dropout, config().temporal) == (12, 0.5, "mhssa")
    gtn = config("--model", "gtn")
    assert (gtn.epochs, gtn.dropout) == (10, 0.1)
    assert config("--model", "gtn", "--epochs", "3").epochs == 3
    assert config("--model", "ours-rnn").temporal == "rnn"
    assert config("--model", "ours-mhssa-h6").heads == 6
    with pytest.raises(SystemExit):  # removed options
        config("--train-window", "2")
    with pytest.raises(SystemExit):
        config("--profile", "cpu")


def test_rgb_difference_input_is_recorded_in_the_run(data, tmp_path):
    m = _run(data, tmp_path / "diff", "--epochs", "1", "--segments", "1", "--rgb-input", "diff")
    assert m["finished"] and m["config"]["rgb_input"] == "diff"
    stored = torch.load(tmp_path / "diff" / "checkpoint.pt", weights_only=True)
    assert "diff" in json.dumps(stored, default=str)


@pytest.fixture
def weights_file(tmp_path):
    """A width-0.25 BN-Inception state dict with recognisable values, saved weights-only."""
    from grounding.models.bninception import build_bninception

    net = build_bninception(width_mult=0.25)
    torch.manual_seed(7)
    state = {  # nudged values that remain valid BN statistics
        k: v + 0.05 * torch.rand_like(v) if v.is_floating_point() else v
        for k, v in net.state_dict().items()
    }
    path = tmp_path / "imagenet.pth"
    torch.save(state, path)
    return path, state


def test_pretrained_backbones_start_from_the_weights_file(weights_file):
    from grounding.io import file_digest

    path, state = weights_file
    config = RecognitionConfig(
        model="ours", classes=("a", "b"), input_size=64, width_mult=0.25,
        rgb_weights_sha=file_digest(path),
    )  # fmt: skip
    net = build_recognizer(config, rgb_weights=path).train()
    rgb = net.rgb.backbone.state_dict()
    assert all(torch.equal(rgb[k], v) for k, v in state.items())
    conv1 = state["conv1_7x7_s2.conv.weight"]
    flow_conv1 = net.flow.backbone.conv1.weight
    assert flow_conv1.shape[1] == 10
    assert torch.allclose(flow_conv1, conv1.mean(1, keepdim=True).expand_as(flow_conv1))
    bns = [m for m in net.rgb.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns[0].training and not any(m.training for m in bns[1:])  # Partial BN
    with pytest.raises(ValueError, match="is not the config's weights"):
        build_recognizer(
            RecognitionConfig(model="ours", classes=("a", "b"), rgb_weights_sha="0" * 16),
            rgb_weights=path,
        )


def test_rgb_weights_cli_records_the_digest_and_refuses_bad_requests(
    data, tmp_path, weights_file, capsys
):
    from grounding.io import file_digest

    path, _ = weights_file
    m = _run(data, tmp_path / "run", "--epochs", "1", "--segments", "2", "--rgb-weights", str(path))
    assert m["config"]["rgb_weights_sha"] == file_digest(path) and m["finished"]
    base = ["recognition", "--data", str(data), "--out", str(tmp_path / "x"), *TINY]
    cases = [
        (["--rgb-weights", str(tmp_path / "missing.pth")], "--rgb-weights file not found"),
        (["--model", "gtn", "--rgb-weights", str(path)], "BN-Inception recognizers, not gtn"),
        (["--rgb-weights", str(path), "--rgb-weights-sha", "ffff0000"], "expected ffff0000"),
        (["--rgb-weights-sha", "ab"], "needs --rgb-weights"),
        (["--width", "0.5", "--rgb-weights", str(path)], "shape mismatches"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 2
        assert message in capsys.readouterr().err


def test_init_from_starts_from_the_checkpoint_and_refuses_another_architecture(
    data, tmp_path, capsys
):
    from grounding.io import file_digest

    _run(data, tmp_path / "base", "--model", "gtn", "--epochs", "1")
    base = tmp_path / "base" / "checkpoint.pt"
    # lr 0: the fine-tuned weights are the initial ones exactly
    m = _run(
        data, tmp_path / "ft", "--model", "gtn", "--epochs", "1", "--lr", "0",
        "--init-from", str(base),
    )  # fmt: skip
    assert m["config"]["init_sha"] == file_digest(base) and m["finished"]
    start = torch.load(base, weights_only=True)["model"]
    tuned = torch.load(tmp_path / "ft" / "checkpoint.pt", weights_only=True)["model"]
    weights = [k for k in start if "running" not in k and "num_batches" not in k]
    assert weights and all(torch.equal(start[k], tuned[k]) for k in weights)
    scratch = _run(data, tmp_path / "scratch", "--model", "gtn", "--epochs", "1", "--lr", "0")
    assert scratch["config"]["init_sha"] is None
    fresh = torch.load(tmp_path / "scratch" / "checkpoint.pt", weights_only=True)["model"]
    assert not all(torch.equal(start[k], fresh[k]) for k in weights)
    cli = ["recognition", "--data", str(data), "--out", str(tmp_path / "x"), *TINY]
    cases = [
        (["--model", "dgcn", "--init-from", str(base)], "model: checkpoint 'gtn'"),
        (["--model", "gtn", "--init-from", str(tmp_path / "no.pt")], "checkpoint not found"),
    ]
    for extra, message in cases:
        assert main([*cli, "--epochs", "1", *extra]) == 2
        assert message in capsys.readouterr().err


def test_user_metrics_are_never_overwritten(data, tmp_path, capsys):
    """Issue 22 #3 / #4 for recognition: a user's metrics.json is refused (unchanged) unless
    --overwrite; the trainer's own stale temporaries are removed on start, nothing else."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text('{"my": "results"}')
    (out / "predictions.jsonl").write_text("not a recognition output\n")
    args = ["recognition", "--data", str(data), "--out", str(out), *TINY, "--model", "dgcn"]
    assert main([*args, "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "metrics.json" in err and "--overwrite" in err
    assert (out / "metrics.json").read_text() == '{"my": "results"}'
    (out / ".checkpoint.q1w2e3r4.tmp.pt").write_bytes(b"\0" * 100)
    (out / ".ck.notes.tmp").write_text("mine")
    assert main([*args, "--epochs", "1", "--overwrite"]) == 0
    assert "removed 1 stale temporary file(s)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        ".ck.notes.tmp", "checkpoint.pt", "metrics.json", "predictions.jsonl",
    ]  # fmt: skip
    assert (out / "predictions.jsonl").read_text() == "not a recognition output\n"
    assert json.loads((out / "metrics.json").read_text())["task"] == "recognition"


def test_a_missing_clip_is_printed_not_only_recorded(data, tmp_path, capsys):
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(data, copy, ignore=shutil.ignore_patterns(".cache"))
    clip = sorted((copy / "actions").glob("*/*.mp4"))[0]
    clip.unlink()
    m = _run(copy, tmp_path / "run", "--model", "dgcn", "--epochs", "1")
    assert sum(m["skipped"].values()) == 1
    out = capsys.readouterr().out
    assert "skipped clips: skipped 1 missing video" in out and "_split1.txt:" in out
