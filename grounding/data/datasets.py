"""One entry point from a dataset name and a data folder to a :class:`QuerySet`.

``load_split(dataset, root, split)`` reads the files shipped with the package
(:mod:`grounding.data.bundled`) when ``root`` is ``None``, else finds the files under ``root``
under the names the community publishes:

==============  =========================================================================
dataset         files looked for (first match wins)
==============  =========================================================================
``charades``    ``charades_sta_{split}.txt`` + ``Charades_v1_{split}.csv`` in ``root`` or
                ``root/charades_sta/`` or ``root/charades/`` (the synthetic dataset uses
                ``root`` itself)
``activitynet`` ``{split}.json`` (``train``, ``val_1``, ``val_2``) in ``root``,
                ``root/activitynet_captions/`` or ``root/activitynet/``
``charades-cd`` ``charades_{split}.json`` (``train``, ``val``, ``test_iid``, ``test_ood``) in
                ``root``, ``root/charades_cd/`` or ``root/Charades-CD/``
``activitynet-  ``anet_{split}.json`` (``val``, ``test_iid``, ``test_ood``: the train file is
cd``            not published) in ``root``, ``root/activitynet_cd/`` or ``root/ActivityNet-CD/``
``moment_detr`` ``root`` itself when it is a ``.jsonl`` file, else ``root/{split}.jsonl`` (no
                bundled files: ``root`` is required)
==============  =========================================================================

Missing files raise :class:`DatasetNotFound` whose message lists the exact names, the accepted
layouts and where to download them; a split the dataset does not have raises
:class:`UnknownSplit` listing the valid ones. :func:`data_files` says which files a split is
read from, with their SHA-256 (``bundled:<name>`` for the shipped ones), for results.
``guess_gt`` picks the reader from a single file name (the evaluator's ``--gt``), or reads the
shipped files for ``DATASET:SPLIT`` (e.g. ``charades:test``, ``charades-cd:test_ood``).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from grounding.data import bundled
from grounding.data.activitynet import read_activitynet
from grounding.data.annotations import QuerySet, SkipLog
from grounding.data.charades import read_charades_sta
from grounding.data.charades_cd import read_activitynet_cd, read_charades_cd
from grounding.data.moment_detr import read_moment_detr_gt
from grounding.io import check_input_file, file_digest

__all__ = [
    "BUNDLED",
    "DATASETS",
    "DatasetNotFound",
    "UnknownSplit",
    "data_files",
    "default_test_split",
    "guess_gt",
    "load_split",
    "split_files",
    "valid_splits",
]

DATASETS = ("charades", "activitynet", "charades-cd", "activitynet-cd", "moment_detr")
ACTIVITYNET_SPLITS = ("train", "val_1", "val_2")
#: what ``root`` is recorded as when the shipped files are read
BUNDLED = "bundled"

_TEST_SPLITS = {
    "charades": "test",
    "activitynet": "val_2",
    "charades-cd": "test_ood",
    "activitynet-cd": "test_ood",
    "moment_detr": "test",
}

#: the splits a data folder may hold (charades: any name; moment_detr: any ``<split>.jsonl``)
_FOLDER_SPLITS: dict[str, tuple[str, ...] | None] = {
    "charades": None,
    "activitynet": ACTIVITYNET_SPLITS,
    "charades-cd": ("train", "val", "test_iid", "test_ood"),
    "activitynet-cd": ("val", "test_iid", "test_ood"),
    "moment_detr": None,
}

_SUBDIRS = {
    "charades": ("", "charades_sta", "charades"),
    "activitynet": ("", "activitynet_captions", "activitynet"),
    "charades-cd": ("", "charades_cd", "Charades-CD"),
    "activitynet-cd": ("", "activitynet_cd", "ActivityNet-CD"),
}

_NO_TRAIN = {
    "activitynet-cd": "ActivityNet-CD's train file is not published "
    "(it is not in the history of yytzsy/grounding_changing_distribution)",
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
    "charades-cd": (
        "charades_{train,val,test_iid,test_ood}.json: Charades-CD/ of "
        "https://github.com/yytzsy/grounding_changing_distribution"
    ),
    "activitynet-cd": (
        "anet_{val,test_iid,test_ood}.json: ActivityNet-CD/ of "
        "https://github.com/yytzsy/grounding_changing_distribution"
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


class UnknownSplit(ValueError):
    """A split name the dataset does not have; the message lists the valid ones."""


def default_test_split(dataset: str) -> str:
    """The split reported as "test" (ActivityNet: ``val_2``, as 2D-TAN/MMN/Otani et al.;
    VSLNet uses ``val_1``; the CD datasets: ``test_ood``). Always recorded in results next to
    the numbers."""
    _check_dataset(dataset)
    return _TEST_SPLITS[dataset]


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")


def valid_splits(dataset: str, root: Path | None = None) -> tuple[str, ...] | None:
    """The split names ``dataset`` has: the shipped ones without ``root``; with a folder, the
    published names (``None``: any name whose files are there, charades and moment_detr)."""
    _check_dataset(dataset)
    return bundled.split_names(dataset) if root is None else _FOLDER_SPLITS[dataset]


def _check_split(dataset: str, split: str, root: Path | None) -> None:
    valid = valid_splits(dataset, root)
    if valid is None or split in valid:
        return
    where = "shipped with the package" if root is None else "published"
    note = f": {_NO_TRAIN[dataset]}" if split == "train" and dataset in _NO_TRAIN else ""
    raise UnknownSplit(
        f"{dataset} has no split {split!r}{note}; valid splits ({where}): {', '.join(valid)}"
    )


def _find_dir(root: Path, dataset: str, names: list[str]) -> Path | None:
    """The first candidate folder holding all ``names``."""
    for sub in _SUBDIRS[dataset]:
        folder = root / sub if sub else root
        if all((folder / name).is_file() for name in names):
            return folder
    return None


def _file_names(dataset: str, split: str) -> list[str]:
    if dataset == "charades":
        return [f"charades_sta_{split}.txt", f"Charades_v1_{split}.csv"]
    if dataset == "charades-cd":
        return [f"charades_{split}.json"]
    if dataset == "activitynet-cd":
        return [f"anet_{split}.json"]
    return [f"{split}.json"]


def split_files(dataset: str, root: Path, split: str) -> list[Path]:
    """The files split ``split`` of ``dataset`` is read from under the folder ``root`` (reader
    order); :class:`DatasetNotFound` / :class:`UnknownSplit` when they are not there."""
    _check_dataset(dataset)
    root = Path(root)
    _check_split(dataset, split, root)
    if dataset == "moment_detr":
        path = root if root.suffix == ".jsonl" else root / f"{split}.jsonl"
        if not path.is_file():
            raise DatasetNotFound(dataset, path.parent, [path.name])
        return [path]
    names = _file_names(dataset, split)
    folder = _find_dir(root, dataset, names)
    if folder is None:
        raise DatasetNotFound(dataset, root, names)
    return [folder / name for name in names]


def _read(dataset: str, files: list[Path], split: str) -> QuerySet:
    if dataset == "charades":
        return read_charades_sta(files[0], files[1], split=split)
    if dataset == "charades-cd":
        return read_charades_cd(files[0], split=split)
    if dataset == "activitynet-cd":
        return read_activitynet_cd(files[0], split=split)
    if dataset == "moment_detr":
        return read_moment_detr_gt(files[0], split=split)
    return read_activitynet(files[0], split=split)


def _relabel(text: str, folder: str) -> str:
    return text.replace(folder + "/", "bundled:")


def _load_bundled(dataset: str, split: str) -> QuerySet:
    """Read a shipped split: decompressed into a private temporary folder, read by the
    dataset's reader; file names in ``source`` and the log become ``bundled:<name>``."""
    if dataset == "moment_detr":
        raise ValueError(
            "moment_detr has no files shipped with the package: give its .jsonl (or a folder of "
            "<split>.jsonl) as the data root"
        )
    _check_split(dataset, split, None)
    names = bundled.SPLITS[dataset][split]
    with tempfile.TemporaryDirectory(prefix="grounding-bundled-") as tmp:
        bundled.materialize(names, Path(tmp), atomic=False)
        qs = _read(dataset, [Path(tmp) / name for name in names], split)
    log = SkipLog(max_examples=qs.log.max_examples)
    log.skipped.update(qs.log.skipped)
    log.repaired.update(qs.log.repaired)
    log.examples = {k: [_relabel(w, tmp) for w in v] for k, v in qs.log.examples.items()}
    qs.log = log
    qs.source = ", ".join(bundled.label(name) for name in names)
    return qs


