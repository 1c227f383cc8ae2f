"""The `tenantctl` command: global options, the one error path, and the command groups."""

from __future__ import annotations

import gc
import importlib
import inspect
import sys
from gettext import gettext
from typing import Annotated

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from tenantctl import __version__
from tenantctl.cli import output, usage
from tenantctl.cli.state import State
from tenantctl.errors import BadInput, Busy, TenantctlError


def _usage_error_base() -> type[Exception]:
    """click's ClickException, the base of the command line's usage errors: found through
    the public typer.BadParameter (BadParameter < UsageError < ClickException), as typer
    runs on click before 0.26 and on a copy of it inside typer since."""
    return next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException")


ClickException = _usage_error_base()

# Global options that may also be written after the command (`tenantctl account list --json`).
_GLOBAL_FLAGS = {"--json", "-v", "--verbose"}
_GLOBAL_VALUED = {"--db", "--org"}


def _hoist_global_options(args: list[str]) -> list[str]:
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if arg in _GLOBAL_FLAGS or name in _GLOBAL_VALUED and "=" in arg:
            front.append(arg)
        elif arg in _GLOBAL_VALUED and i + 1 < len(args):
            front.extend(args[i : i + 2])
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def _is_operational_error(exc: BaseException) -> bool:
    """A database that cannot be used (locked, gone); SQLAlchemy is imported only by the
    commands that open the store, so an error can only be one once it is loaded."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    return sa_exc is not None and isinstance(exc, sa_exc.OperationalError)


class TenantctlGroup(TyperGroup):
    """The root group: hoists global options, turns the project's errors into exit codes,
    and builds its commands lazily (COMMANDS)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(self.commands)

    def list_commands(self, ctx):
        return list(self.commands)  # the names, in order, without building the commands

    def format_commands(self, ctx, formatter):
        """TyperGroup's list of commands, from their help alone: `tenantctl --help` builds
        none of them."""
        commands = [(name, self.commands.listed(name)) for name in self.list_commands(ctx)]
        commands = [(name, cmd) for name, cmd in commands if not cmd.hidden]
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            rows = [(name, cmd.get_short_help_str(limit)) for name, cmd in commands]
            with formatter.section(gettext("Commands")):
                formatter.write_dl(rows)

    def parse_args(self, ctx, args):
        if ctx.parent is None:
            args = _hoist_global_options(list(args))
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TenantctlError as exc:
            self._fail(ctx, exc, exc.exit_code)
        except typer.BadParameter as exc:
            told = usage.one_line(exc)
            if told is None:
                raise
            output.error(BadInput(told[0]), False, hint=told[1])
            raise typer.Exit(BadInput.exit_code) from None
        except KeyboardInterrupt:
            output.message("interrupted")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except Exception as exc:
            if _is_operational_error(exc):
                if "locked" in str(exc.orig).lower():
                    self._fail(ctx, Busy(f"the store is busy: {exc.orig}"), Busy.exit_code)
                self._fail(ctx, TenantctlError(f"the store cannot be used: {exc.orig}"), 1)
            # A bug, not a rule: one line for the operator, the traceback only with -v.
            if isinstance(ctx.obj, State) and ctx.obj.committed:
                output.error(exc, ctx.obj.verbose, unexpected=True)
                output.message("The change was saved before this error: the store has it.")
                raise typer.Exit(1) from None
            self._fail(ctx, exc, 1, hint=True)
        finally:
            if isinstance(ctx.obj, State):
                ctx.obj.close()

    @staticmethod
    def _fail(ctx, exc: BaseException, code: int, hint: bool = False):
        verbose = isinstance(ctx.obj, State) and ctx.obj.verbose
        output.error(exc, verbose, unexpected=hint)
        raise typer.Exit(code)


app = typer.Typer(
    cls=TenantctlGroup,
    name="tenantctl",
    help="Make a distributor's reseller a tenant reseller with its own BSS, and keep it in step.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=True,
    rich_markup_mode=None,
)


