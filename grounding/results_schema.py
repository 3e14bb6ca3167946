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

OURS = "ours"
GROUNDING_METRICS = ("R1@0.5", "R1@0.7", "R5@0.5", "R5@0.7", "mIoU")
RECOGNITION_METRICS = ("recall", "f1", "accuracy")