def load_split(dataset: str, root: Path | None, split: str) -> QuerySet:
    """Read split ``split`` of ``dataset`` (``charades``, ``activitynet``, ``charades-cd``,
    ``activitynet-cd``, ``moment_detr``) from the folder ``root``, or from the files shipped
    with the package when ``root`` is ``None`` (see the module docstring for the layouts)."""
    _check_dataset(dataset)
    if root is None:
        return _load_bundled(dataset, split)
    return _read(dataset, split_files(dataset, Path(root), split), split)


def data_files(dataset: str, root: Path | None, split: str) -> list[dict[str, str]]:
    """``[{"path", "sha256"}]`` of the files split ``split`` is read from: ``bundled:<name>``
    with the recorded SHA-256 of the shipped file when ``root`` is ``None``, else the path and
    the SHA-256 of the file as it is now."""
    _check_dataset(dataset)
    if root is None:
        _check_split(dataset, split, None)
        return [
            {"path": bundled.label(name), "sha256": bundled.sha256(name)}
            for name in bundled.SPLITS.get(dataset, {}).get(split, ())
        ]
    return [
        {"path": str(p), "sha256": file_digest(p, chars=64)}
        for p in split_files(dataset, Path(root), split)
    ]


_CHARADES_NAME = re.compile(r"charades_sta_(?P<split>.+)\.txt")
_CD_NAME = re.compile(r"(?P<prefix>charades|anet)_(?P<split>train|val|test_iid|test_ood)\.json")
_BUNDLED_NAME = re.compile(
    r"(?:bundled:)?(?P<dataset>charades|activitynet|charades-cd|activitynet-cd)(?::(?P<split>.+))?"
)


