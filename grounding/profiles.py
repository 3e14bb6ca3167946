"""Named run sizes of the benchmark (``--profile``).

- ``smoke``: CI-sized, a few minutes on a 2-core CPU; checks that every stage runs and that the
  numbers stay inside the tolerances committed in ``results/synthetic/smoke.json``.
- ``default``: the CPU run of the README (the synthetic dataset at a size where models learn).
- ``paper``: the paper's sizes (full-width BN-Inception at 224x224, 25 segments, batch 128,
  80 epochs); meant for a GPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class BenchProfile:
    """Sizes of one benchmark profile.

    Attributes:
        name: profile name.
        n_videos: synthetic grounding videos to generate.
        data_seed: seed of the synthetic data (fixed across model seeds).
        size: synthetic frame side in pixels.
        seeds: model seeds (mean ± std and t-tests are over these).
    """

    name: str
    n_videos: int
    data_seed: int = 0
    size: int = 128
    seeds: tuple[int, ...] = (0, 1, 2)

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, BenchProfile] = {
    "smoke": BenchProfile(name="smoke", n_videos=40, seeds=(0, 1)),
    "default": BenchProfile(name="default", n_videos=200),
    "paper": BenchProfile(name="paper", n_videos=400, size=224),
}
