"""The model registry: built-in entries, lookups, user modules by --import."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from grounding.models.grounding_model import GroundingModelConfig, build_grounding_network
from grounding.models.recognizer import PIXEL_CLIPS, SKELETON_CLIPS, RecognizerSpec
from grounding.models.registry import (
    FeatureKind,
    ModelImportError,
    UnknownModel,
    create_encoder,
    get_model,
    import_models,
    list_models,
    register_model,
)

BUILTIN = ["ours", "gtn", "dgcn"] + [
    f"ours-{v}" for v in ("rnn", "lstm", "gru", "softmax", "mhssa-h1", "mhssa-h4", "mhssa-h6")
]


def test_builtin_models_say_how_they_are_built_and_fed():
    assert set(BUILTIN) <= set(list_models(trainable=True))
    assert get_model("ours").features is FeatureKind.PERSON
    assert get_model("ours").recognizer.inputs is PIXEL_CLIPS
    for name in ("gtn", "dgcn"):
        spec = get_model(name)
        assert spec.features is FeatureKind.SKELETON and spec.recognizer.inputs is SKELETON_CLIPS
        assert spec.module == f"baselines.{name}"
    assert get_model("ours-rnn").recognizer.defaults == {"temporal": "rnn"}
    assert get_model("ours-mhssa-h6").recognizer.defaults == {"heads": 6}


@pytest.mark.parametrize("name", BUILTIN)
def test_every_encoder_keeps_the_clip_shape(name):
    enc = create_encoder(name, dim=16, num_clips=6, heads=2, layers=2, dropout=0.0).eval()
    assert enc(torch.randn(2, 6, 16)).shape == (2, 6, 16)
    net = build_grounding_network(model=name, config=GroundingModelConfig(in_dim=5, num_clips=6))
    assert net(torch.zeros(2, 6, 5), torch.zeros(2, 384)).shape == (2, 6, 6)


def test_unknown_name_lists_the_registered_and_the_import_flag():
    with pytest.raises(UnknownModel, match=r"registered: dgcn, gtn, ours.*--import"):
        get_model("magic")


def test_a_name_is_registered_once_per_module():
    def taken(*, dim: int, num_clips: int, heads: int, layers: int, dropout: float) -> nn.Module:
        return nn.Identity()

    taken.__module__ = "somewhere.else"
    with pytest.raises(ValueError, match="'gtn' is already registered"):
        register_model(taken, name="gtn")
    with pytest.raises(ValueError, match="unknown RecognitionConfig fields"):
        RecognizerSpec(
            build=lambda **_: nn.Identity(),
            inputs=PIXEL_CLIPS,
            features=FeatureKind.FRAME,
            defaults={"layers": 3},
        )


def test_import_models_from_a_file_and_its_errors(tmp_path):
    good = tmp_path / "mine.py"
    good.write_text(
        "from torch import nn\n"
        "from grounding.models.registry import register_model\n\n"
        "@register_model\n"
        "def mine(*, dim, num_clips, heads, layers, dropout):\n"
        "    '''identity clip encoder'''\n"
        "    return nn.Identity()\n"
    )
    assert import_models([str(good)]) == ["mine"]
    assert import_models([str(good)]) == []  # imported once; not an error
    spec = get_model("mine")
    assert spec.recognizer is None and spec.features is None
    assert spec.description == "identity clip encoder"
    assert "mine" in list_models(trainable=False) and "mine" not in list_models(trainable=True)
    bad = tmp_path / "bad.py"
    bad.write_text("import not_a_module_at_all\n")
    with pytest.raises(ModelImportError, match=r"--import .*bad\.py: importing it failed"):
        import_models([str(bad)])
    with pytest.raises(ModelImportError, match="file not found"):
        import_models([str(tmp_path / "gone.py")])
    with pytest.raises(ModelImportError, match="registered no model"):
        import_models(["json"])
    assert import_models(["grounding.models.zoo"]) == []  # built-ins: already registered
