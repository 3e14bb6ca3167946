"""Named run sizes of the benchmark (``--profile``).

- ``smoke``: CI-sized (<= 3 minutes on a 2-core CPU); checks that every stage runs and that
  the numbers stay inside the tolerances committed in ``results/synthetic/smoke.json``.
- ``quick``: the README's main command, the first run (<= 20 minutes on 2 cores from an empty
  cache): every trained model learns, on a dataset half the reference's size.
- ``reference``: the full CPU reference (<= 60 minutes on 2 cores from an empty cache): the
  numbers of ``results/synthetic/reference.json`` and the research log.
- ``paper``: the paper's sizes (full-width BN-Inception at 224x224, 25 segments, batch 128,
  80 epochs); meant for a GPU.

Wall times: :mod:`grounding.scheduler` stage tables in each committed results file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from grounding.extract import ExtractionSettings
from grounding.models.recognizer import (
    ClipSampling,
    RecognitionOptim,
    RecognitionSettings,
    RecognizerNet,
)
from grounding.settings import to_jsonable
from grounding.train.grounding import GroundingNet, GroundingOptim, GroundingSettings


@dataclass(frozen=True)
class BenchProfile:
    """Sizes and stage settings of one benchmark profile (settings left out: their classes'
    defaults, the training and extraction commands' own).

    Attributes:
        name: profile name.
        n_videos: synthetic grounding videos to generate.
        data_seed: seed of the synthetic data (fixed across model seeds).
        size: synthetic frame side in pixels.
        seeds: model seeds (mean ± std and t-tests are over these).
        models: registered models trained (recognition, features, grounding), besides the
            blind baselines (``--models`` replaces them).
        recognition / extraction / grounding: the settings of the three stages (the runner
            sets each run's model and seed).
        model_recognition / model_extraction / model_grounding: one model's own settings
            instead of the shared ones, e.g. fewer epochs for the skeleton baselines,
            person-centric features with context for the two-stream model.
        ablations: also run the temporal (Table 3) and spatial (Figure 10) ablations.
        speed_args: overrides of :class:`grounding.speed.SpeedSettings` fields.
        recognition_seeds: train recognizers for only the first this many seeds (``None``:
            every seed). Grounding runs every seed on the first seed's features either way,
            so fewer recognizer seeds only narrow the recognition table, at a large saving.
    """

    name: str
    n_videos: int
    data_seed: int = 0
    size: int = 128
    seeds: tuple[int, ...] = (0, 1, 2)
    models: tuple[str, ...] = ("ours", "gtn", "dgcn")
    recognition: RecognitionSettings = field(default_factory=RecognitionSettings)
    extraction: ExtractionSettings = field(default_factory=ExtractionSettings)
    grounding: GroundingSettings = field(default_factory=GroundingSettings)
    model_recognition: dict[str, RecognitionSettings] = field(default_factory=dict)
    model_extraction: dict[str, ExtractionSettings] = field(default_factory=dict)
    model_grounding: dict[str, GroundingSettings] = field(default_factory=dict)
    ablations: bool = False
    speed_args: dict[str, float] = field(default_factory=dict)
    recognition_seeds: int | None = None

    def recognizer_seeds(self, seeds: tuple[int, ...]) -> tuple[int, ...]:
        """The seeds of ``seeds`` that train a recognizer (the first ``recognition_seeds``;
        grounding reads the first seed's features whatever the number)."""
        return seeds[: self.recognition_seeds] if self.recognition_seeds else seeds

    def recognition_for(self, model: str) -> RecognitionSettings:
        """The recognition settings of ``model`` (its own, else the shared ones)."""
        return self.model_recognition.get(model, self.recognition)

    def extraction_for(self, model: str) -> ExtractionSettings:
        """The extraction settings of ``model`` (its own, else the shared ones)."""
        return self.model_extraction.get(model, self.extraction)

    def grounding_for(self, model: str) -> GroundingSettings:
        """The grounding settings of ``model`` (its own, else the shared ones)."""
        return self.model_grounding.get(model, self.grounding)

    def to_dict(self) -> dict:
        return to_jsonable(self)


def _epochs(settings: RecognitionSettings, epochs: int) -> RecognitionSettings:
    return replace(settings, optim=replace(settings.optim, epochs=epochs))


def _persons(settings: ExtractionSettings) -> ExtractionSettings:
    """The two-stream model's person-centric grounding features (its registry entry's kind,
    grounding.person_features): each clip's snippets reach half a second past it on both
    sides."""
    return replace(settings, person_context=0.5)


_SMOKE_EXTRACT = ExtractionSettings(clip_seconds=2.0)
_REFERENCE_GROUNDING = GroundingSettings(
    net=GroundingNet(head_kernel=3, map_dim=64), optim=GroundingOptim(epochs=4)
)
_DEFAULT_RECOGNITION = RecognitionSettings(
    net=RecognizerNet(input_size=64, width=0.25), optim=RecognitionOptim(epochs=16)
)


def _model_recognition(*, ours_epochs: int) -> dict[str, RecognitionSettings]:
    """The pixel recognizer ``ours_epochs`` epochs with its RGB stream fed frame differences
    (TSN's RGB-diff); the skeleton baselines 5 epochs (they reach 100 % in fewer)."""
    return {
        "ours": replace(
            _epochs(_DEFAULT_RECOGNITION, ours_epochs), clips=ClipSampling(rgb_input="diff")
        ),
        "gtn": _epochs(_DEFAULT_RECOGNITION, 5),
        "dgcn": _epochs(_DEFAULT_RECOGNITION, 5),
    }


PROFILES: dict[str, BenchProfile] = {
    "smoke": BenchProfile(
        name="smoke",
        n_videos=40,
        seeds=(0, 1),
        recognition_seeds=1,
        recognition=RecognitionSettings(
            net=RecognizerNet(input_size=64, width=0.25),
            clips=ClipSampling(segments=2),
            optim=RecognitionOptim(epochs=1, batch_size=16),
        ),
        extraction=_SMOKE_EXTRACT,
        model_extraction={"ours": _persons(_SMOKE_EXTRACT)},
        # a narrow network with the learned span prior at a high lr: what beats prior-only
        # in a CI-sized run (recognizers this short stay near chance)
        grounding=GroundingSettings(
            net=GroundingNet(
                num_clips=16,
                hidden_dim=128,
                encoder_layers=1,
                map_dim=32,
                head_layers=2,
                head_kernel=3,
                cell_prior=True,
            ),
            optim=GroundingOptim(epochs=6, lr=1e-2),
        ),
        speed_args={"iters": 2, "query_iters": 5, "videos": 1, "max_seconds": 5.0},
    ),
    # the first run: half the reference's videos, two seeds, the pixel recognizer 32 epochs,
    # the reference's grounding (its wall time and metrics: docs/experiments/first-run.md)
    "quick": BenchProfile(
        name="quick",
        n_videos=100,
        seeds=(0, 1),
        recognition=_DEFAULT_RECOGNITION,
        recognition_seeds=1,
        model_recognition=_model_recognition(ours_epochs=32),
        model_extraction={"ours": _persons(ExtractionSettings())},
        grounding=_REFERENCE_GROUNDING,
    ),
    # the pixel recognizer at 64 px / width 0.25 for 48 epochs with its RGB stream fed frame
    # differences (TSN's RGB-diff), person-centric features for its grounding, the skeleton
    # baselines 5 epochs, grounding 4 epochs with a 64-channel map and 3x3 convs (the
    # measurements behind these choices: docs/experiments/synthetic.md); one recognizer per
    # model, since every grounding seed reads the first seed's features
    "reference": BenchProfile(
        name="reference",
        n_videos=200,
        recognition_seeds=1,
        recognition=_DEFAULT_RECOGNITION,
        model_recognition=_model_recognition(ours_epochs=48),
        model_extraction={"ours": _persons(ExtractionSettings())},
        grounding=_REFERENCE_GROUNDING,
        # grounding on the pixel recognizer's features keeps improving past 4 epochs, the
        # skeleton baselines' does not (docs/experiments/first-run.md)
        model_grounding={"ours": replace(_REFERENCE_GROUNDING, optim=GroundingOptim(epochs=12))},
    ),
    "paper": BenchProfile(
        name="paper",
        n_videos=400,
        size=224,
        recognition=RecognitionSettings(
            net=RecognizerNet(size="full"),
            clips=ClipSampling(segments=25),
            optim=RecognitionOptim(batch_size=128, epochs=80),
        ),
        ablations=True,
    ),
}
