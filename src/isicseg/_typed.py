"""Typed, frozen configuration dataclasses: run-time type checks, dict round trips, field docs.

One mechanism serves every configuration class (:class:`~isicseg.TrainerConfig`,
:class:`~isicseg.config.RunConfig` and its sections): a field's annotation says what it
accepts, its line in the class docstring's ``Args:`` section documents it, and both are
read from there by the checks, the loader and the command line. Nothing else lists fields.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union

from .exceptions import ConfigError

__all__ = ["check_types", "describe_type", "field_docs", "from_dict", "load_json", "to_dict"]


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _options(annotation: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(annotation)
    return typing.get_args(annotation) if origin in (Union, types.UnionType) else (annotation,)


def describe_type(annotation: Any) -> str:
    """Words for what an annotation accepts, for error messages.

    Example:
        >>> describe_type(int | None), describe_type(Literal["sgd", "adamw"])
        ('an int or None', "one of 'sgd', 'adamw'")
    """
    words = []
    for option in _options(annotation):
        if option is type(None):
            words.append("None")
        elif typing.get_origin(option) is Literal:
            words.append("one of " + ", ".join(repr(v) for v in typing.get_args(option)))
        elif typing.get_origin(option) is tuple:
            words.append(f"a list of {typing.get_args(option)[0].__name__}s")
        else:
            words.append(
                {bool: "true or false", int: "an int", float: "a finite number", str: "a string"}.get(
                    option, option.__name__
                )
            )
    return " or ".join(words)


def _conform(value: Any, annotation: Any) -> tuple[bool, Any]:
    """``(ok, value)``: whether ``value`` fits ``annotation``, and the value to store
    (an int given for a float becomes a float; a list for a tuple becomes a tuple)."""
    for option in _options(annotation):
        if option is type(None) and value is None:
            return True, None
        if (
            typing.get_origin(option) is Literal
            and value in typing.get_args(option)
            and type(value) in {type(v) for v in typing.get_args(option)}
        ):
            return True, value
        if typing.get_origin(option) is tuple and isinstance(value, (list, tuple)):
            item = typing.get_args(option)[0]
            converted = [_conform(v, item) for v in value]
            if all(ok for ok, _ in converted):
                return True, tuple(v for _, v in converted)
        if option is bool and isinstance(value, bool):
            return True, value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return True, value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return True, float(value)
        if option is str and isinstance(value, str):
            return True, value
    return False, value


def check_types(obj: Any) -> None:
    """Check every field of a dataclass instance against its annotation (call from
    ``__post_init__``); ints given for floats and lists given for tuples are converted.

    Raises:
        ConfigError: Naming the class, the field, what it accepts and what it got.
    """
    cls = type(obj)
    for name, annotation in _hints(cls).items():
        if name not in {f.name for f in dataclasses.fields(cls)}:
            continue
        value = getattr(obj, name)
        if dataclasses.is_dataclass(annotation):
            if not isinstance(value, annotation):
                raise ConfigError(f"{cls.__name__}.{name} must be a {annotation.__name__}; got {value!r}.")
            continue
        ok, converted = _conform(value, annotation)
        if not ok:
            raise ConfigError(f"{cls.__name__}.{name} must be {describe_type(annotation)}; got {value!r}.")
        if converted is not value:
            object.__setattr__(obj, name, converted)


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-JSON form of a (nested) configuration dataclass."""
    return json.loads(json.dumps(dataclasses.asdict(obj)))


def from_dict(cls: type, values: Any, source: str | None = None) -> Any:
    """Build ``cls`` from a dict, nested sections included; unknown keys and wrong types
    are refused with the field (and ``source``, e.g. the file) named.

    Example:
        >>> from isicseg import TrainerConfig
        >>> from_dict(TrainerConfig, {"epochs": 2, "milestones": [0.5]}).milestones
        (0.5,)
        >>> from_dict(TrainerConfig, {"epoch": 2}, "run.json")
        Traceback (most recent call last):
        ...
        isicseg.exceptions.ConfigError: Unknown TrainerConfig field 'epoch' in run.json. Did you mean 'epochs'? ...
    """
    where = f" in {source}" if source else ""
    if not isinstance(values, dict):
        raise ConfigError(
            f"{cls.__name__}{where} must be a JSON object of its fields; got {type(values).__name__} {values!r}."
        )
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    for key in values:
        if key not in names:
            import difflib

            close = difflib.get_close_matches(key, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"Unknown {cls.__name__} field {key!r}{where}.{hint} Allowed: {', '.join(names)}.")
    hints = _hints(cls)
    kwargs = {}
    for key, value in values.items():
        annotation = hints[key]
        kwargs[key] = from_dict(annotation, value, source) if dataclasses.is_dataclass(annotation) else value
    try:
        return cls(**kwargs)
    except ConfigError as error:
        raise ConfigError(f"{error}{' (' + source + ')' if source else ''}") from None


def load_json(path: str | Path, what: str) -> dict[str, Any]:
    """Read a JSON object from ``path``; a clear error for a missing or malformed file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder; expected a JSON file.")
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist; expected a JSON file.") from None
    except RecursionError:
        raise ConfigError(
            f"{what} {path} is nested too deeply to be a configuration; expected a JSON object of fields."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"Could not read {what} {path}: {error}; expected a JSON object.") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{what} {path} holds a JSON {type(values).__name__}; expected a JSON object of fields.")
    return values


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Each field's text from the ``Args:`` section of the class docstring.

    Example:
        >>> from isicseg import TrainerConfig
        >>> field_docs(TrainerConfig)["epochs"]
        'Passes over the training data.'
    """
    doc = inspect.getdoc(cls) or ""
    match = re.search(r"^Args:\n(.*?)(?:\n\S|\Z)", doc, re.S | re.M)
    docs: dict[str, str] = {}
    current = None
    for line in (match.group(1) if match else "").splitlines():
        head = re.match(r"^    (\w+): (.*)$", line)
        if head:
            current = head.group(1)
            docs[current] = head.group(2).strip()
        elif current and line.startswith("        "):
            docs[current] += " " + line.strip()
    return docs
