"""The README and docs/cli.md say what the committed results and the commands say."""

import json
import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

#: the README's metric tables, in order, and the committed results file each is copied from
TABLE_SOURCES = ("results/synthetic/reference.json", "results/charades/test.json")


def _tables(text: str) -> list[list[list[str]]]:
    """Markdown tables of ``text``: rows of cells, header first, the ``|---|`` line dropped."""
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("-:"):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_readme_is_short_and_its_quickstart_is_two_pinned_commands():
    assert len(README.encode()) <= 10 * 1024
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quickstart, flags=re.S)
    assert len(commands) == 2, commands
    run, test = commands
    for command in commands:
        assert "\n" not in command and command.startswith("pip install torch==2.13.0 -e ")
    assert run.endswith("&& python -m grounding.bench")
    assert '".[dev]"' in test and test.endswith("&& pytest -q")


def test_readme_metric_tables_are_the_committed_results():
    tables = [t for t in _tables(README) if any("±" in c for row in t for c in row)]
    assert len(tables) == len(TABLE_SOURCES)
    for table, source in zip(tables, TABLE_SOURCES, strict=True):
        grounding = json.loads((ROOT / source).read_text())["grounding"]
        header, *rows = table
        checked = 0
        for model, *cells in rows:
            for metric, cell in zip(header[1:], cells, strict=True):
                if "±" not in cell:
                    continue
                mean, std = (grounding[model][k][metric] for k in ("mean", "std"))
                assert cell == f"{mean:.2f} ± {std:.2f}", (source, model, metric)
                checked += 1
        assert checked >= 10, source


def test_readme_run_times_are_the_committed_runs():
    """``quick`` (... 15 min ...): each profile's minutes are its results file's wall time."""
    for profile in ("quick", "reference", "smoke"):
        said = re.search(rf"`{profile}` \([^)]*?(\d+) min", README)
        assert said, profile
        total = json.loads((ROOT / f"results/synthetic/{profile}.json").read_text())["seconds"]
        assert int(said.group(1)) == round(total["total"] / 60), profile


def test_readme_cd_shift_is_the_committed_results():
    said = re.search(r"falls from ([\d.]+)\s+\(`test_iid`\) to ([\d.]+)", README)
    assert said
    for split, value in zip(("test_iid", "test_ood"), said.groups(), strict=True):
        doc = json.loads((ROOT / f"results/charades-cd/{split}.json").read_text())
        assert f"{doc['grounding']['prior-only']['mean']['R1@0.5']:.2f}" == value


@pytest.mark.slow
def test_cli_page_is_every_commands_help():
    """docs/cli.md is what ``python docs/make_cli.py`` writes from the ``--help`` texts."""
    page = runpy.run_path(str(ROOT / "docs" / "make_cli.py"))["render"]()
    assert page == (ROOT / "docs" / "cli.md").read_text(encoding="utf-8"), (
        "docs/cli.md is stale: run python docs/make_cli.py"
    )
