"""How tenantctl's help names values, and how a bad value is reported: one `Error:` line.

Typer writes a required argument as `{name}` and a value as `<str>`; here arguments are
`NAME` (the classic Unix usage line), values are `TEXT`, `N`, `FILE` or the list of
choices, and a value typer or a parser refuses is told in one line that says what is
wrong with it.
"""

from __future__ import annotations

import re
import sys
from datetime import date

import typer
from typer.core import TyperArgument, TyperOption, _TyperParameter

from tenantctl.errors import BadInput

_TYPE_NAMES = {"str": "TEXT", "int": "N", "path": "PATH", "file": "FILE", "float": "NUMBER"}


def _value_name(param: _TyperParameter, ctx) -> str:
    shown = _TyperParameter.display_type(param, ctx)[1:-1]  # "<str>" -> "str"
    if param.type_descriptor.is_choice:
        return "{" + shown + "}"
    return _TYPE_NAMES.get(shown, shown.upper())


def _argument_name(self: TyperArgument) -> str:
    return self.metavar or (self.name or "").upper()


def _argument_usage(self: TyperArgument) -> str:
    name = _argument_name(self)
    name = name if self.required else f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


def _argument_type(self: TyperArgument, ctx) -> str | None:
    # The name says what it is; only a closed set of values is worth listing.
    return _value_name(self, ctx) if self.type_descriptor.is_choice else None


def _option_type(self: TyperOption, ctx) -> str | None:
    if self.metavar is not None:
        return self.metavar
    if self.is_flag or self.count:
        return None
    value = _value_name(self, ctx)
    return value + ("..." if self.nargs != 1 else "")


TyperArgument.display_name_raw = property(_argument_name)
TyperArgument._usage_display_name = _argument_usage
TyperArgument._rich_display_name = _argument_usage
TyperArgument.display_type_rich = _argument_type
TyperOption.display_type_rich = _option_type


# --- bad values -----------------------------------------------------------------------------


def whole_number(value: str) -> int:
    """An integer option or argument: digits, told plainly when it is not one."""
    if isinstance(value, int):  # the default
        return value
    text = value.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise typer.BadParameter(f"{value!r} is not a whole number")
    return int(text)


def day(value: str) -> date:
    """A date option: YYYY-MM-DD; an impossible date is told apart from a wrong format."""
    if isinstance(value, date):  # the default
        return value
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
        raise typer.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a day of the calendar ({exc})") from None


_NOISE = re.compile(r"^(Value error, )|(\.$)")


def one_line(exc: typer.BadParameter) -> tuple[str, str | None] | None:
    """(the error line, a hint) for a refused value; None for a usage error (missing)."""
    if type(exc).__name__ == "MissingParameter":  # click's, not exported by typer
        return None
    param = exc.param
    if param is None:
        name = exc.param_hint if isinstance(exc.param_hint, str) else "value"
    elif isinstance(param, TyperOption):
        name = max(param.opts, key=len)
    else:
        name = _argument_name(param)
    message = _NOISE.sub("", exc.message)
    if message.startswith("Input should be a valid integer"):
        message = "is not a whole number"
    hint = None
    if exc.ctx is not None:
        hint = f"see `{exc.ctx.command_path} --help`"
    return f"{name}: {message}", hint


# --- closed sets of values: listed in --help, anything else refused with exit 2 -------------


def choices(values) -> object:
    """A type of exactly VALUES (typer lists them in --help and refuses others)."""
    from typing import Literal

    return Literal[tuple(values)]


def confirm(yes: bool, question: str, what: str) -> None:
    """Ask QUESTION at a terminal unless YES (`--yes`); without a terminal `--yes` is
    required (exit 2, naming WHAT it confirms); a "no" aborts."""

    if yes:
        return
    if not sys.stdin.isatty():
        raise BadInput(f"--yes: confirm {what} (there is no terminal to ask on)")
    typer.confirm(question, abort=True)
