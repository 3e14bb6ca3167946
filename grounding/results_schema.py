"""The layout of a results JSON written by ``grounding.bench`` and read by ``grounding.tables``.

Every number is per seed; means, standard deviations and p-values are derived when a table is
made, so tables regenerate from the files alone::

    {
      "dataset": "synthetic", "split": "test", "seeds": [0, 1, 2], "profile": {...} | null,
      "protocol": {...}, "n_queries": 370, "provenance": {...}, "skipped": {...},
      "grounding": {                         # paper Table 4
        "<model>": {"per_seed": {"0": {"R1@0.5": 61.2, ..., "mIoU": ...}, ...},
                     "mean": {...}, "std": {...},
                     "per_query": {"0": {"R1@0.5": [0, 1, ...]}}?   # optional, for bootstrap CIs
                     "bootstrap_ci": {"R1@0.5": [lo, hi]}?}
      },
      "recognition": {                       # paper Table 5 and Figure 12(a)
        "<model>": {"per_seed": {"0": {"accuracy": .., "recall": .., "f1": ..}},
                     "params": int, "gflops": float}
      },
      "ablations": {                         # paper Table 3 ("temporal") and Figure 10 ("spatial")
        "temporal": {"<variant>": {"per_seed": {"0": {"accuracy": ..}, ...}}},
        "spatial":  {"<variant>": {"per_seed": {...}}}
      },
      "speed": {...}                         # grounding.speed SpeedReport.to_dict(): Figure 12
                                             # uses speed["recognition"][i]["name" / "fps" /
                                             # "fps_definition" / "time_vs_samples"]
    }

Sections that a run did not produce are absent; a table whose section is missing is skipped with
a message.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from grounding.io import read_json

OURS = "ours"
GROUNDING_METRICS = ("R1@0.5", "R1@0.7", "R5@0.5", "R5@0.7", "mIoU")
RECOGNITION_METRICS = ("recall", "f1", "accuracy")


class ResultsSchemaError(ValueError):
    """A results file that cannot be read or does not follow the layout above; the message names
    the file and the key path (``FILE: grounding.ours.per_seed.0.R1@0.5: ...``)."""


#: the sections that make a table; a results file must hold at least one of them
TABLE_SECTIONS = ("grounding", "recognition", "ablations")


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, keys: tuple[str, ...], message: str) -> ResultsSchemaError:
        where = ".".join(keys) if keys else "top level"
        return ResultsSchemaError(f"{self.source}: {where}: {message}")

    def obj(self, value: object, keys: tuple[str, ...], what: str = "an object") -> dict:
        if not isinstance(value, dict):
            raise self.fail(keys, f"expected {what}, got {_type_name(value)}")
        return value

    def lst(self, value: object, keys: tuple[str, ...], what: str = "a list") -> list:
        if not isinstance(value, list):
            raise self.fail(keys, f"expected {what}, got {_type_name(value)}")
        return value

    def number(self, value: object, keys: tuple[str, ...], *, nullable: bool = True) -> None:
        if value is None and nullable:
            return
        if not _is_number(value):
            raise self.fail(
                keys,
                f"expected a number{' or null' if nullable else ''}, "
                f"got {_type_name(value)} {json.dumps(value)[:40]}",
            )
        if not math.isfinite(value):
            raise self.fail(keys, f"expected a finite number, got {value}")

    def integer(self, value: object, keys: tuple[str, ...], *, nullable: bool = True) -> None:
        if value is None and nullable:
            return
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(
                keys, f"expected an integer, got {_type_name(value)} {json.dumps(value)[:40]}"
            )

    def string(self, value: object, keys: tuple[str, ...], *, nullable: bool = True) -> None:
        if value is None and nullable:
            return
        if not isinstance(value, str):
            raise self.fail(keys, f"expected a string, got {_type_name(value)}")

    def metrics(self, value: object, keys: tuple[str, ...]) -> None:
        for metric, v in self.obj(value, keys, "an object of metric values").items():
            self.number(v, (*keys, metric))

    def entry(self, value: object, keys: tuple[str, ...]) -> None:
        """One model's (or ablation variant's) results."""
        entry = self.obj(value, keys, "an object with per_seed")
        if "per_seed" not in entry:
            raise self.fail(keys, "missing per_seed")
        per_seed = self.obj(entry["per_seed"], (*keys, "per_seed"), "an object of seeds")
        for seed, metrics in per_seed.items():
            if not re.fullmatch(r"-?[0-9]+", seed):
                raise self.fail((*keys, "per_seed", seed), "seed keys must be integers")
            self.metrics(metrics, (*keys, "per_seed", seed))
        for name in ("mean", "std"):
            if name in entry:
                self.metrics(entry[name], (*keys, name))
        if "bootstrap_ci" in entry:
            ci_keys = (*keys, "bootstrap_ci")
            for metric, ci in self.obj(entry["bootstrap_ci"], ci_keys).items():
                pair = self.lst(ci, (*ci_keys, metric), "a [low, high] pair")
                if len(pair) != 2:
                    raise self.fail((*ci_keys, metric), f"expected [low, high], got {pair}")
                for i, v in enumerate(pair):
                    self.number(v, (*ci_keys, metric, str(i)), nullable=False)
        for name in ("params", "n_test"):
            if name in entry:
                self.integer(entry[name], (*keys, name))
        if "gflops" in entry:
            self.number(entry["gflops"], (*keys, "gflops"))

    def section(self, value: object, keys: tuple[str, ...]) -> None:
        for model, entry in self.obj(value, keys, "an object of models").items():
            self.entry(entry, (*keys, model))

    def speed(self, value: object) -> None:
        if value is None:
            return
        speed = self.obj(value, ("speed",))
        if "recognition" not in speed:
            return
        for i, rec in enumerate(self.lst(speed["recognition"], ("speed", "recognition"))):
            keys = ("speed", "recognition", str(i))
            rec = self.obj(rec, keys)
            for name in ("name", "fps"):
                if name not in rec:
                    raise self.fail(keys, f"missing {name}")
            self.string(rec["name"], (*keys, "name"), nullable=False)
            self.number(rec["fps"], (*keys, "fps"), nullable=False)
            self.string(rec.get("fps_definition"), (*keys, "fps_definition"))
            tvs_keys = (*keys, "time_vs_samples")
            for j, point in enumerate(self.lst(rec.get("time_vs_samples", []), tvs_keys)):
                point = self.obj(point, (*tvs_keys, str(j)))
                for name in ("samples", "p50_ms"):
                    if name not in point:
                        raise self.fail((*tvs_keys, str(j)), f"missing {name}")
                self.integer(point["samples"], (*tvs_keys, str(j), "samples"), nullable=False)
                self.number(point["p50_ms"], (*tvs_keys, str(j), "p50_ms"), nullable=False)


def validate_results(doc: object, source: str | Path = "results") -> dict:
    """Check ``doc`` against the layout above (what :mod:`grounding.tables` reads) and return it;
    raise :class:`ResultsSchemaError` naming ``source`` and the key path of the first problem."""
    c = _Checker(str(source))
    doc = c.obj(doc, (), "a JSON object written by grounding.bench")
    if not any(k in doc for k in TABLE_SECTIONS):
        keys = ", ".join(sorted(doc)[:8]) or "none"
        raise ResultsSchemaError(
            f"{source}: not a grounding.bench results file: none of the sections "
            f"{' / '.join(TABLE_SECTIONS)} (its keys: {keys})"
        )
    for name in ("grounding", "recognition"):
        if name in doc:
            c.section(doc[name], (name,))
    if "ablations" in doc:
        for kind, section in c.obj(doc["ablations"], ("ablations",), "an object").items():
            c.section(section, ("ablations", kind))
    for name in ("dataset", "split"):
        c.string(doc.get(name), (name,))
    if "seeds" in doc:
        for i, seed in enumerate(c.lst(doc["seeds"], ("seeds",))):
            c.integer(seed, ("seeds", str(i)), nullable=False)
    for name in ("protocol", "provenance"):
        if doc.get(name) is not None:
            c.obj(doc[name], (name,))
    if doc.get("protocol") is not None:
        c.string(doc["protocol"].get("name"), ("protocol", "name"))
    if doc.get("provenance") is not None:
        c.string(doc["provenance"].get("device"), ("provenance", "device"))
    c.speed(doc.get("speed"))
    return doc


def read_json_file(path: str | Path, what: str = "JSON file") -> object:
    """Parse a JSON file (:func:`grounding.io.read_json`); every failure (missing, a directory,
    not UTF-8, syntax) is raised as a :class:`ResultsSchemaError` naming the file."""
    try:
        return read_json(path, what)
    except (OSError, ValueError) as e:
        raise ResultsSchemaError(str(e)) from None


def load_results(path: str | Path) -> dict:
    """Read and validate one results file (see :func:`validate_results`)."""
    return validate_results(read_json_file(path, "results file"), path)
