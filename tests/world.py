"""The "world" store that the sales, account and tenant-context tests share: the
distributor's data set (`fixtures/distributor.yaml`) with two tenant resellers, ACME and
LITECLOUD, built once per session (conftest.py's `world_template`) and copied for each test
(`world`)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from tenantctl.domain.orgs import root_org
from tenantctl.store.engine import open_engine, read_session, write_session
from tenantctl.store.models import Account, Organisation, TenantReseller
from tests.conftest import FIXTURES, PG_SERVER, Cli, create_pg_database, drop_pg_database

PL = "Resellers EUR"
ATHENS = ZoneInfo("Europe/Athens")  # the data set's (and so every tenant's) time zone
RETAIL = "Retail EUR"
# Unusual enough that finding it anywhere can only mean it leaked.
PASSWORD = "Tenant-Secret-Zq7-4410"
ADMIN = ["--admin-username", "admin", "--admin-email", "admin@tenant.example"]
USER_ENV = {"TENANTCTL_USER": "admin", "TENANTCTL_PASSWORD": PASSWORD}


def today() -> date:
    """Today where the data set's orgs are (the day a sale made now is dated)."""
    return datetime.now(ATHENS).date()


@dataclass
class World:
    """A private store with the data set loaded and tenants for ACME and LITECLOUD."""

    cli: Cli
    db_url: str
    acme: str  # client ids
    lite: str

    def at(self, client_id: str, *args, expect: int | None = 0, env: dict | None = None):
        """Run tenantctl inside the tenant CLIENT_ID, logged in as its administrator."""
        return self.cli("--org", client_id, *args, expect=expect, env={**USER_ENV, **(env or {})})

    def at_json(self, client_id: str, *args, expect: int | None = 0):
        return self.cli.json("--org", client_id, *args, expect=expect, env=USER_ENV)

    def write(self):
        return _Writer(self.db_url)

    def ids(self, client_id: str) -> tuple[int, int, int]:
        """(tenant link id, tenant org id, root org id) of the tenant CLIENT_ID."""
        with self.write() as session:
            org = session.execute(
                select(Organisation).where(Organisation.client_id == client_id)
            ).scalar_one()
            tenant = session.execute(
                select(TenantReseller).where(TenantReseller.org_id == org.id)
            ).scalar_one()
            return tenant.id, org.id, root_org(session).id

    def set_tenant(self, client_id: str, **values) -> None:
        """Set columns of the tenant CLIENT_ID's link row directly."""
        with self.write() as session:
            tenant = session.execute(
                select(TenantReseller)
                .join(Organisation, Organisation.id == TenantReseller.org_id)
                .where(Organisation.client_id == client_id)
            ).scalar_one()
            for key, value in values.items():
                setattr(tenant, key, value)

    def root_account(self, code: str) -> Account | None:
        with self.write() as session:
            return (
                session.execute(
                    select(Account).where(
                        Account.org_id == root_org(session).id, Account.code == code
                    )
                )
                .scalars()
                .first()
            )

    def engine(self):
        return open_engine(self.db_url)


class _Writer:
    """`with world.write() as session:` an unscoped write session on the store."""

    def __init__(self, db_url: str):
        self.engine = open_engine(db_url)

    def __enter__(self):
        self._cm = write_session(self.engine)
        return self._cm.__enter__()

    def __exit__(self, *exc):
        try:
            return self._cm.__exit__(*exc)
        finally:
            self.engine.dispose()


def root_id(engine) -> int:
    """The id of the store's root organisation (the parent of its first-level tenants)."""
    with read_session(engine) as session:
        return root_org(session).id


def build_world(db_url: str) -> tuple[str, str]:
    cli = Cli(db_url)
    cli("load", FIXTURES / "distributor.yaml")
    env = {"TENANTCTL_ADMIN_PASSWORD": PASSWORD}
    acme = cli.json("tenant", "create", "ACME", "--price-list", PL, *ADMIN, env=env)
    lite = cli.json("tenant", "create", "LITECLOUD", "--price-list", PL, *ADMIN, env=env)
    return acme["client_id"], lite["client_id"]


def build_world_template(_template, tmp_path_factory, build=build_world):
    """(template store, (ACME's client id, LITECLOUD's)): the data set and both tenants
    (BUILD: what makes them; `build_world` by default)."""
    if PG_SERVER:
        url = create_pg_database(template=_template)
        ids = build(url)
        yield make_url(url).database, ids
        drop_pg_database(url)
    else:
        path = tmp_path_factory.mktemp("world") / "world.db"
        shutil.copyfile(_template, path)
        ids = build(f"sqlite:///{path}")
        engine = open_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        yield path, ids


def private_world(world_template, tmp_path):
    """A private copy of the template store for one test."""
    template, (acme, lite) = world_template
    if PG_SERVER:
        url = create_pg_database(template=template)
        yield World(Cli(url), url, acme, lite)
        drop_pg_database(url)
    else:
        path = tmp_path / "store.db"
        shutil.copyfile(template, path)
        url = f"sqlite:///{path}"
        yield World(Cli(url), url, acme, lite)


def manage(world: World, codes: list[str], client_id: str, backorder: str = "off") -> None:
    """Make root accounts back-ordering records of a tenant (what `upgrade customers` does)."""
    with world.write() as session:
        tenant_org = session.execute(
            select(Organisation).where(Organisation.client_id == client_id)
        ).scalar_one()
        session.execute(
            update(Account)
            .where(Account.code.in_(codes), Account.org_id == root_org(session).id)
            .values(managed_by_org_id=tenant_org.id)
        )
        session.execute(
            update(TenantReseller)
            .where(TenantReseller.org_id == tenant_org.id)
            .values(backorder_state=backorder)
        )


def tenant_customer(
    world: World, client_id: str, code: str = "CUST", price_list: str | None = RETAIL
) -> None:
    world.at(client_id, "account", "create", code, "--name", f"{code} Ltd")
    if price_list:
        world.at(client_id, "account", "set", code, "--price-list", price_list)
