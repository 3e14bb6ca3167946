"""Metric regression checks against a committed results file (``bench --check FILE``).

Each results file carries ``tolerances``: for every mean metric of every model, the allowed
absolute difference in percentage points, chosen from the spread over seeds as
``max(k * std, floor, 2 samples' worth)`` (``k = 3``, ``floor = 1.0``; a sample is one query or
one test clip). A new run fails the check when any metric
listed in the reference moves by more than its tolerance, or is missing; the failure names the
metric, both values and the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

SECTIONS = ("grounding", "recognition")


def _means(doc: dict) -> dict[str, float]:
    """Flat ``section/model/metric -> mean`` of a results document."""
    out: dict[str, float] = {}
    for section in SECTIONS:
        for model, entry in doc.get(section, {}).items():
            for metric, value in entry.get("mean", {}).items():
                if value is not None:
                    out[f"{section}/{model}/{metric}"] = float(value)
    return out


def _stds(doc: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for section in SECTIONS:
        for model, entry in doc.get(section, {}).items():
            for metric, value in entry.get("std", {}).items():
                if value is not None:
                    out[f"{section}/{model}/{metric}"] = float(value)
    return out


def _granularity(doc: dict, key: str) -> float:
    """Percentage points that one query (grounding) or one test clip (recognition) is worth."""
    section, model = key.split("/")[:2]
    n = doc.get("n_queries") if section == "grounding" else doc[section][model].get("n_test")
    return 100.0 / n if n else 0.0


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
    if not tolerances:
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