def _version(value: bool):
    if value:
        typer.echo(f"tenantctl {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="TENANTCTL_DB",
            show_envvar=True,
            metavar="URL",
            help="Store URL: sqlite:///FILE or postgresql+psycopg://... "
            "(default: an SQLite file in your data directory).",
        ),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Show tracebacks of errors.")
    ] = False,
    org: Annotated[
        str | None,
        typer.Option(
            "--org",
            envvar="TENANTCTL_ORG",
            show_envvar=True,
            metavar="CLIENT_ID",
            help="Run inside a tenant's BSS, logged in as one of its users: the user name and "
            "password come from TENANTCTL_USER and TENANTCTL_PASSWORD, or prompts at a "
            "terminal.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
):
    """Make a distributor's reseller a tenant reseller with its own BSS, and keep it in step."""
    ctx.obj = State(db_url=db, json=json_, verbose=verbose, org=org)


# The commands and command groups under `tenantctl`, in the order --help lists them: the
# module that defines each and its name there. A module is imported, and its click command
# built, only when the command line reaches it (or --help lists it), so that `--version`
# and a command's own run do not pay for the others.
COMMANDS: dict[str, tuple[str, str]] = {
    # the commands, then the groups (typer's order)
    "load": ("tenantctl.cli.load", "load"),
    "checklist": ("tenantctl.cli.checklist", "checklist"),
    "worker": ("tenantctl.cli.process", "worker"),
    "reconcile": ("tenantctl.cli.backorder", "reconcile"),
    "demo": ("tenantctl.cli.demo", "demo"),
    "db": ("tenantctl.cli.db", "app"),
    "pricelist": ("tenantctl.cli.catalogue", "pricelist_app"),
    "product": ("tenantctl.cli.catalogue", "product_app"),
    "account": ("tenantctl.cli.account", "account_app"),
    "subscription": ("tenantctl.cli.sales", "subscription_app"),
    "asset": ("tenantctl.cli.sales", "asset_app"),
    "order": ("tenantctl.cli.sales", "order_app"),
    "tenant": ("tenantctl.cli.tenant", "tenant_app"),
    "process": ("tenantctl.cli.process", "process_app"),
    "upgrade": ("tenantctl.cli.upgrade", "upgrade_app"),
    "backorder": ("tenantctl.cli.backorder", "backorder_app"),
    "invoice": ("tenantctl.cli.invoice", "invoice_app"),
}


def _build(name: str):
    """The click command of COMMANDS[NAME], as typer builds it under this app: a Typer
    becomes a group, a function a command (with the app's settings: plain help)."""
    module, attr = COMMANDS[name]
    target = getattr(importlib.import_module(module), attr)
    holder = typer.Typer(rich_markup_mode=None, add_completion=False)
    holder.callback()(_nothing)  # a group, so that the command is one of its commands
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return typer.main.get_command(holder).commands[name]


def _nothing() -> None:
    """Holds a lazily built command."""


class LazyCommands(dict):
    """The root group's commands: the names are known at once, each command is built at
    its first use (any walk over the commands themselves builds them all)."""

    def __init__(self, built: dict):
        super().__init__({name: None for name in COMMANDS})
        super().update(built)

    def __getitem__(self, name):
        command = super().__getitem__(name)
        if command is None:
            command = _build(name)
            super().__setitem__(name, command)
        return command

    def get(self, name, default=None):
        if name not in self:
            return default
        return self[name]

    def values(self):
        return [self[name] for name in self]

    def items(self):
        return [(name, self[name]) for name in self]

    def copy(self):
        return dict(self.items())

    def listed(self, name: str):
        """NAME's command, or a stand-in with only its help when it is not built yet (for
        the list of commands in `tenantctl --help`, which needs no more)."""
        command = super().__getitem__(name)
        if command is not None:
            return command
        module, attr = COMMANDS[name]
        target = getattr(importlib.import_module(module), attr)
        if isinstance(target, typer.Typer):
            if not isinstance(target.info.help, str) or target.info.hidden:
                return self[name]  # help from a callback, or hidden: as typer says
            text = inspect.cleandoc(target.info.help)
        else:
            text = inspect.getdoc(target)
        return TyperCommand(name=name, help=text)

    def pop(self, name, *default):
        if name in self:
            self[name]
        return super().pop(name, *default)


def main() -> None:
    # Start-up (the libraries, the tables) makes a few hundred thousand objects that live
    # as long as the process: the cyclic collector would walk them over and over (0.1-0.3 s
    # of a one-second command). It is off until the store is open (`State.engine`), which
    # freezes what start-up made and turns it back on for the command's own work.
    gc.disable()
    try:
        app()
    finally:
        # Exiting, the interpreter would free one by one every object still held (the
        # whole of SQLAlchemy, pydantic and the tables: 0.3-0.7 s, as long as many
        # commands). The command is over and its store closed (State.close): frozen, they
        # are passed by and the process simply ends, its memory going back with it.
        # Nothing here relies on a finaliser run at exit (Python does not promise one).
        gc.freeze()
