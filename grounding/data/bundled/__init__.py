"""The published annotation files, shipped inside the package (xz-compressed package data).

``python -m grounding.bench --dataset charades`` and every other reader entry point
(:func:`grounding.data.datasets.load_split` with ``root=None``) read these files when no data
folder is given. They are copies of the files the community publishes (source repository, path,
commit and licence in :data:`FILES` and in the ``NOTICE`` file next to them), except
``Charades_v1_{train,test}.csv``, reduced to the two columns the Charades-STA reader uses
(``id``, ``length``; rows and values unchanged).

``MANIFEST.json`` holds the SHA-256 of every decompressed file (for the unreduced files, the
SHA-256 of the published file itself); :func:`read_bytes` checks it on every read, so a damaged
install fails with a message instead of giving other numbers. Results record these digests.

Splits (:data:`SPLITS`): ``charades`` train/test (Charades-STA), ``activitynet`` train/val_1/val_2
(ActivityNet Captions), ``charades-cd`` train/val/test_iid/test_ood and ``activitynet-cd``
val/test_iid/test_ood (Yuan et al. 2021; the ActivityNet-CD train file is not public).

Licences: Charades (Allen Institute for AI): non-commercial research use only. ActivityNet
Captions: research use. The CD re-splits inherit the licences of their source datasets.

Maintainers rebuild the files with ``python -m grounding.data.bundled.build SRC_DIR`` (a folder
with the published files in the layout of :data:`FILES`' ``origin``); nothing reads ``SRC_DIR``
at run time.
"""

from __future__ import annotations

import hashlib
import json
import lzma
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from grounding.io import atomic_write, file_digest

__all__ = [
    "FILES",
    "SPLITS",
    "BundledDataError",
    "BundledFile",
    "label",
    "manifest",
    "materialize",
    "read_bytes",
    "sha256",
    "split_names",
]

CHARADES_LICENCE = (
    "Charades (Allen Institute for AI, https://prior.allenai.org/projects/charades): "
    "non-commercial research use only"
)
ANET_LICENCE = (
    "ActivityNet Captions (Krishna et al. 2017, "
    "https://cs.stanford.edu/people/ranjaykrishna/densevid/): research use"
)
TAN_REPO, TAN_COMMIT = "microsoft/2D-TAN", "2f7410f0de5e764ac7d84817f173732ef34e1545"
CD_REPO, CD_COMMIT = (
    "yytzsy/grounding_changing_distribution",
    "83b07d484104e2b5a33da9e17352aeabcc10fe5a",
)


@dataclass(frozen=True)
class BundledFile:
    """One shipped file.

    Attributes:
        name: path inside this package without the ``.xz`` suffix (also the name recorded in
            results as ``bundled:<name>``).
        repo / path / commit: where the published file is (GitHub repository, path there, commit).
        licence: the licence of the annotations.
        reduced: how the shipped file differs from the published one (``None``: unchanged).
    """

    name: str
    repo: str
    path: str
    commit: str
    licence: str
    reduced: str | None = None


def _files() -> dict[str, BundledFile]:
    out: list[BundledFile] = []
    for split in ("train", "test"):
        out.append(
            BundledFile(
                f"charades_sta/charades_sta_{split}.txt",
                TAN_REPO,
                f"data/Charades-STA/charades_sta_{split}.txt",
                TAN_COMMIT,
                CHARADES_LICENCE,
            )
        )
        out.append(
            BundledFile(
                f"charades_sta/Charades_v1_{split}.csv",
                TAN_REPO,
                f"data/Charades-STA/Charades_v1_{split}.csv",
                TAN_COMMIT,
                CHARADES_LICENCE,
                reduced="columns id and length only (the video durations the reader uses); "
                "rows and values as published",
            )
        )
    for split, there in (("train", "train"), ("val_1", "val"), ("val_2", "test")):
        out.append(
            BundledFile(
                f"activitynet_captions/{split}.json",
                TAN_REPO,
                f"data/ActivityNet/{there}.json",
                TAN_COMMIT,
                ANET_LICENCE,
            )
        )
    for split in ("train", "val", "test_iid", "test_ood"):
        out.append(
            BundledFile(
                f"charades_cd/charades_{split}.json",
                CD_REPO,
                f"Charades-CD/charades_{split}.json",
                CD_COMMIT,
                CHARADES_LICENCE + " (Charades-CD re-split: Yuan et al. 2021)",
            )
        )
    for split in ("val", "test_iid", "test_ood"):
        out.append(
            BundledFile(
                f"activitynet_cd/anet_{split}.json",
                CD_REPO,
                f"ActivityNet-CD/anet_{split}.json",
                CD_COMMIT,
                ANET_LICENCE + " (ActivityNet-CD re-split: Yuan et al. 2021)",
            )
        )
    return {f.name: f for f in out}


