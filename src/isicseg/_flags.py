"""Command-line flags generated from configuration dataclasses.

Each field of :class:`~isicseg.config.DataConfig`, :class:`~isicseg.config.ModelConfig`,
:class:`~isicseg.engine.TrainerConfig` and :class:`~isicseg.config.EvalConfig` becomes one
flag of ``isicseg train``, and each field of :class:`~isicseg.InferenceConfig` one flag of
``isicseg evaluate`` and ``isicseg predict``, documented by the field's own documentation,
so a new field appears on the command line, in the saved files and in the docs with no
second table. A boolean flag given alone means true (``--tta``); ``--tta false`` also works.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import time
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .exceptions import ConfigError

__all__ = ["config_flags", "inference_config", "train_flags", "run_config", "resume_config"]


def _flag_bool(text: str) -> bool:
    """``true``/``false`` (also yes/no, on/off, 1/0) for a boolean setting."""
    value = {
        "true": True,
        "yes": True,
        "on": True,
        "1": True,
        "false": False,
        "no": False,
        "off": False,
        "0": False,
    }.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


def _flag_parser(annotation: Any) -> Callable[[str], Any]:
    """Turn a flag's text into a value of the field's type (the dataclass checks ranges)."""
    options = (
        set(typing.get_args(annotation))
        if typing.get_origin(annotation) in (typing.Union, types.UnionType)
        else {annotation}
    )
    nullable = type(None) in options

    words = {v for o in options if typing.get_origin(o) is typing.Literal for v in typing.get_args(o)}

    def parse(text: str) -> Any:
        if nullable and text.lower() in ("", "none"):
            return None
        if text in words:
            return text
        if bool in options:
            return _flag_bool(text)
        if any(typing.get_origin(o) is tuple for o in options):
            return [float(v) for v in text.split(",") if v.strip()]
        try:
            if int in options and (float not in options or text.strip().lstrip("-").isdigit()):
                return int(text)
            if float in options:
                return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        return text

    return parse


def _plain(text: str) -> str:
    """Docstring markup as plain text for ``--help``: ``:func:`~isicseg.inference.detect``` becomes ``detect``.

    Example:
        >>> _plain("see :func:`~isicseg.inference.detect` and :data:`isicseg.PRECISIONS`; ``auto``")
        'see detect and isicseg.PRECISIONS; auto'
    """
    text = re.sub(r":\w+:`~[\w.]*?(\w+)`", r"\1", text)
    return re.sub(r":\w+:`([^`]+)`", r"\1", text).replace("``", "")


def config_flags(parser: argparse.ArgumentParser, cls: type, *, title: str, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of the dataclass ``cls`` (in a group named ``title``), documented by the field's docs.

    Absent flags stay out of the namespace, so that only the flags given change a configuration.
    """
    from ._typed import describe_type, field_docs

    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or f.metadata.get("flag", "") is None:
            continue
        flag = f.metadata.get("flag", f.name).replace("_", "-")
        default = "" if f.default is dataclasses.MISSING else f"default: {f.default!r}; "
        text = _plain(field_docs(cls)[f.name]).rstrip(".")
        help_text = f"{text} ({default}{describe_type(hints[f.name])})"
        extra: dict[str, Any] = {"action": "append"} if f.name == "root" else {}
        if hints[f.name] is bool:
            extra = {"nargs": "?", "const": True, "metavar": "true|false"}
        group.add_argument(
            "--" + flag,
            dest=f.name,
            type=_flag_parser(hints[f.name]),
            default=argparse.SUPPRESS,
            help=help_text.replace("%", "%%"),
            **extra,
        )


def train_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of ``isicseg train``: one per field of the run configuration's sections."""
    from .config import SECTIONS

    for section, cls in SECTIONS.items():
        # a run's folder is --out/--name; extra_roots come from a repeated --data
        config_flags(parser, cls, title=f"{section} settings ({cls.__name__})", skip=("out_dir",))


def inference_config(args: argparse.Namespace):
    """The :class:`~isicseg.InferenceConfig` of ``isicseg evaluate``/``predict``: its defaults, then the flags given."""
    from .inference import InferenceConfig

    return InferenceConfig(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(InferenceConfig) if hasattr(args, f.name)}
    )


def run_config(args: argparse.Namespace):
    """The run configuration: ``--config FILE`` (or the defaults), then the flags given."""
    from .config import RunConfig, resolve_recipe

    source = resolve_recipe(args.config) if args.config else None
    config = RunConfig.from_file(source) if source else RunConfig()
    if config.trainer.out_dir is not None:
        raise ConfigError(
            f"{source} sets trainer.out_dir ({config.trainer.out_dir!r}), which isicseg train does not use: a "
            "run's folder is "
            f"--out/--name (here {args.out}/<name>). Remove trainer.out_dir from the file and pass --out and --name."
        )
    if args.name is None:  # named here, so that an interruption can say which folder to resume
        args.name = config.name or time.strftime("%Y%m%d-%H%M%S")
    return config.replace(name=args.name, **_flag_changes(args))


def _flag_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration fields given as flags."""
    from .config import flat_fields

    changes = {name: getattr(args, name) for name in flat_fields() if hasattr(args, name)}
    if (
        "root" in changes
    ):  # --data ROOT [--data EXTRA ...]: the first is the target data, the others extra training data
        roots = changes.pop("root")
        changes["root"] = roots[0]
        if len(roots) > 1:
            changes["extra_roots"] = tuple(roots[1:])
    if args.balanced:
        changes["balanced_sampling"] = True
    return changes


def resume_config(args: argparse.Namespace):
    """The saved configuration of ``--out/--name``, with the flags given on top (checked by ``train_run``)."""
    from .config import RunConfig

    if args.name is None:
        raise ConfigError("--resume needs --name: the run folder <out>/<name> to continue.")
    if args.config:
        raise ConfigError(
            f"--resume continues {Path(args.out) / args.name} with its saved config.json; drop --config {args.config}."
        )
    saved = Path(args.out) / args.name / "config.json"
    if not saved.is_file():
        raise ConfigError(f"Cannot resume: {saved} does not exist; start the run without --resume.")
    return RunConfig.from_file(saved).replace(**_flag_changes(args))
