"""The reseller's product policy: each allowed and each forbidden change to an inherited
product, enforced by the domain for a tenant user (SPEC section 6, last paragraph)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tenantctl.domain.policy import ProductChange, delete_product, rules, set_product
from tenantctl.errors import BadInput, Refused
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import Organisation, Product, ProductUnit
from tests.conftest import FIXTURES

PASSWORD = "policy-test-password"


@pytest.fixture
def tenant_org(cli, engine):
    cli("load", FIXTURES / "distributor.yaml")
    created = cli.json(
        "tenant",
        "create",
        "ACME",
        "--price-list",
        "Resellers EUR",
        "--admin-username",
        "admin",
        "--admin-email",
        "admin@acme.example",
        env={"TENANTCTL_ADMIN_PASSWORD": PASSWORD},
    )
    with read_session(engine) as session:
        org = (
            session.execute(
                select(Organisation).where(Organisation.client_id == created["client_id"])
            )
            .scalars()
            .one()
        )
        sku = (
            session.execute(
                select(Product.sku)
                .where(Product.org_id == org.id, Product.add_on_of_id.is_(None))
                .order_by(Product.sku)
            )
            .scalars()
            .first()
        )
    return org.id, created["client_id"], sku


def _change(engine, org_id, target, **fields):
    with write_session(engine, org_id=org_id) as session:
        org = session.get(Organisation, org_id)
        return set_product(session, org, target, ProductChange(**fields))


@pytest.mark.parametrize(
    ("field", "value", "read"),
    [
        ("name", "Our own name", lambda p: p.name),
        ("description", "What we say about it", lambda p: p.description),
        ("category", "Productivity", lambda p: p.category),
        ("visible", False, lambda p: p.visible),
    ],
)
def test_allowed_changes_to_an_inherited_product(engine, tenant_org, field, value, read):
    org_id, _, sku = tenant_org
    _change(engine, org_id, sku, **{field: value})
    with read_session(engine, org_id=org_id) as session:
        product = session.execute(select(Product).where(Product.sku == sku)).scalars().one()
        assert read(product) == value


@pytest.mark.parametrize(
    ("field", "rule", "value"),
    [
        ("sku", "sku", "RENAMED-SKU"),
        ("platform", "platform", "other"),
        ("add_on_of", "add_on_of", None),  # filled in below with another product's SKU
        ("add_unit", "units", "quarterly"),
        ("remove_unit", "units", "monthly"),
        ("purchase_price", "purchase_price", "monthly=0.01"),
    ],
)
def test_forbidden_changes_name_the_rule_and_change_nothing(engine, tenant_org, field, rule, value):
    org_id, _, sku = tenant_org
    if field == "add_on_of":
        with read_session(engine, org_id=org_id) as session:
            value = (
                session.execute(select(Product.sku).where(Product.sku != sku).order_by(Product.sku))
                .scalars()
                .first()
            )
    with read_session(engine, org_id=org_id) as session:
        before = _snapshot(session, sku)
    with pytest.raises(Refused) as refused:
        _change(engine, org_id, sku, **{field: value})
    assert f"rule '{rule}'" in str(refused.value)
    assert rules()[rule].reason in str(refused.value)
    with read_session(engine, org_id=org_id) as session:
        assert _snapshot(session, sku) == before


def test_an_inherited_product_cannot_be_deleted(engine, tenant_org):
    org_id, _, sku = tenant_org
    with (
        pytest.raises(Refused, match="rule 'delete'"),
        write_session(engine, org_id=org_id) as session,
    ):
        delete_product(session, session.get(Organisation, org_id), sku)
    with read_session(engine, org_id=org_id) as session:
        assert session.execute(select(Product).where(Product.sku == sku)).scalars().first()


def test_own_products_may_be_changed_and_deleted(cli, engine, tenant_org):
    org_id, client_id, _ = tenant_org
    cli(
        "--org",
        client_id,
        "product",
        "create",
        "OWN-CONSULTING",
        "--name",
        "Consulting hour",
        "--platform",
        "other",
        "--unit",
        "monthly",
        env={"TENANTCTL_USER": "admin", "TENANTCTL_PASSWORD": PASSWORD},
    )
    with read_session(engine, org_id=org_id) as session:
        own = session.execute(select(Product).where(Product.sku == "OWN-CONSULTING")).scalar_one()
        assert own.source_product_id is None  # its own: the policy does not apply
    _change(
        engine,
        org_id,
        "OWN-CONSULTING",
        sku="OWN-CONSULT",
        platform="oss",
        add_unit="annual",
        purchase_price="monthly=12.50",
    )
    with write_session(engine, org_id=org_id) as session:
        delete_product(session, session.get(Organisation, org_id), "OWN-CONSULT")
    with read_session(engine, org_id=org_id) as session:
        assert (
            session.execute(select(Product).where(Product.sku.like("OWN-%"))).scalars().first()
            is None
        )


def test_a_change_must_name_something(engine, tenant_org):
    org_id, _, sku = tenant_org
    with pytest.raises(BadInput):
        _change(engine, org_id, sku)


def test_the_policy_covers_every_rule_of_the_spec():
    assert {name for name, rule in rules().items() if rule.allowed} == {
        "name",
        "description",
        "category",
        "visible",
        "sell_price",
    }
    assert {name for name, rule in rules().items() if not rule.allowed} == {
        "sku",
        "platform",
        "units",
        "add_on_of",
        "purchase_price",
        "volume_discounts",
        "delete",
    }


def _snapshot(session, sku):
    product = session.execute(select(Product).where(Product.sku == sku)).scalars().one()
    units = session.execute(
        select(ProductUnit.unit, ProductUnit.status, ProductUnit.cost_price)
        .where(ProductUnit.product_id == product.id)
        .order_by(ProductUnit.unit)
    ).all()
    return (product.sku, product.platform, product.add_on_of_id, product.name, tuple(units))
