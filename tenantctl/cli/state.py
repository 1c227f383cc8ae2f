"""What every command shares: the global options, the store they name, and the org the
command acts in (the distributor's root, or a tenant logged in to with `--org`)."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from tenantctl.errors import BadInput, NotFound, Refused

if TYPE_CHECKING:  # imported where used, so that `--help` needs no SQLAlchemy
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from tenantctl.domain.users import Principal

T = TypeVar("T")


@dataclass
class State:
    db_url: str | None = None
    json: bool = False
    verbose: bool = False
    org: str | None = None
    _engine: Engine | None = field(default=None, repr=False)
    # A write this run committed: an error after it must say the change was made.
    committed: bool = False
    _principal: Principal | None = field(default=None, repr=False)
    # What back-ordering delivered after this run's write sessions committed.
    delivered: list = field(default_factory=list, repr=False)

    def engine(self, *, check_schema: bool = True, create: bool = True) -> Engine:
        """The store's engine; an empty store is created at the newest schema.

        Without CREATE (a command that only reads), a missing or empty store is an error
        and nothing is written.
        """
        if self._engine is None:
            from tenantctl.store.engine import open_engine
            from tenantctl.store.migrate import current, ensure_current, refuse_foreign

            engine = open_engine(self.db_url, create=create)
            if check_schema:
                if not create and current(engine) is None:
                    refuse_foreign(engine)  # another application's tables: bad usage
                    where = engine.url.render_as_string(hide_password=True)
                    engine.dispose()
                    raise NotFound(
                        f"the store {where} is empty: `tenantctl load FILE.yaml` "
                        "or `tenantctl db upgrade` fills it"
                    )
                ensure_current(engine)
                if self.org is None:
                    # The first command on or after a scheduled revision's date gives its
                    # products their new names and add-on relations.
                    from tenantctl.domain.schedule import product_changes_due

                    if product_changes_due(engine, date.today()):
                        from tenantctl.domain.catalogue import apply_due_product_changes

                        apply_due_product_changes(engine)
            self._engine = engine
            start_up_done()
        return self._engine

    def principal(self) -> Principal | None:
        """The tenant user this run acts as (None for the distributor), logged in once."""
        if self.org is None:
            return None
        if self._principal is None:
            username = _credential("TENANTCTL_USER", "User name", hide=False)
            password = _credential("TENANTCTL_PASSWORD", "Password", hide=True)
            from tenantctl.domain.users import login
            from tenantctl.store.engine import read_session

            with read_session(self.engine(create=False)) as session:
                self._principal = login(session, self.org, username, password)
            if self._principal.weak_hash:
                from tenantctl.domain.users import rehash_password
                from tenantctl.store.engine import write_session

                with write_session(self.engine()) as session:
                    rehash_password(session, self._principal.user_id, password)
        return self._principal

    @contextmanager
    def session(self, *, write: bool = False, scoped: bool = True) -> Iterator[Session]:
        """A session in the org this run acts in; inside a tenant it is org-scoped (not
        SCOPED: see `parent_session`). A write's back-orders are delivered after it commits."""
        from tenantctl.store.engine import read_session, write_session

        org_id = self.tenant_owner()  # logged in first
        opener = write_session if write else read_session
        with opener(self.engine(create=write), org_id=org_id if scoped else None) as session:
            yield session
        if write:
            self.committed = True
            self._deliver(session)

    def _deliver(self, session: Session) -> None:
        """After a write committed: deliver the back-ordering events it wrote (a failure
        is reported, never undoes the committed change: the worker delivers it later)."""
        from tenantctl.cli import output
        from tenantctl.domain import backorder

        reports = backorder.deliver_written(self.engine(), session)
        self.delivered.extend(reports)
        for report in reports:
            if report.error:
                output.message(
                    f"Warning: the change is saved, but its back-order waits: "
                    f"{report.error} (tenantctl backorder status; a worker "
                    "delivers it once the cause is fixed)"
                )

    def org_of(self, session: Session):
        """The organisation this run acts in."""
        from tenantctl.domain.orgs import current_org

        return current_org(session, self.tenant_owner())

    def tenant_owner(self) -> int | None:
        """The tenant org this run is logged in to (None: the root). It sees the processes
        it started, and the root sees every process."""
        principal = self.principal()
        return principal.org_id if principal else None

    def parent_id(self) -> int:
        """The org whose tenant resellers this run manages: the tenant logged in to, or the
        distributor's root (SPEC section 9, "Every level")."""
        owner = self.tenant_owner()
        if owner is not None:
            return owner
        from tenantctl.domain.orgs import root_org
        from tenantctl.store.engine import read_session

        with read_session(self.engine(create=False)) as session:
            return root_org(session).id

    def parent_session(self, *, write: bool = False):
        """A session for managing the tenant resellers of the org this run acts in.

        It is not row-scoped: creating, updating and upgrading a tenant is set-based SQL
        over the parent's rows and the tenant's, which the org scoping cannot reach. Every
        lookup in it goes through the parent instead (tenants by their parent org,
        processes by their owner), so a tenant still reaches nothing above it.
        """
        return self.session(write=write, scoped=False)

    def in_org(self, query: Callable[..., T], *args: Any, write: bool = False, **kwargs: Any) -> T:
        """QUERY(session, org, *ARGS, **KWARGS) in a session of the org this run acts in
        (a write session when WRITE: committed, its back-orders delivered): what it returns."""
        with self.session(write=write) as session:
            return query(session, self.org_of(session), *args, **kwargs)

    def in_parent(self, query: Callable[..., T], *args: Any, write: bool = False) -> T:
        """QUERY(session, *ARGS, the parent's id) in a `parent_session`: what it returns."""
        with self.parent_session(write=write) as session:
            return query(session, *args, self.parent_id())

    def reply(self, value: Any, draw: Callable[[Any], None], json: Callable | None = None) -> None:
        """VALUE on stdout: with --json as JSON (of JSON(VALUE) when given), else DRAW(VALUE)."""
        from tenantctl.cli import output

        if self.json:
            output.print_json(value if json is None else json(value))
        else:
            draw(value)

    def distributor_only(self, command: str) -> None:
        """Refuse a distributor command inside a tenant context."""
        if self.org is not None:
            raise Refused(
                f"`tenantctl {command}` is a distributor command: it cannot run "
                "inside a tenant (--org / TENANTCTL_ORG)"
            )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def start_up_done() -> None:
    """Turn the cyclic garbage collector back on if `main` turned it off for start-up, with
    every object made so far frozen: they live as long as the process, and a collection
    would only walk them again."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _credential(env: str, prompt: str, *, hide: bool) -> str:
    value = os.environ.get(env)
    if value:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadInput(f"--org: {env} is not valid UTF-8 text") from None
        return value
    if not sys.stdin.isatty():
        raise BadInput(f"--org: set {env} (there is no terminal to ask on)")
    return typer.prompt(prompt, hide_input=hide)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    if not isinstance(obj, State):
        obj = State()
        ctx.find_root().obj = obj
    return obj


def look_up(
    ctx: typer.Context,
    query: Callable[..., Any],
    *args: Any,
    draw: Callable[[Any], None],
    json: Callable | None = None,
    **kwargs: Any,
) -> None:
    """A command that reads and prints: QUERY(session, org, *ARGS, **KWARGS) in the org this
    run acts in, printed by DRAW (with --json as JSON, of JSON(value) when given)."""
    st = state(ctx)
    st.reply(st.in_org(query, *args, **kwargs), draw, json)
