"""The benchmark scripts' defaults name settings that exist (they run by hand, not in CI)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_bench_training_defaults_build_the_reference_grounding_config():
    from grounding.profiles import PROFILES

    bench = _script("bench_training")
    config = bench.grounding_train_config()  # the default profile and model
    ours = PROFILES["reference"].grounding_for("ours")
    assert (config.epochs, config.map_dim) == (ours.optim.epochs, ours.net.map_dim)
