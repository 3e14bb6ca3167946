"""Action-recognition metrics of paper Tables 3 and 5: accuracy, macro recall, macro F1.

Macro averages are taken over the classes present in the ground truth (a class never seen in
``y_true`` has undefined recall and is left out of both macro averages, as scikit-learn does with
``labels=unique(y_true)``); a class predicted but absent from ``y_true`` still lowers precision
of nothing and is ignored. Values are fractions in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassificationMetrics:
    accuracy: float
    macro_recall: float
    macro_f1: float
    n: int

    def as_percent(self) -> dict[str, float]:
        return {
            "accuracy": round(100 * self.accuracy, 2),
            "recall": round(100 * self.macro_recall, 2),
            "f1": round(100 * self.macro_f1, 2),
        }


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``(C, C)`` counts, rows = true class, columns = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(
            f"labels must be 1-D of equal length, got {y_true.shape} and {y_pred.shape}"
        )
    for name, y in (("true", y_true), ("predicted", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(
                f"{name} labels must lie in [0, {n_classes}), got [{y.min()}, {y.max()}]"
            )
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int
) -> ClassificationMetrics:
    cm = confusion_matrix(y_true, y_pred, n_classes).astype(np.float64)
    n = int(cm.sum())
    if n == 0:
        raise ValueError("classification metrics of no samples")
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    present = support > 0
    recall = tp[present] / support[present]
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)[present]
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    return ClassificationMetrics(
        accuracy=float(tp.sum() / n),
        macro_recall=float(recall.mean()),
        macro_f1=float(f1.mean()),
        n=n,
    )
