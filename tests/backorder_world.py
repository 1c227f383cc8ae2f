"""The store the back-ordering tests share: the distributor's data set, ACME as a tenant
that was never lite (back-ordering off), and LITECLOUD upgraded and live (back-ordering on,
the root's subscriptions of its customers are the mirrors of their copies in the tenant).

Built once per test module as a template; each test gets a private copy.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import make_url

from tenantctl.domain.orgs import root_org
from tenantctl.store.engine import open_engine, read_session, write_session
from tenantctl.store.models import Account, Organisation, TenantReseller
from tests.conftest import FIXTURES, PG_SERVER, Cli, create_pg_database, drop_pg_database

PL = "Resellers EUR"
PASSWORD = "Backorder-Secret-8812"
ADMIN = ["--admin-username", "admin", "--admin-email", "admin@tenant.example"]
USER_ENV = {"TENANTCTL_USER": "admin", "TENANTCTL_PASSWORD": PASSWORD}


@dataclass
class World:
    cli: Cli
    db_url: str
    acme: str  # client ids
    lite: str

    def at(self, client_id: str, *args, expect: int | None = 0, env: dict | None = None):
        """tenantctl inside the tenant CLIENT_ID, as its administrator."""
        return self.cli("--org", client_id, *args, expect=expect,
                        env={**USER_ENV, **(env or {})})

    def at_json(self, client_id: str, *args, expect: int | None = 0):
        return self.cli.json("--org", client_id, *args, expect=expect, env=USER_ENV)

    def engine(self):
        return open_engine(self.db_url)

    def ids(self, client_id: str) -> tuple[int, int, int]:
        """(tenant link id, tenant org id, root org id) of the tenant CLIENT_ID."""
        engine = self.engine()
        try:
            with read_session(engine) as session:
                org = session.execute(select(Organisation).where(
                    Organisation.client_id == client_id)).scalar_one()
                tenant = session.execute(select(TenantReseller).where(
                    TenantReseller.org_id == org.id)).scalar_one()
                return tenant.id, org.id, root_org(session).id
        finally:
            engine.dispose()

    def set_tenant(self, client_id: str, **values) -> None:
        engine = self.engine()
        try:
            with write_session(engine) as session:
                tenant = session.execute(select(TenantReseller).join(
                    Organisation, Organisation.id == TenantReseller.org_id).where(
                    Organisation.client_id == client_id)).scalar_one()
                for key, value in values.items():
                    setattr(tenant, key, value)
        finally:
            engine.dispose()

    def root_account(self, code: str) -> Account | None:
        engine = self.engine()
        try:
            with read_session(engine) as session:
                return session.execute(select(Account).where(
                    Account.org_id == root_org(session).id, Account.code == code)
                ).scalars().first()
        finally:
            engine.dispose()


def build(db_url: str) -> tuple[str, str]:
    cli = Cli(db_url)
    cli("load", FIXTURES / "distributor.yaml")
    env = {"TENANTCTL_ADMIN_PASSWORD": PASSWORD}
    acme = cli.json("tenant", "create", "ACME", "--price-list", PL, *ADMIN, env=env)
    lite = cli.json("tenant", "create", "LITECLOUD", "--price-list", PL, *ADMIN, env=env)
    cli.json("upgrade", "customers", "LITECLOUD")
    cli.json("upgrade", "subscriptions", "LITECLOUD")
    return acme["client_id"], lite["client_id"]


def template(_template, tmp_path_factory):
    """(template store, (ACME's client id, LITECLOUD's))."""
    if PG_SERVER:
        url = create_pg_database(template=_template)
        ids = build(url)
        yield make_url(url).database, ids
        drop_pg_database(url)
    else:
        path = tmp_path_factory.mktemp("backorder") / "world.db"
        shutil.copyfile(_template, path)
        ids = build(f"sqlite:///{path}")
        engine = open_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        yield path, ids


def private(world_template, tmp_path):
    store, (acme, lite) = world_template
    if PG_SERVER:
        url = create_pg_database(template=store)
        yield World(Cli(url), url, acme, lite)
        drop_pg_database(url)
    else:
        path = tmp_path / "store.db"
        shutil.copyfile(store, path)
        url = f"sqlite:///{path}"
        yield World(Cli(url), url, acme, lite)
