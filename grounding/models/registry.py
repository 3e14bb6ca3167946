"""The model registry: one entry per model, found by name (timm's ``@register_model``).

An entry (:class:`ModelSpec`) says everything the commands need to know about a model:

- its **clip encoder** for grounding, the decorated function: a keyword-only builder
  ``(*, dim, num_clips, heads, layers, dropout) -> nn.Module`` whose module maps clip states
  ``(B, N, dim) [, mask (B, N)] -> (B, N, dim)``; the grounding network wraps it between the
  projection and the moment map head (:func:`grounding.models.grounding_model.
  build_grounding_network`), the same head for every model;
- its **recognizer**, if any (:class:`grounding.models.recognizer.RecognizerSpec`): how it is
  built from a :class:`~grounding.models.recognizer.RecognitionConfig`, what it is fed (TSN
  snippets of RGB + flow, or skeleton windows), which config defaults it changes, and how its
  grounding features are made (:class:`FeatureKind`: frame-level, person-centric, skeleton).
  A model without a recognizer trains on given clip features only (``--features``).

Every command asks this module (``--model NAME``, ``--models A,B``); nothing else compares
model names. Built-in entries: ``ours`` and its temporal-module variants (Table 3) in
:mod:`grounding.models.zoo`, ``gtn`` and ``dgcn`` in :mod:`baselines.gtn` / :mod:`baselines.dgcn`.
A user adds one from a file of their own, without editing the package::

    # my_model.py
    from torch import nn
    from grounding.models.registry import register_model

    @register_model
    def my_model(*, dim: int, num_clips: int, heads: int, layers: int, dropout: float) -> nn.Module:
        '''(B, N, dim) -> (B, N, dim)'''
        return nn.GRU(...)  # any module with that interface

    python -m grounding.bench --import my_model.py --models my_model ...

(:func:`import_models` loads such a file or dotted module; ``recognizer=`` reuses a built-in
recognizer, e.g. :data:`grounding.models.zoo.TWO_STREAM`, to run on the synthetic videos.)
The registry dict is the package's only global mutable state.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the recognizer module imports this one; torch loads with the models
    from torch import nn

    from grounding.models.recognizer import RecognizerSpec

__all__ = [
    "EncoderBuilder",
    "FeatureKind",
    "ModelImportError",
    "ModelSpec",
    "UnknownModel",
    "add_import_argument",
    "create_encoder",
    "get_model",
    "import_models",
    "list_models",
    "register_model",
    "unregister_model",
]


class FeatureKind(StrEnum):
    """How a model's grounding clip features are made from its recognizer
    (:mod:`grounding.extract`)."""

    FRAME = "frame"  # the two-stream features of whole frames
    PERSON = "person"  # person-centric: crops around every person (grounding.person_features)
    SKELETON = "skeleton"  # each person's skeleton features, mean and max over the persons


class EncoderBuilder(Protocol):
    """``(*, dim, num_clips, heads, layers, dropout) -> nn.Module`` mapping
    ``(B, N, dim) [, mask (B, N)] -> (B, N, dim)``."""

    def __call__(
        self, *, dim: int, num_clips: int, heads: int, layers: int, dropout: float
    ) -> nn.Module: ...


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    Attributes:
        name: the registry name (``--model NAME``).
        build_encoder: the grounding clip encoder (:class:`EncoderBuilder`).
        recognizer: how its action recognizer is built and fed, and how its grounding
            features are made; ``None``: a model of given clip features only.
        description: one line (the builder's docstring's first line by default).
        module: where it was registered.
    """

    name: str
    build_encoder: EncoderBuilder
    recognizer: RecognizerSpec | None = None
    description: str = ""
    module: str = ""

    @property
    def features(self) -> FeatureKind | None:
        """How its grounding features are made (``None`` without a recognizer)."""
        return None if self.recognizer is None else self.recognizer.features


class UnknownModel(ValueError):
    """A model name the registry does not hold."""


class ModelImportError(ValueError):
    """An ``--import`` that failed or registered nothing (the message names the source)."""


_REGISTRY: dict[str, ModelSpec] = {}
#: modules that register the built-in models (imported on the first lookup)
BUILTIN_MODULES = ("grounding.models.zoo", "baselines.gtn", "baselines.dgcn")


