"""Helpers of the upgrade tests (test_upgrade.py) that the crash and billing tests share:
LITECLOUD made a tenant, and what its customers and their copies hold."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from tenantctl.store.engine import read_session
from tenantctl.store.models import (
    Account,
    Asset,
    Organisation,
    Subscription,
    SubscriptionAddon,
    TenantReseller,
)
from tests.conftest import FIXTURES

DATASET = FIXTURES / "distributor.yaml"
LITE = "LITECLOUD"
PL = "Resellers EUR"
ENV = {"TENANTCTL_ADMIN_PASSWORD": "long-enough-pw", "COLUMNS": "120"}
CREATE = [
    "tenant",
    "create",
    LITE,
    "--price-list",
    PL,
    "--admin-username",
    "admin",
    "--admin-email",
    "a@lite.example",
]
COPIED = ("active",)


def create_tenant(cli, *extra: str):
    """`tenant create LITECLOUD` with the fixture's "Resellers EUR" price list."""
    return cli(*CREATE, *extra, env=ENV)


@dataclass(frozen=True)
class Lite:
    """LITECLOUD's tenant reseller: the ids a test needs."""

    id: int
    root_id: int
    org_id: int
    reseller_id: int
    client_id: str
    revision: int
    root_price_list_id: int


def lite_tenant(engine) -> Lite:
    with read_session(engine) as session:
        t, client_id = session.execute(
            select(TenantReseller, Organisation.client_id)
            .join(Account, Account.id == TenantReseller.account_id)
            .join(Organisation, Organisation.id == TenantReseller.org_id)
            .where(Account.code == LITE)
        ).one()
        return Lite(
            t.id,
            t.parent_org_id,
            t.org_id,
            t.account_id,
            client_id,
            t.price_list_revision,
            t.price_list_id,
        )


def tenant_state(engine, lite: Lite) -> tuple[str, str]:
    with read_session(engine) as session:
        t = session.get(TenantReseller, lite.id)
        return t.phase, t.backorder_state


def root_customers(engine, lite: Lite) -> dict[int, Account]:
    """LITECLOUD's customers in the root: the accounts billed to it."""
    with read_session(engine) as session:
        return {
            a.id: a
            for a in session.execute(
                select(Account).where(
                    Account.org_id == lite.root_id, Account.bill_to_id == lite.reseller_id
                )
            ).scalars()
        }


def root_rows(engine, lite: Lite, model, statuses=None) -> dict[int, object]:
    """The subscriptions or assets of LITECLOUD's customers in the root (by id)."""
    with read_session(engine) as session:
        query = (
            select(model)
            .join(Account, Account.id == model.account_id)
            .where(Account.org_id == lite.root_id, Account.bill_to_id == lite.reseller_id)
        )
        if statuses is not None:
            query = query.where(model.status.in_(statuses))
        return {r.id: r for r in session.execute(query).scalars()}


def copies(engine, model, org_id: int) -> list:
    """Every row of MODEL in ORG_ID that was copied from another org."""
    source = {
        Account: Account.source_account_id,
        Subscription: Subscription.source_subscription_id,
        Asset: Asset.source_asset_id,
    }[model]
    with read_session(engine) as session:
        return list(
            session.execute(
                select(model).where(model.org_id == org_id, source.is_not(None))
            ).scalars()
        )


def by_source(rows: list, attr: str) -> dict[int, object]:
    """ROWS by the id of the row each was copied from; every source at most once."""
    out: dict[int, object] = {}
    for r in rows:
        source = getattr(r, attr)
        assert source not in out, f"copied twice: {source}"
        out[source] = r
    return out


def add_ons_of(engine, subscription_ids) -> dict[int, set[tuple[int, int]]]:
    """Add-ons of each subscription: {(product id, quantity)}."""
    with read_session(engine) as session:
        out: dict[int, set[tuple[int, int]]] = {s: set() for s in subscription_ids}
        for a in session.execute(
            select(SubscriptionAddon).where(SubscriptionAddon.subscription_id.in_(subscription_ids))
        ).scalars():
            out[a.subscription_id].add((a.product_id, a.quantity))
        return out


def status(cli) -> dict:
    return cli.json("upgrade", "status", LITE)
