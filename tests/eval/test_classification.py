import numpy as np
import pytest

from grounding.eval.classification import classification_metrics, confusion_matrix


def test_hand_computed():
    # class 0: 2 samples, 1 right; class 1: 2 samples, 2 right; class 2: never true, predicted once
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 1, 1])
    m = classification_metrics(y_true, y_pred, 3)
    assert m.accuracy == 0.75
    assert m.macro_recall == pytest.approx((0.5 + 1.0) / 2)
    # precision: class 0 = 1/1, class 1 = 2/2 -> F1: 2*1*.5/1.5 = 2/3, 1
    assert m.macro_f1 == pytest.approx((2 / 3 + 1.0) / 2)
    assert m.as_percent() == {"accuracy": 75.0, "recall": 75.0, "f1": 83.33}


def test_confusion_matrix_and_errors():
    cm = confusion_matrix(np.array([0, 1, 1]), np.array([1, 1, 0]), 2)
    assert cm.tolist() == [[0, 1], [1, 1]]
    with pytest.raises(ValueError, match=r"lie in \[0, 2\)"):
        confusion_matrix(np.array([0, 2]), np.array([0, 1]), 2)
    with pytest.raises(ValueError, match="equal length"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 2)
    with pytest.raises(ValueError, match="no samples"):
        classification_metrics(np.array([], int), np.array([], int), 2)


def test_perfect_and_worst():
    y = np.array([0, 1, 2, 2])
    assert classification_metrics(y, y, 3).macro_f1 == 1.0
    assert classification_metrics(y, (y + 1) % 3, 3).accuracy == 0.0
