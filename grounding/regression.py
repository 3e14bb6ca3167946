"""Metric regression checks against a committed results file (``bench --check FILE``).

Each results file carries ``tolerances``: for every mean metric of every model, the allowed
absolute difference in percentage points, chosen from the spread over seeds as
``max(k * std, floor, 2 samples' worth)`` (``k = 3``, ``floor = 1.0``; a sample is one query or
one test clip). A new run fails the check when any metric
listed in the reference moves by more than its tolerance, or is missing; the failure names the
metric, both values and the tolerance.

:func:`load_reference` reads and checks a reference before a run starts (readable, UTF-8, JSON,
a results object whose every tolerance is a non-negative number naming a metric with a numeric
mean), so a bad reference is reported at once, naming the file and the key path, and never
after hours of work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grounding.io import read_json

SECTIONS = ("grounding", "recognition")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _section_values(doc: dict, field: str) -> dict[str, float]:
    """Flat ``section/model/metric -> value`` of ``field`` (``mean`` or ``std``); entries that
    are not numbers (None: an empty bucket) are left out."""
    out: dict[str, float] = {}
    for section in SECTIONS:
        models = doc.get(section)
        if not isinstance(models, dict):
            continue
        for model, entry in models.items():
            values = entry.get(field) if isinstance(entry, dict) else None
            if not isinstance(values, dict):
                continue
            for metric, value in values.items():
                if _is_number(value):
                    out[f"{section}/{model}/{metric}"] = float(value)
    return out


def _means(doc: dict) -> dict[str, float]:
    """Flat ``section/model/metric -> mean`` of a results document."""
    return _section_values(doc, "mean")


def _stds(doc: dict) -> dict[str, float]:
    return _section_values(doc, "std")


def _kind(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"a {type(value).__name__}"


def validate_reference(doc: Any, path: str | Path) -> dict:
    """``doc`` if it is a usable reference, else ``ValueError`` naming ``path`` and the key."""
    if not isinstance(doc, dict):
        raise ValueError(
            f"--check reference {path}: expected a results object of grounding.bench, "
            f"got a JSON {type(doc).__name__}"
        )
    tolerances = doc.get("tolerances")
    if tolerances is None:
        raise ValueError(
            f"--check reference {path}: no 'tolerances' key: not a results file written by "
            "grounding.bench"
        )
    if not isinstance(tolerances, dict) or not tolerances:
        raise ValueError(
            f"--check reference {path}: tolerances: expected a non-empty object "
            f"'section/model/metric': points, got {_kind(tolerances)}"
        )
    head = f"--check reference {path}"
    for key, tol in tolerances.items():
        named = f"tolerances[{key!r}]"
        if not _is_number(tol) or tol < 0:
            raise ValueError(f"{head}: {named}: expected a non-negative number, got {_kind(tol)}")
        parts = key.split("/", 2)  # a metric may hold a slash: "short/mAP"
        if len(parts) != 3 or parts[0] not in SECTIONS or not all(parts):
            raise ValueError(f"{head}: {named}: expected a key '{'|'.join(SECTIONS)}/MODEL/METRIC'")
        section, model, metric = parts
        models = doc.get(section)
        if not isinstance(models, dict):
            raise ValueError(
                f"{head}: {section}: expected an object of models (named by {named}), "
                f"got {_kind(models)}"
            )
        entry = models.get(model)
        mean = entry.get("mean") if isinstance(entry, dict) else None
        if not isinstance(mean, dict):
            raise ValueError(
                f"{head}: {section}/{model}/mean: expected an object of metrics (named by "
                f"{named}), got {_kind(mean if isinstance(entry, dict) else entry)}"
            )
        if not _is_number(mean.get(metric)):
            raise ValueError(
                f"{head}: {section}/{model}/mean/{metric}: expected a number (it has a "
                f"tolerance), got {_kind(mean.get(metric))}"
            )
    return doc


def load_reference(path: str | Path) -> dict:
    """Read and check a ``--check`` reference (see :func:`validate_reference`); every problem
    is a one-line error naming the file (and the key path)."""
    return validate_reference(read_json(path, "--check reference"), path)


def _granularity(doc: dict, key: str) -> float:
    """Percentage points that one query (grounding) or one test clip (recognition) is worth."""
    section, model = key.split("/")[:2]
    n = doc.get("n_queries") if section == "grounding" else doc[section][model].get("n_test")
    return 100.0 / n if _is_number(n) and n > 0 else 0.0


def tolerances_from(
    doc: dict, *, k: float = 3.0, floor: float = 1.0, samples: int = 2
) -> dict[str, float]:
    """Tolerance of every mean metric in ``doc``: ``k`` seed standard deviations, at least
    ``floor`` points and at least ``samples`` queries' (or test clips') worth of points, so a
    small test set does not fail on one flipped prediction."""
    stds = _stds(doc)
    return {
        key: round(max(k * stds.get(key, 0.0), floor, samples * _granularity(doc, key)), 2)
        for key in _means(doc)
    }


@dataclass(frozen=True)
class Deviation:
    metric: str
    reference: float
    value: float | None
    tolerance: float

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.metric}: missing from the new run (reference {self.reference:.2f})"
        return (
            f"{self.metric}: {self.value:.2f} vs reference {self.reference:.2f} "
            f"(|diff| {abs(self.value - self.reference):.2f} > tolerance {self.tolerance:.2f})"
        )


def check_against(new: dict, reference: dict) -> list[Deviation]:
    """Metrics of ``new`` outside the tolerances stored in ``reference``."""
    tolerances = reference.get("tolerances")
    if not tolerances or not isinstance(tolerances, dict):
        raise ValueError("the reference results file has no 'tolerances' section")
    ref_means, new_means = _means(reference), _means(new)
    out = []
    for key, tol in sorted(tolerances.items()):
        if key not in ref_means:
            continue
        value = new_means.get(key)
        if value is None or abs(value - ref_means[key]) > tol:
            out.append(Deviation(key, ref_means[key], value, float(tol)))
    return out
