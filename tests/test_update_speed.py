"""`tenant update` costs what its diff costs (issue 13): the plan is made once, and only
from the items that start or end between the tenant's revision and the target."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import aliased

from tenantctl.domain import updates
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import Product, ProductUnit, TenantReseller
from tests.update_world import (
    PL,
    V2,
    counts_of,
    expected_changes,
    read_rows,
    tenant_org_id,
    update_one,
    version_1,
    version_of,
    with_acme,
)


@pytest.fixture
def store(cli):
    """The distributor's data set loaded and ACME a tenant of "Resellers EUR"."""
    return with_acme(cli)


def test_a_foreground_update_plans_once(store, monkeypatch):
    store("pricelist", "import", PL, V2)
    calls = []
    plan_update = updates.plan_update

    def counted(*args, **kwargs):
        calls.append(args[1].id)
        return plan_update(*args, **kwargs)

    monkeypatch.setattr(updates, "plan_update", counted)
    outcome = update_one(store)
    expected = expected_changes(version_1(), version_of(read_rows(V2)))
    assert (outcome["status"], outcome["counts"]) == ("succeeded", counts_of(expected))
    assert len(calls) == 1


def test_the_plan_compares_only_the_items_changed_between_the_revisions(store, engine):
    old, new = version_1(), version_of(read_rows(V2))
    untouched = sorted(
        k for k in old.items.keys() & new.items.keys() if old.items[k] == new.items[k]
    )[0]
    # A held unit the new revision does not touch: were the plan to compare the whole
    # list, it would see this (made-up) difference.
    org_id = tenant_org_id(engine)
    source = aliased(Product)
    with write_session(engine) as session:
        unit_id = session.execute(
            select(ProductUnit.id)
            .join(Product, Product.id == ProductUnit.product_id)
            .join(source, source.id == Product.source_product_id)
            .where(
                ProductUnit.org_id == org_id,
                source.sku == untouched[0],
                ProductUnit.unit == untouched[1],
            )
        ).scalar_one()
        session.execute(
            update(ProductUnit)
            .where(ProductUnit.id == unit_id)
            .values(cost_price=Decimal("999.99"))
        )
    store("pricelist", "import", PL, V2)
    with read_session(engine) as session:
        tenant = session.execute(select(TenantReseller)).scalars().one()
        plan = updates.plan_update(session, tenant, date.today(), updates.Options())
    expected = expected_changes(old, new)
    assert plan.counts() == counts_of(expected)
    assert untouched not in {(c.sku, c.unit) for c in plan.changes}
