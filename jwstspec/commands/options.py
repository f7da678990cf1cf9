"""Command-line flags generated from an option set of the configuration.

A command that takes an :class:`~jwstspec.config.OptionSet` (``jwstspec
extract``: :class:`~jwstspec.config.ExtractionOptions`, ``jwstspec
combine``: :class:`~jwstspec.config.CombineOptions`) gets one flag per field
from :func:`add_option_arguments`, so a field added to the model is a flag
with no code here:

* the flag is ``--field-name`` (or the older spelling in ``cli_flags``);
* a boolean is ``--field-name`` when off by default, ``--no-field-name``
  when on, both when undecided (default None);
* a ``Literal`` gives the choices, a number its type, a pair two values
  (``nargs=2``), a list of pairs a repeatable two-value flag, a list one or
  more values;
* the help is the field's description and its default.

Flags the user does not give are left out of the namespace
(``argparse.SUPPRESS``): :func:`given_options` returns only what the user
wrote, the library fills the rest from the same model and names errors by
the flag (:meth:`~jwstspec.config.OptionSet.resolve`).
"""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import Path
from typing import Any, Literal

from jwstspec.config import OptionSet
from jwstspec.length import Length


def _strip_none(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _base(annotation: Any) -> Any:
    """The type under ``Annotated[...]`` (a length field is ``Annotated[Length, ...]``)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def _scalar(annotation: Any, field: str) -> dict[str, Any]:
    """Argparse keywords of one value of type ``annotation``."""
    annotation = _base(_strip_none(annotation))
    if typing.get_origin(annotation) is Literal:
        choices = list(typing.get_args(annotation))
        return {"choices": choices, "type": type(choices[0])}
    if annotation in (int, float):
        return {"type": annotation}
    if annotation in (str, Path, Length):
        return {"type": str}
    raise TypeError(f"option {field}: no command-line form for a value of type {annotation!r}")


def _format_default(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return " ".join(_format_default(v) for v in value)
    return str(value.raw if isinstance(value, Length) else value)


def _help(info: Any, default: Any, show_default: bool) -> str:
    text = info.description or ""
    if show_default and default is not None and default != [] and default != ():
        text += f" Default: {_format_default(default)}."
    return text.replace("%", "%%")  # argparse formats help with %


def _argument(model: type[OptionSet], field: str) -> tuple[str, dict[str, Any]]:
    """The flag of ``field`` and its argparse keywords."""
    info = model.model_fields[field]
    default = info.get_default(call_default_factory=True)
    flag = model.flag(field)
    kwargs: dict[str, Any] = {"dest": field, "default": argparse.SUPPRESS}
    annotation = _strip_none(info.annotation)
    origin = typing.get_origin(annotation)
    metavar = model.cli_metavars.get(field)
    if annotation is bool:
        if default is None:  # undecided by default (e.g. detected from the product): both --x and --no-x
            return flag, {**kwargs, "action": argparse.BooleanOptionalAction, "help": _help(info, default, False)}
        if default is True:  # the flag turns off what the description says
            return flag, {**kwargs, "action": "store_false", "help": "Turn off (on by default): " + _help(info, default, False)}
        return flag, {**kwargs, "action": "store_true", "help": _help(info, default, False)}
    kwargs["metavar"] = flag.removeprefix("--").replace("-", "_").upper()
    if origin is tuple:
        items = typing.get_args(annotation)
        kwargs.update(_scalar(items[0], field), nargs=len(items))
    elif origin is list and typing.get_origin(_strip_none(typing.get_args(annotation)[0])) is tuple:
        items = typing.get_args(_strip_none(typing.get_args(annotation)[0]))
        kwargs.update(_scalar(items[0], field), nargs=len(items), action="append")
        if metavar is not None:
            kwargs["metavar"] = metavar
        return flag, {**kwargs, "help": _help(info, default, False) + " Repeatable."}
    elif origin is list:
        kwargs.update(_scalar(typing.get_args(annotation)[0], field), nargs="+")
    else:
        kwargs.update(_scalar(annotation, field))
    if metavar is not None:
        kwargs["metavar"] = metavar
    elif "choices" in kwargs:  # --help shows the choices: {aperture,box,annulus,psf}
        del kwargs["metavar"]
    return flag, {**kwargs, "help": _help(info, default, True)}


def option_fields(model: type[OptionSet]) -> list[str]:
    """The fields of ``model`` that are command-line flags (all but the run-only ones)."""
    return [name for name in model.model_fields if name not in model.run_only]


def add_option_arguments(parser: argparse.ArgumentParser, model: type[OptionSet]) -> None:
    """Add one flag per field of ``model`` (see the module docstring) to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    model : type of OptionSet
        The option set, e.g. :class:`~jwstspec.config.ExtractionOptions`.

    Raises
    ------
    TypeError
        A field whose type has no command-line form (add it to the model's
        ``run_only`` or teach :func:`_scalar` the type).
    """
    group = parser.add_argument_group(f"options (also [{model.section}] keys of a configuration file)")
    for field in option_fields(model):
        flag, kwargs = _argument(model, field)
        group.add_argument(flag, **kwargs)


def given_options(model: type[OptionSet], args: argparse.Namespace) -> dict[str, Any]:
    """The options the user gave as flags: ``{field: value}`` (flags not given are absent)."""
    return {field: getattr(args, field) for field in option_fields(model) if hasattr(args, field)}
