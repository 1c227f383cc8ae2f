"""The `tenantctl` command: global options, the one error path, and the command groups."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

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
    """The root group: hoists global options and turns the project's errors into exit codes."""

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


def _register() -> None:
    from tenantctl.cli import (
        account,
        backorder,
        catalogue,
        checklist,
        db,
        demo,
        load,
        process,
        tenant,
        upgrade,
    )

    app.add_typer(db.app, name="db")
    app.command("load")(load.load)
    app.add_typer(catalogue.pricelist_app, name="pricelist")
    app.add_typer(catalogue.product_app, name="product")
    app.add_typer(account.account_app, name="account")
    from tenantctl.cli import sales

    app.add_typer(sales.subscription_app, name="subscription")
    app.add_typer(sales.asset_app, name="asset")
    app.add_typer(sales.order_app, name="order")
    app.command("checklist")(checklist.checklist)
    app.add_typer(tenant.tenant_app, name="tenant")
    app.add_typer(process.process_app, name="process")
    app.command("worker")(process.worker)
    app.add_typer(upgrade.upgrade_app, name="upgrade")
    app.add_typer(backorder.backorder_app, name="backorder")
    app.command("reconcile")(backorder.reconcile)
    app.command("demo")(demo.demo)
    from tenantctl.cli import invoice

    app.add_typer(invoice.invoice_app, name="invoice")


_register()


def main() -> None:
    app()
