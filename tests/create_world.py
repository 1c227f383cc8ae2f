"""Helpers of the tenant-creation tests (test_tenant_create.py) that the discard and speed
tests share: the data set, creating a tenant, and what a tenant holds."""

from __future__ import annotations

from decimal import Decimal

import yaml
from sqlalchemy import func, select

from tenantctl import jobs
from tenantctl.domain.kinds import register_all
from tenantctl.store.engine import open_engine, read_session
from tenantctl.store.models import (
    Account,
    Organisation,
    TenantReseller,
)
from tests.conftest import FIXTURES
from tests.realdata import TextFloatLoader

DATASET = FIXTURES / "distributor.yaml"
PL = "Resellers EUR"
# Unusual enough that finding it anywhere can only mean it leaked.
PASSWORD = "Pl41n-Text-Secret-7qZ"
ENV = {"TENANTCTL_ADMIN_PASSWORD": PASSWORD, "COLUMNS": "120"}
ADMIN = ["--admin-username", "admin", "--admin-email", "a@acme.example"]
CREATE = ["tenant", "create", "ACME", "--price-list", PL, "--edition", "premium", *ADMIN]
# Nothing here takes more than a few seconds; the guard only turns a hang into a failure.
HANG_SECONDS = 45


def _dataset() -> dict:
    with DATASET.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=TextFloatLoader)


def expected_catalogue(name: str = PL) -> dict:
    """What a tenant of price list NAME must get: units at cost, add-ons, platforms."""
    data = _dataset()
    products = {p["sku"]: p for p in data["products"]}
    (price_list,) = [p for p in data["price_lists"] if p["name"] == name]
    units = {(i["sku"], i["unit"]): Decimal(str(i["price"])) for i in price_list["items"]}
    skus = {sku for sku, _ in units}
    return {
        "units": units,
        "skus": skus,
        "add_ons": {
            sku: products[sku].get("add_on_of") if products[sku].get("add_on_of") in skus else None
            for sku in skus
        },
        "platforms": {products[sku]["platform"] for sku in skus},
        "names": {sku: products[sku]["name"] for sku in skus},
    }


def tenant_org(engine, code: str = "ACME") -> Organisation | None:
    with read_session(engine) as session:
        return (
            session.execute(
                select(Organisation)
                .join(TenantReseller, TenantReseller.org_id == Organisation.id)
                .join(Account, Account.id == TenantReseller.account_id)
                .where(Account.code == code)
            )
            .scalars()
            .first()
        )


def tenant_row(engine, code: str = "ACME") -> TenantReseller | None:
    with read_session(engine) as session:
        return (
            session.execute(
                select(TenantReseller)
                .join(Account, Account.id == TenantReseller.account_id)
                .where(Account.code == code)
            )
            .scalars()
            .first()
        )


def count(engine, model, *where) -> int:
    with read_session(engine) as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def all_rows(db_url: str) -> dict[str, list[str]]:
    """Every row of every table (reflected, so no table is forgotten), in a stable order."""
    from tests.conftest import reflected

    engine = open_engine(db_url)
    try:
        meta = reflected(engine)
        with engine.connect() as conn:
            return {
                name: sorted(repr(tuple(r)) for r in conn.execute(select(table)))
                for name, table in meta.tables.items()
            }
    finally:
        engine.dispose()


def run_worker(engine, worker_id: str = "worker-1") -> list[jobs.ProcessInfo]:
    """Run every queued process in this test's own process, under a fixed worker id."""
    register_all()
    return jobs.worker(engine, worker_id, until_empty=True, handle_signals=False).processes


def cancel_mid_copy(store, engine, monkeypatch) -> jobs.ProcessInfo:
    """Create ACME, cancelled by an operator after the first batch of 10 products of its
    catalogue copy (the organisation and its administrator exist); the process's state."""
    monkeypatch.setenv("TENANTCTL_COPY_BATCH", "10")
    pid = store.json(*CREATE, "--detach", env=ENV)["process_id"]
    register_all()

    def cancel_after_a_batch(task: str, done: int, total: int | None) -> None:
        # Called after the batch committed: the operator cancels between two batches.
        if task == "copy the catalogue" and done == 10:
            jobs.cancel(engine, pid)

    claimed = jobs.claim_process(engine, pid, "worker-1")
    return jobs.run_process(engine, claimed, on_progress=cancel_after_a_batch)
