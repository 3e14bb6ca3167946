"""Typed settings of the stages: command-line options generated from dataclass fields, and the
canonical JSON a stage's cache key is made of.

A settings dataclass declares each option once: its field (name, type, default) and, in the
field's ``metadata``, its ``help`` text and ``choices``. :func:`add_arguments` turns the leaf
fields of a (nested) settings class into ``--field-name`` flags with those defaults (booleans
as ``--name`` / ``--no-name``), and :func:`from_args` builds the same object back from the
parsed flags, so a flag and its default are declared in one place.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import typing
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import grounding

T = TypeVar("T")


def package_version() -> str:
    """The installed distribution's version, else :data:`grounding.__version__`."""
    try:
        return metadata.version("grounding")
    except metadata.PackageNotFoundError:
        return grounding.__version__


def to_jsonable(obj: Any) -> Any:
    """Dataclasses as dicts, paths as strings, tuples as lists (recursively)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def canonical_json(obj: Any) -> str:
    """Sorted-key, compact JSON of ``obj`` (:func:`to_jsonable`)."""
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))


def stage_key(stage: Any, *, version: str | None = None) -> str:
    """Short stable hash of a stage's settings: their canonical JSON plus the package version
    (a new version retrains rather than reuse stages made by older code)."""
    text = canonical_json({"stage": stage, "version": version or package_version()})
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def flag(help: str, choices: Any = None) -> dict[str, Any]:
    """A settings field's ``metadata``: its flag's help text and choices
    (``field(default=3, metadata=flag("segments per clip"))``)."""
    return {"help": help} | ({"choices": tuple(choices)} if choices is not None else {})


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _leaves(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    """``(field, type)`` of the non-nested fields of ``cls`` and its nested settings classes."""
    hints = _hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init or f.metadata.get("cli") is False:
            continue
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            out.extend(_leaves(kind))
        else:
            out.append((f, kind))
    return out


def _scalar(kind: Any) -> tuple[type, bool]:
    """The scalar type of an annotation and whether ``None`` is allowed."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if args and len(args) < len(typing.get_args(kind)):
        return args[0], True
    return kind, False


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"settings field {f.name} has no default")


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """A ``--name`` flag per leaf field of the settings class ``cls`` (nested settings classes
    included), with the field's default, type, ``help`` and ``choices``; booleans as
    ``--name`` / ``--no-name``. Fields with ``metadata={"cli": False}`` get no flag."""
    seen: set[str] = set()
    for f, kind in _leaves(cls):
        if f.name in seen:
            raise TypeError(f"{cls.__name__}: two settings fields named {f.name}")
        seen.add(f.name)
        flag = "--" + f.name.replace("_", "-")
        scalar, _ = _scalar(kind)
        options: dict[str, Any] = {"default": _default(f), "help": f.metadata.get("help")}
        if scalar is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = scalar
            if "choices" in f.metadata:
                options["choices"] = tuple(f.metadata["choices"])
        parser.add_argument(flag, dest=f.name, **options)


def from_args(cls: type[T], args: argparse.Namespace) -> T:
    """The settings ``cls`` of parsed flags (:func:`add_arguments`)."""
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.metadata.get("cli") is False:
            continue
        kind = hints[f.name]
        values[f.name] = (
            from_args(kind, args) if dataclasses.is_dataclass(kind) else getattr(args, f.name)
        )
    return cls(**values)
