"""Court geometry shared by the motion generators, the schedule and the renderer.

World coordinates: ``x`` in metres along the court (0 = left baseline), ``depth`` in ``[0, 1]``
(0 = far sideline, 1 = near sideline, towards the camera), ``height`` in metres above the floor.
"""

from __future__ import annotations

COURT_LENGTH = 16.0
MID_X = COURT_LENGTH / 2
#: x of the left and right rim centres.
HOOP_X = (1.4, COURT_LENGTH - 1.4)
#: x of the left and right backboards.
BOARD_X = (0.9, COURT_LENGTH - 0.9)
RIM_HEIGHT = 3.05
RIM_RADIUS = 0.23
HOOP_DEPTH = 0.5
BALL_RADIUS = 0.12
#: players stay inside these bounds
X_MIN, X_MAX = 1.6, COURT_LENGTH - 1.6
D_MIN, D_MAX = 0.15, 0.9


def nearest_hoop(x: float) -> float:
    """x of the rim nearest to ``x``."""
    return HOOP_X[0] if x < MID_X else HOOP_X[1]