def guess_gt(path: Path) -> QuerySet:
    """Read a ground-truth file, choosing the reader from its name.

    ``*.jsonl`` -> Moment-DETR; ``charades_sta_<split>.txt`` -> Charades-STA with durations from
    ``Charades_v1_<split>.csv`` next to it (else every ``Charades_v1_*.csv`` there);
    ``charades_{train,val,test_iid,test_ood}.json`` -> Charades-CD;
    ``anet_{val,test_iid,test_ood}.json`` -> ActivityNet-CD; other ``*.json`` ->
    ActivityNet-Captions. The split recorded is taken from the file name.

    A ``path`` that does not exist and reads ``DATASET`` or ``DATASET:SPLIT`` (``charades:test``,
    ``activitynet:val_2``, ``charades-cd:test_ood``; optionally prefixed ``bundled:``) loads the
    files shipped with the package (the dataset's test split when ``SPLIT`` is left out).
    """
    path = Path(path)
    named = _BUNDLED_NAME.fullmatch(str(path))
    if named and not path.exists():
        dataset = named["dataset"]
        return load_split(dataset, None, named["split"] or default_test_split(dataset))
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
    cd = _CD_NAME.fullmatch(path.name)
    if cd and cd["prefix"] == "charades":
        return read_charades_cd(path, split=cd["split"])
    if cd:
        return read_activitynet_cd(path, split=cd["split"])
    if path.suffix == ".json":
        return read_activitynet(path, split=path.stem)
    raise ValueError(
        f"{path}: cannot tell the format from the name; expected a Moment-DETR .jsonl, "
        "charades_sta_<split>.txt (with Charades_v1_<split>.csv beside it), an "
        "ActivityNet-Captions .json, a Charades-CD charades_<split>.json, an ActivityNet-CD "
        "anet_<split>.json, or a shipped split as DATASET:SPLIT (e.g. charades:test)"
    )
