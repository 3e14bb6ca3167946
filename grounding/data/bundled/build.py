"""Maintainers only: rebuild the shipped annotation files from the published ones.

    python -m grounding.data.bundled.build SRC_DIR

``SRC_DIR`` holds the published files under the names of :data:`grounding.data.bundled.FILES`
(``charades_sta/charades_sta_test.txt``, ``activitynet_captions/val_1.json``, ...: the layout
of the project's shared data folder). Writes ``<name>.xz`` (xz preset 9e), ``MANIFEST.json``
(SHA-256 of each decompressed file, sizes) and ``NOTICE`` into this package's folder. The
Charades CSVs are reduced to their ``id`` and ``length`` columns. Nothing calls this at run time.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import lzma
import sys
from pathlib import Path

from grounding.data.bundled import FILES, MANIFEST, BundledFile

HERE = Path(__file__).resolve().parent
CSV_COLUMNS = ("id", "length")


def reduce_charades_csv(raw: bytes) -> bytes:
    """Only the ``id`` and ``length`` columns of a ``Charades_v1_*.csv`` (values as text)."""
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8"), newline=""))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"Charades CSV lacks columns {missing}")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in reader:
        writer.writerow([row[c] for c in CSV_COLUMNS])
    return out.getvalue().encode("utf-8")


def notice_text(files: list[BundledFile], manifest: dict[str, dict[str, object]]) -> str:
    lines = [
        "Annotation files shipped with the grounding package (xz-compressed under",
        "grounding/data/bundled/). They are copies of published files; the annotations keep",
        "the licences of their datasets:",
        "",
        "- Charades / Charades-STA / Charades-CD: Charades licence of the Allen Institute for AI,",
        "  NON-COMMERCIAL RESEARCH USE ONLY (https://prior.allenai.org/projects/charades).",
        "- ActivityNet Captions / ActivityNet-CD: research use",
        "  (https://cs.stanford.edu/people/ranjaykrishna/densevid/).",
        "",
        "Charades-STA: Gao et al., TALL, ICCV 2017. ActivityNet Captions: Krishna et al., ICCV",
        "2017. Charades-CD / ActivityNet-CD: Yuan et al., A Closer Look at Temporal Sentence",
        "Grounding in Videos: Dataset and Metric, 2021 (ActivityNet-CD's train file is not in its",
        "repository's history and is not shipped).",
        "",
        "SHA-256 is of the decompressed shipped file (for unreduced files: of the published file).",
        "",
    ]
    for f in files:
        lines += [
            f"{f.name}",
            f"  source:  https://github.com/{f.repo}/blob/{f.commit}/{f.path}",
            f"  repo:    {f.repo}",
            f"  path:    {f.path}",
            f"  commit:  {f.commit}",
            f"  licence: {f.licence}",
            f"  sha256:  {manifest[f.name]['sha256']}",
        ]
        if f.reduced:
            lines.append(f"  reduced: {f.reduced}")
        lines.append("")
    return "\n".join(lines)


def build(src: Path, dest: Path = HERE) -> dict[str, dict[str, object]]:
    manifest: dict[str, dict[str, object]] = {}
    for name, f in FILES.items():
        raw = (src / name).read_bytes()
        if f.reduced:
            raw = reduce_charades_csv(raw)
        packed = lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)
        out = dest / f"{name}.xz"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(packed)
        manifest[name] = {
            "sha256": hashlib.sha256(raw).hexdigest(),
            "bytes": len(raw),
            "xz_bytes": len(packed),
        }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (dest / "NOTICE").write_text(notice_text(list(FILES.values()), manifest), encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grounding.data.bundled.build")
    p.add_argument("src", type=Path, help="folder with the published files")
    args = p.parse_args(argv)
    try:
        manifest = build(args.src)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    total = sum(int(m["xz_bytes"]) for m in manifest.values())
    print(f"wrote {len(manifest)} files, {total / 1e6:.2f} MB compressed, to {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
