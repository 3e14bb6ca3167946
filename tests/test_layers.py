"""The layering contract: every module of ``grounding`` and ``baselines`` sits in one layer, and
imports point down only (docs/design.md, "Layers").

Layers, bottom to top (a module may import its own layer and those below):

    base      grounding.io, grounding.provenance, grounding.data.annotations,
              grounding.data.keypoints (and the package roots grounding, grounding.data)
    eval      grounding.eval: depends on base only, as Moment-DETR's standalone_eval does
    data      readers, features, video, flow, persons, the synthetic generator
    models    grounding.models, baselines
    features  grounding.extract, grounding.person_features
    train     grounding.train
    speed     grounding.speed
    apps      the commands over all of it: bench, pipeline, profiles, tables, regression,
              results_schema, evaluate, compare, plots
    research  grounding.research: diagnostics apart from the product, imported by nothing

Every import counts, also one inside a function (a lazy import is still a dependency). The
check parses the source (no import is executed), so it needs no extra tool; a second check
imports ``grounding.eval`` in a fresh interpreter and lists what came with it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("grounding", "baselines")

#: bottom to top; a module belongs to the layer of its longest matching entry
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "base",
        (
            "grounding.io",
            "grounding.provenance",
            "grounding.runtime",
            "grounding.scheduler",
            "grounding.settings",
            "grounding.data.annotations",
            "grounding.data.keypoints",
        ),
    ),
    ("eval", ("grounding.eval",)),
    ("data", ("grounding.data",)),
    ("models", ("grounding.models", "baselines")),
    ("features", ("grounding.extract", "grounding.person_features")),
    ("train", ("grounding.train",)),
    ("speed", ("grounding.speed",)),
    (
        "apps",
        (
            "grounding.bench",
            "grounding.pipeline",
            "grounding.profiles",
            "grounding.tables",
            "grounding.regression",
            "grounding.results_schema",
            "grounding.evaluate",
            "grounding.compare",
            "grounding.plots",
            "grounding.predict",
        ),
    ),
    ("research", ("grounding.research",)),
)
#: package roots that belong to a lower layer than their contents: importing
#: ``grounding.data.annotations`` runs ``grounding/data/__init__.py``, so that file may only
#: import the base layer
EXACT: dict[str, str] = {"grounding": "base", "grounding.data": "base"}

#: known upward imports ``(importer, imported)``, each to be removed once the code moves
#: (the model registry of issue 24 moves the builders out of ``grounding.train``); an entry
#: that no longer matches an import fails the test, so the list only shrinks
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("grounding.data.grounding_dataset", "grounding.models.localization"): (
        "moment_iou_targets (training targets of the 2D map) lives with the head"
    ),
}

RANK = {name: i for i, (name, _) in enumerate(LAYERS)}


def layer_of(module: str) -> str | None:
    """The layer of a module name, or ``None`` when no entry matches."""
    if module in EXACT:
        return EXACT[module]
    best, best_len = None, -1
    for name, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = name, len(p)
    return best


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            out[_module_name(path)] = path
    return out


def _imports(module: str, path: Path) -> set[str]:
    """Every ``grounding`` / ``baselines`` module the file imports, anywhere in it (relative
    imports resolved; ``from a import b`` counts as ``a.b`` when ``a.b`` is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names)
    return {m for m in out if m.split(".")[0] in PACKAGES}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    sources = _sources()
    return {m: {i for i in _imports(m, p) if i in sources} for m, p in sources.items()}


def test_every_module_has_a_layer(graph) -> None:
    unplaced = sorted(m for m in graph if layer_of(m) is None)
    assert not unplaced, f"modules in no layer (add them to LAYERS in {__file__}): {unplaced}"


def test_imports_point_down_only(graph) -> None:
    upward = []
    for importer, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = layer_of(importer), layer_of(target)
            if a is None or b is None or RANK[b] <= RANK[a]:
                continue
            if (importer, target) not in EXCEPTIONS:
                upward.append(f"{importer} ({a}) imports {target} ({b})")
    assert not upward, "imports pointing up a layer:\n" + "\n".join(upward)


def test_every_exception_is_still_needed(graph) -> None:
    stale = [pair for pair in EXCEPTIONS if pair[1] not in graph.get(pair[0], set())]
    assert not stale, f"remove these EXCEPTIONS from {__file__}, the imports are gone: {stale}"


def test_nothing_in_the_product_imports_research(graph) -> None:
    users = sorted(
        m for m, targets in graph.items() if layer_of(m) != "research"
        for t in targets if layer_of(t) == "research"
    )  # fmt: skip
    assert not users


def test_the_evaluator_loads_the_base_layer_only() -> None:
    """``import grounding.eval`` in a fresh interpreter brings no module of a higher layer
    (package ``__init__`` files included), as Moment-DETR's standalone evaluator."""
    code = (
        "import json, sys; import grounding.eval; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{PACKAGES!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    loaded = json.loads(done.stdout)
    assert "grounding.eval.evaluator" in loaded
    above = [m for m in loaded if layer_of(m) not in ("base", "eval")]
    assert not above, f"import grounding.eval loads modules above the base layer: {above}"


def test_layer_of_takes_the_longest_entry() -> None:
    assert layer_of("grounding.data.annotations") == "base"
    assert layer_of("grounding.data") == "base"
    assert layer_of("grounding.data.charades") == "data"
    assert layer_of("grounding.data.synthetic.generate") == "data"
    assert layer_of("grounding.research.oracle") == "research"
    assert layer_of("grounding.evaluate") == "apps"
    assert layer_of("grounding.eval.nms") == "eval"
    assert layer_of("baselines.gtn") == "models"
    assert layer_of("somewhere.else") is None
