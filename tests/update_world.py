"""Helpers of the `tenant update` tests (test_update.py) that other test modules share: the
distributor's data set, price-list versions read from the files, what the store holds,
and running an update."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import aliased

from tenantctl.store.engine import read_session
from tenantctl.store.models import (
    Account,
    Product,
    ProductUnit,
    TenantReseller,
)
from tests.conftest import FIXTURES
from tests.realdata import TextFloatLoader

DATASET = FIXTURES / "distributor.yaml"
V2 = FIXTURES / "resellers-eur-v2.csv"
PL = "Resellers EUR"
PASSWORD = "Pl41n-Text-Secret-7qZ"
ENV = {"TENANTCTL_ADMIN_PASSWORD": PASSWORD, "COLUMNS": "120"}
RETAIL = "Retail EUR"
# Inside a tenant, as its administrator.
TENANT_ENV = {"TENANTCTL_USER": "admin", "TENANTCTL_PASSWORD": PASSWORD, "COLUMNS": "120"}
ADDED, PRICE, DISCONTINUED = "added", "price-changed", "discontinued"
ADD_ON, RENAMED, SELL = "add-on-changed", "renamed", "sell-price-changed"
BELOW = "below-cost"
Key = tuple[str, str]  # (sku, unit)


@dataclass(frozen=True)
class Version:
    """One version of a price list as its file has it."""

    items: dict[Key, Decimal]
    add_ons: dict[str, str | None] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def skus(self) -> set[str]:
        return {sku for sku, _ in self.items}


def version_1() -> Version:
    """ "Resellers EUR" as the data set loads it (revision 1), prices as their text."""
    with DATASET.open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=TextFloatLoader)
    products = {p["sku"]: p for p in data["products"]}
    (price_list,) = [p for p in data["price_lists"] if p["name"] == PL]
    items = {(i["sku"], i["unit"]): Decimal(str(i["price"])) for i in price_list["items"]}
    skus = {sku for sku, _ in items}
    return Version(
        items,
        {s: products[s].get("add_on_of") for s in skus},
        {s: products[s]["name"] for s in skus},
    )


def read_rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def version_of(rows: list[dict]) -> Version:
    return Version(
        {(r["sku"], r["unit"]): Decimal(r["price"]) for r in rows},
        {r["sku"]: r.get("add_on_of") or None for r in rows},
        {r["sku"]: r["name"] for r in rows},
    )


def edited(rows: list[dict], **changes: dict) -> list[dict]:
    """ROWS with, for each SKU named, the fields given changed on every unit of it."""
    out = []
    for row in rows:
        row = dict(row)
        row.update(changes.get(row["sku"].replace("-", "_"), {}))
        out.append(row)
    return out


def expected_changes(old: Version, new: Version) -> dict[str, set[Key]]:
    """The catalogue differences between two versions, per kind (set arithmetic)."""
    both = old.items.keys() & new.items.keys()
    return {
        ADDED: set(new.items) - set(old.items),
        PRICE: {k for k in both if old.items[k] != new.items[k]},
        DISCONTINUED: set(old.items) - set(new.items),
    }


def counts_of(expected: dict[str, set]) -> dict[str, int]:
    return {kind: len(keys) for kind, keys in expected.items() if keys}


def create_tenant(cli, code: str, *extra: str) -> dict:
    return cli.json(
        "tenant",
        "create",
        code,
        "--price-list",
        PL,
        "--admin-username",
        "admin",
        "--admin-email",
        f"admin@{code.lower()}.example",
        *extra,
        env=ENV,
    )


def with_acme(cli):
    """CLI's store with the distributor's data set loaded and ACME a tenant of "Resellers
    EUR" (the `store` fixture of the update tests)."""
    cli("load", DATASET)
    create_tenant(cli, "ACME")
    return cli


def tenant_org_id(engine, code: str = "ACME") -> int:
    with read_session(engine) as session:
        return session.execute(
            select(TenantReseller.org_id)
            .join(Account, Account.id == TenantReseller.account_id)
            .where(Account.code == code)
        ).scalar_one()


def tenant_units(engine, code: str = "ACME") -> dict[Key, tuple[Decimal, str]]:
    """(source SKU, unit) -> (purchase price, status) of every unit the tenant holds."""
    org_id = tenant_org_id(engine, code)
    source, copy = aliased(Product), aliased(Product)
    with read_session(engine) as session:
        rows = session.execute(
            select(source.sku, ProductUnit.unit, ProductUnit.cost_price, ProductUnit.status)
            .join(copy, copy.id == ProductUnit.product_id)
            .join(source, source.id == copy.source_product_id)
            .where(ProductUnit.org_id == org_id)
        ).all()
    units = {(r.sku, r.unit): (r.cost_price, r.status) for r in rows}
    assert len(units) == len(rows), "a unit is held twice"
    return units


@dataclass(frozen=True)
class Held:
    name: str
    status: str
    add_on_of: str | None


def tenant_products(engine, code: str = "ACME") -> dict[str, Held]:
    org_id = tenant_org_id(engine, code)
    parent = aliased(Product)
    with read_session(engine) as session:
        rows = session.execute(
            select(Product.sku, Product.name, Product.status, parent.sku.label("parent"))
            .outerjoin(parent, parent.id == Product.add_on_of_id)
            .where(Product.org_id == org_id)
        ).all()
    return {r.sku: Held(r.name, r.status, r.parent) for r in rows}


def assert_tenant_holds(
    engine, version: Version, discontinued: set[Key], code: str = "ACME"
) -> None:
    """The tenant sells exactly VERSION at cost; DISCONTINUED units are kept, not sold."""
    units = tenant_units(engine, code)
    active = {k: cost for k, (cost, status) in units.items() if status == "active"}
    assert active == version.items
    assert {k for k, (_, status) in units.items() if status == "discontinued"} == discontinued
    assert units.keys() == version.items.keys() | discontinued
    products = tenant_products(engine, code)
    assert {s for s, p in products.items() if p.status == "active"} == version.skus
    assert {s for s, p in products.items() if p.status == "discontinued"} == (
        {s for s, _ in discontinued} - version.skus
    )


def log_of(cli, code: str = "ACME", *args: str) -> list[dict]:
    return cli.json("tenant", "log", code, *args)


def assert_log(log: list[dict], expected: dict[str, set[Key]]) -> None:
    """The log holds exactly one entry per expected change and nothing else (the margin
    guard's below-cost entries aside: tests/test_margin_guard.py checks those)."""
    entries = Counter((e["change"], e["sku"], e["unit"]) for e in log if e["change"] != BELOW)
    assert entries == Counter({(kind, *key): 1 for kind, keys in expected.items() for key in keys})


def update_one(cli, code: str = "ACME", *args: str, expect: int = 0) -> dict:
    out = cli.json("tenant", "update", code, *args, expect=expect)
    assert out["skipped"] == []
    (outcome,) = out["tenants"]
    return outcome


def recorded_revision(cli, code: str = "ACME") -> int:
    return cli.json("tenant", "show", code)["price_list_revision"]


def retail_list(cli, client_id: str, revision: int | None = None) -> dict:
    """The tenant's retail price list as `pricelist show --json` gives it, inside the tenant."""
    args = ["--revision", str(revision)] if revision else []
    return cli.json("--org", client_id, "pricelist", "show", RETAIL, *args, env=TENANT_ENV)


def retail_prices(listing: dict) -> dict[Key, Decimal]:
    return {(i["sku"], i["unit"]): Decimal(i["price"]) for i in listing["items"]}