def register_model(
    fn: EncoderBuilder | None = None,
    *,
    name: str | None = None,
    recognizer: RecognizerSpec | None = None,
    description: str | None = None,
) -> Callable[[EncoderBuilder], EncoderBuilder] | EncoderBuilder:
    """Register a clip-encoder builder as a model (``@register_model`` or
    ``@register_model(name=..., recognizer=...)``); returns the builder unchanged.

    Raises:
        ValueError: the name is taken by a builder of another module or function.
    """

    def add(builder: EncoderBuilder) -> EncoderBuilder:
        key = name or builder.__name__  # type: ignore[attr-defined]
        doc = (builder.__doc__ or "").strip().splitlines()
        spec = ModelSpec(
            name=key,
            build_encoder=builder,
            recognizer=recognizer,
            description=description if description is not None else (doc[0] if doc else ""),
            module=getattr(builder, "__module__", ""),
        )
        old = _REGISTRY.get(key)
        if old is not None and old.module != spec.module:
            raise ValueError(
                f"model {key!r} is already registered (by {old.module}); choose another name"
            )
        _REGISTRY[key] = spec
        return builder

    return add if fn is None else add(fn)


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def unregister_model(name: str) -> None:
    """Remove a registered model (a user model imported twice in one session, e.g. in tests or
    a notebook that edits its file); ``UnknownModel`` when it is not registered."""
    del _REGISTRY[get_model(name).name]


def list_models(*, trainable: bool | None = None) -> list[str]:
    """Registered names, sorted; ``trainable=True``: only those with a recognizer (they run
    on the synthetic videos), ``False``: only those without."""
    _load_builtins()
    return sorted(
        n
        for n, s in _REGISTRY.items()
        if trainable is None or (s.recognizer is not None) == trainable
    )


def get_model(name: str) -> ModelSpec:
    """The entry of ``name``; :class:`UnknownModel` naming the registered ones otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModel(
            f"unknown model {name!r}; registered: {', '.join(sorted(_REGISTRY))} (a model of "
            "your own: --import MODULE_OR_FILE.py)"
        ) from None


def create_encoder(
    name: str, *, dim: int, num_clips: int, heads: int, layers: int, dropout: float
) -> nn.Module:
    """The clip encoder of model ``name``: ``(B, N, dim) [, mask] -> (B, N, dim)``."""
    return get_model(name).build_encoder(
        dim=dim, num_clips=num_clips, heads=heads, layers=layers, dropout=dropout
    )


def import_models(sources: Iterable[str]) -> list[str]:
    """Import user modules that register models: each source a ``.py`` file path or a dotted
    module name. Returns the names they registered, in order.

    Raises:
        ModelImportError: a missing file or module, an exception while importing it, or a
            source that registered no model (the message names the source).
    """
    _load_builtins()
    added: list[str] = []
    for source in sources:
        before = set(_REGISTRY)
        try:
            _import(source)
        except ModelImportError:
            raise
        except Exception as exc:  # anything the user's module raises while it is imported
            raise ModelImportError(
                f"--import {source}: importing it failed ({type(exc).__name__}: {exc})"
            ) from exc
        new = [n for n in _REGISTRY if n not in before]
        if not new and not _registered_by(source):
            raise ModelImportError(
                f"--import {source}: it registered no model (decorate a clip-encoder builder "
                "with @grounding.models.registry.register_model)"
            )
        added.extend(new)
    return added


def _registered_by(source: str) -> bool:
    """Whether an already imported ``source`` registered a model earlier (imported twice)."""
    module = _module_name(source)
    return any(s.module == module for s in _REGISTRY.values())


def _module_name(source: str) -> str:
    if source.endswith(".py"):
        path = Path(source).resolve()
        return f"grounding_user_{path.stem}_{abs(hash(str(path))):x}"
    return source


def _import(source: str) -> None:
    if not source.endswith(".py"):
        if importlib.util.find_spec(source) is None:
            raise ModelImportError(f"--import {source}: no module of that name (nor a .py file)")
        importlib.import_module(source)
        return
    path = Path(source)
    if not path.is_file():
        raise ModelImportError(f"--import {source}: file not found")
    name = _module_name(source)
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelImportError(f"--import {source}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def add_import_argument(parser: argparse.ArgumentParser) -> None:
    """``--import MODULE_OR_FILE.py`` (repeatable) into ``args.imports``, for
    :func:`import_models`."""
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE_OR_FILE.py",
        help="import a module (dotted name or .py file) that registers a model with "
        "@grounding.models.registry.register_model (repeatable)",
    )
