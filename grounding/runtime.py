"""Process set-up shared by the entry points, before torch is imported.

:func:`prefer_passive_omp` is called first in every ``__main__`` that loads torch.
"""

from __future__ import annotations

import os


def prefer_passive_omp() -> None:
    """Tell OpenMP threads to sleep rather than spin while waiting (``OMP_WAIT_POLICY=PASSIVE``)
    unless the user set a policy: on a small shared CPU a spinning thread pool that loses a core
    to another process runs ten times slower. Only effective before torch (OpenMP) is loaded."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
