"""One entry point from a dataset name and a data folder to a :class:`QuerySet`.

``load_split(dataset, root, split)`` finds the files under the names the community publishes:

==============  =========================================================================
dataset         files looked for (first match wins)
==============  =========================================================================
``charades``    ``charades_sta_{split}.txt`` + ``Charades_v1_{split}.csv`` in ``root`` or
                ``root/charades_sta/`` or ``root/charades/`` (the synthetic dataset uses
                ``root`` itself)
``activitynet`` ``{split}.json`` (``train``, ``val_1``, ``val_2``) in ``root``,
                ``root/activitynet_captions/`` or ``root/activitynet/``
``moment_detr`` ``root`` itself when it is a ``.jsonl`` file, else ``root/{split}.jsonl``
==============  =========================================================================

Missing files raise :class:`DatasetNotFound` whose message lists the exact names, the accepted
layouts and where to download them. ``guess_gt`` picks the reader from a single file name (the
evaluator's ``--gt``).
"""

from __future__ import annotations

import re
from pathlib import Path

from grounding.data.activitynet import read_activitynet
from grounding.data.annotations import QuerySet
from grounding.data.charades import read_charades_sta
from grounding.data.moment_detr import read_moment_detr_gt
from grounding.io import check_input_file

__all__ = ["DATASETS", "DatasetNotFound", "default_test_split", "guess_gt", "load_split"]

DATASETS = ("charades", "activitynet", "moment_detr")
ACTIVITYNET_SPLITS = ("train", "val_1", "val_2")

_TEST_SPLITS = {"charades": "test", "activitynet": "val_2", "moment_detr": "test"}

_SUBDIRS = {
    "charades": ("", "charades_sta", "charades"),
    "activitynet": ("", "activitynet_captions", "activitynet"),
}

_WHERE = {
    "charades": (
        "charades_sta_{train,test}.txt: https://github.com/jiyanggao/TALL (also in "
        "microsoft/2D-TAN data/Charades-STA/); Charades_v1_{train,test}.csv: the Charades "
        "annotations zip, https://prior.allenai.org/projects/charades"
    ),
    "activitynet": (
        "train.json, val_1.json, val_2.json: captions.zip from "
        "https://cs.stanford.edu/people/ranjaykrishna/densevid/ (2D-TAN's data/ActivityNet/ "
        "names them train.json, val.json = val_1, test.json = val_2: rename those two)"
    ),
    "moment_detr": (
        "Moment-DETR jsonl, e.g. data/highlight_val_release.jsonl of "
        "https://github.com/jayleicn/moment_detr or data/charades/charades_test_release.jsonl "
        "of https://github.com/line/lighthouse"
    ),
}


class DatasetNotFound(FileNotFoundError):
    """The annotation files of a dataset are not where they were looked for."""

    def __init__(self, dataset: str, root: Path, expected: list[str]) -> None:
        dirs = [str(root / d) if d else str(root) for d in _SUBDIRS.get(dataset, ("",))]
        message = (
            f"{dataset} annotations not found under {root}. Expected "
            f"{' + '.join(expected)} in one of: {', '.join(dirs)}. Get them from: "
            f"{_WHERE[dataset]}."
        )
        super().__init__(message)
        self.dataset = dataset
        self.root = root
        self.expected = expected


def default_test_split(dataset: str) -> str:
    """The split reported as "test" (ActivityNet: ``val_2``, as 2D-TAN/MMN/Otani et al.;
    VSLNet uses ``val_1``). Always recorded in results next to the numbers."""
    _check_dataset(dataset)
    return _TEST_SPLITS[dataset]


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")


def _find_dir(root: Path, dataset: str, names: list[str]) -> Path | None:
    """The first candidate folder holding all ``names``."""
    for sub in _SUBDIRS[dataset]:
        folder = root / sub if sub else root
        if all((folder / name).is_file() for name in names):
            return folder
    return None


def load_split(dataset: str, root: Path, split: str) -> QuerySet:
    """Read split ``split`` of ``dataset`` (``charades``, ``activitynet``, ``moment_detr``)
    from ``root`` (see the module docstring for the layouts)."""
    _check_dataset(dataset)
    root = Path(root)
    if dataset == "moment_detr":
        path = root if root.suffix == ".jsonl" else root / f"{split}.jsonl"
        if not path.is_file():
            raise DatasetNotFound(dataset, path.parent, [path.name])
        return read_moment_detr_gt(path, split=split)
    if dataset == "activitynet" and split not in ACTIVITYNET_SPLITS:
        raise ValueError(f"ActivityNet split must be one of {ACTIVITYNET_SPLITS}, got {split!r}")
    if dataset == "charades":
        names = [f"charades_sta_{split}.txt", f"Charades_v1_{split}.csv"]
    else:
        names = [f"{split}.json"]
    folder = _find_dir(root, dataset, names)
    if folder is None:
        raise DatasetNotFound(dataset, root, names)
    if dataset == "charades":
        return read_charades_sta(folder / names[0], folder / names[1], split=split)
    return read_activitynet(folder / names[0], split=split)


_CHARADES_NAME = re.compile(r"charades_sta_(?P<split>.+)\.txt")


def guess_gt(path: Path) -> QuerySet:
    """Read a ground-truth file, choosing the reader from its name.

    ``*.jsonl`` -> Moment-DETR; ``charades_sta_<split>.txt`` -> Charades-STA with durations from
    ``Charades_v1_<split>.csv`` next to it (else every ``Charades_v1_*.csv`` there); ``*.json`` ->
    ActivityNet-Captions. The split recorded is taken from the file name.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"{path} is a folder: pass the ground-truth file itself (a Moment-DETR .jsonl, "
            "charades_sta_<split>.txt or an ActivityNet <split>.json)"
        )
    check_input_file(path, "ground-truth file")
    if path.suffix == ".jsonl":
        return read_moment_detr_gt(path, split=path.stem)
    match = _CHARADES_NAME.fullmatch(path.name)
    if match:
        split = match["split"]
        own = path.parent / f"Charades_v1_{split}.csv"
        csvs = [own] if own.is_file() else sorted(path.parent.glob("Charades_v1_*.csv"))
        if not csvs:
            raise DatasetNotFound("charades", path.parent, [path.name, own.name])
        return read_charades_sta(path, csvs, split=split)
    if path.suffix == ".json":
        return read_activitynet(path, split=path.stem)
    raise ValueError(
        f"{path}: cannot tell the format from the name; expected a Moment-DETR .jsonl, "
        "charades_sta_<split>.txt (with Charades_v1_<split>.csv beside it) or an "
        "ActivityNet-Captions .json"
    )