#: every shipped file by name
FILES: dict[str, BundledFile] = _files()

#: dataset -> split -> the shipped files that make the split (reader order)
SPLITS: dict[str, dict[str, tuple[str, ...]]] = {
    "charades": {
        s: (f"charades_sta/charades_sta_{s}.txt", f"charades_sta/Charades_v1_{s}.csv")
        for s in ("train", "test")
    },
    "activitynet": {s: (f"activitynet_captions/{s}.json",) for s in ("train", "val_1", "val_2")},
    "charades-cd": {
        s: (f"charades_cd/charades_{s}.json",) for s in ("train", "val", "test_iid", "test_ood")
    },
    "activitynet-cd": {
        s: (f"activitynet_cd/anet_{s}.json",) for s in ("val", "test_iid", "test_ood")
    },
}

MANIFEST = "MANIFEST.json"


class BundledDataError(RuntimeError):
    """A shipped file is missing or does not match its recorded SHA-256 (a damaged install)."""


def split_names(dataset: str) -> tuple[str, ...]:
    """The shipped splits of ``dataset`` (empty for a dataset with no shipped files)."""
    return tuple(SPLITS.get(dataset, {}))


def label(name: str) -> str:
    """How results name a shipped file: ``bundled:<name>``."""
    return f"bundled:{name}"


def _resource(name: str) -> Traversable:
    return resources.files(__name__).joinpath(*f"{name}.xz".split("/"))


@cache
def manifest() -> dict[str, dict[str, object]]:
    """``{name: {"sha256", "bytes", "xz_bytes"}}`` of the shipped files."""
    try:
        text = resources.files(__name__).joinpath(MANIFEST).read_text(encoding="utf-8")
    except OSError as e:
        raise BundledDataError(f"{__name__}/{MANIFEST} cannot be read ({e}): reinstall") from None
    return json.loads(text)


def sha256(name: str) -> str:
    """The recorded SHA-256 (hex) of the decompressed shipped file ``name``."""
    entry = manifest().get(name)
    if entry is None:
        raise BundledDataError(f"{name} is not in {__name__}/{MANIFEST}")
    return str(entry["sha256"])


def read_bytes(name: str) -> bytes:
    """The decompressed content of ``name``, checked against its recorded SHA-256."""
    if name not in FILES:
        raise KeyError(f"no bundled file {name!r}; known: {', '.join(sorted(FILES))}")
    try:
        data = lzma.decompress(_resource(name).read_bytes())
    except (OSError, lzma.LZMAError) as e:
        raise BundledDataError(f"bundled file {name}.xz cannot be read ({e}): reinstall") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256(name):
        raise BundledDataError(
            f"bundled file {name}.xz: SHA-256 {digest} does not match {sha256(name)} recorded "
            f"in {MANIFEST}: reinstall the package"
        )
    return data


def materialize(names: tuple[str, ...] | list[str], dest: Path, *, atomic: bool = True) -> Path:
    """Write the decompressed files ``names`` under ``dest`` (``dest/<name>``, the layout
    :func:`grounding.data.datasets.load_split` reads); a file already there with the right
    SHA-256 is kept. ``atomic=False`` writes in place (a private temporary folder). Returns
    ``dest``."""
    dest = Path(dest)
    for name in names:
        path = dest / name
        if path.is_file() and file_digest(path, chars=64) == sha256(name):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if atomic:
            with atomic_write(path, "wb") as f:
                f.write(read_bytes(name))
        else:
            path.write_bytes(read_bytes(name))
    return dest
