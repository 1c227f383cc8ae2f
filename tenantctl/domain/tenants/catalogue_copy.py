"""The set-based copy of a price list's catalogue into a tenant: products, units and
retail prices in batches of INSERT ... SELECT, with no Python per row. Used by the
creation and by `tenant update` for the products a new revision adds.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, func, insert, literal, select, update
from sqlmodel import Session

from tenantctl.store import models as m
from tenantctl.store.engine import COUNT_ROWS
from tenantctl.store.models import utcnow

COPY_BATCH = 5000


def _in_revision(item, price_list_id: int, revision: int):
    return and_(
        item.c.price_list_id == price_list_id,
        item.c.from_revision <= revision,
        (item.c.to_revision.is_(None)) | (item.c.to_revision > revision),
    )


def count_listed_products(session: Session, price_list_id: int, revision: int) -> int:
    item = m.PriceListItem.__table__
    return session.execute(
        select(func.count(func.distinct(item.c.product_id))).where(
            _in_revision(item, price_list_id, revision)
        )
    ).scalar_one()


def retail_price_list_name(currency: str) -> str:
    """The name of a tenant's retail price list (its sell prices)."""
    return f"Retail {currency}"


def ensure_retail_price_list(session: Session, org_id: int) -> int:
    """The tenant's retail price list (sell prices), created empty at revision 1."""
    org = session.get(m.Organisation, org_id)
    name = retail_price_list_name(org.currency)
    existing = session.execute(
        select(m.PriceList.id).where(m.PriceList.org_id == org_id, m.PriceList.name == name)
    ).scalar()
    if existing is not None:
        return existing
    price_list = m.PriceList(org_id=org_id, name=name, currency=org.currency)
    session.add(price_list)
    session.flush()
    session.add(
        m.PriceListRevision(
            price_list_id=price_list.id, number=1, source="created with the tenant at cost"
        )
    )
    session.flush()
    return price_list.id


def _not_in_tenant(target, org_id: int, source_id, sku):
    """Neither a copy of SOURCE_ID nor a product with its SKU is in the tenant ORG_ID."""
    return and_(
        ~exists().where(target.c.org_id == org_id, target.c.source_product_id == source_id),
        ~exists().where(target.c.org_id == org_id, target.c.sku == sku),
    )


def copy_catalogue_batch(
    session: Session,
    org_id: int,
    price_list_id: int,
    revision: int,
    retail_id: int,
    limit: int,
    retail_revision: int = 1,
    after: int = 0,
) -> tuple[int, int]:
    """Copy up to LIMIT products of the price list not yet in the tenant, with their units:
    those with an id above AFTER (the last batch's highest: the ones below are not read
    again), or any when none is left above it.

    Three INSERT ... SELECT statements: products, units at cost (the price-list price), and
    retail items at sell price = cost. Each skips what is already copied, and the unique
    keys on (org, source) are the backstop, so a batch run twice copies nothing twice.
    Returns how many products this batch copied and the highest source id of the batch.
    """
    item, product = m.PriceListItem.__table__, m.Product.__table__
    target = product.alias("target")
    # Listed: looked up per product (an index probe), not a list of the whole price list
    # built again by every statement of every batch.
    listed = exists().where(
        item.c.product_id == product.c.id, _in_revision(item, price_list_id, revision)
    )
    # Not copied yet, and its SKU free in the tenant (a product of the reseller's own may
    # hold it: the update reports that, see updates.SKU_IN_USE).
    # Two NOT EXISTS, not one over an OR: each is an index probe (unique keys on (org,
    # source) and (org, sku)), where PostgreSQL scanned the tenant's products for the OR.
    not_copied = _not_in_tenant(target, org_id, product.c.id, product.c.sku)

    def bounds(above: int) -> tuple[int | None, int | None]:
        # From the price list's items in their index's order (not every product of the
        # store), each listed product looked up once.
        sku = (
            select(product.c.sku)
            .where(product.c.id == item.c.product_id)
            .correlate(item)
            .scalar_subquery()
        )
        ids = (
            select(item.c.product_id.label("id"))
            .where(_in_revision(item, price_list_id, revision), item.c.product_id > above)
            .group_by(item.c.product_id)
            .having(_not_in_tenant(target, org_id, item.c.product_id, sku))
            .order_by(item.c.product_id)
            .limit(limit)
            .subquery()
        )
        return session.execute(select(func.min(ids.c.id), func.max(ids.c.id))).one()

    low, high = bounds(after)
    if low is None and after:
        low, high = bounds(0)  # nothing left above AFTER: look at the whole list once
    if low is None:
        return 0, after
    # The batch is every listed product not yet copied with an id from LOW to HIGH.
    batch = range(low, high + 1)
    now = utcnow()
    result = session.execute(
        insert(product).from_select(
            [
                "org_id",
                "sku",
                "name",
                "platform",
                "product_type",
                "status",
                "description",
                "category",
                "visible",
                "source_product_id",
                "created_at",
            ],
            select(
                literal(org_id),
                product.c.sku,
                product.c.name,
                product.c.platform,
                product.c.product_type,
                literal("active"),
                product.c.description,
                product.c.category,
                literal(True),
                product.c.id,
                literal(now, product.c.created_at.type),
            )
            .where(product.c.id.between(low, high), listed, not_copied)
            .order_by(product.c.id),
        ),
        execution_options=COUNT_ROWS,
    )
    copied = result.rowcount
    if not copied:
        return 0, high
    copy_units(
        session, org_id, price_list_id, revision, retail_id, retail_revision, source_ids=batch
    )
    return copied, high


def copy_units(
    session: Session,
    org_id: int,
    price_list_id: int,
    revision: int,
    retail_id: int | None,
    retail_revision: int = 1,
    *,
    source_ids: list[int] | range | None = None,
) -> int:
    """Copy the listed units missing in the tenant at cost; add them to the retail list
    (from RETAIL_REVISION on: 1 at creation, the update's new revision later). With
    SOURCE_IDS (ids, or a range of ids), only the units of those source products: the
    batch just copied, not the whole list again."""
    item, product, unit = m.PriceListItem.__table__, m.Product.__table__, m.ProductUnit.__table__
    target, target_unit = product.alias("target"), unit.alias("target_unit")
    listed = _in_revision(item, price_list_id, revision)
    if source_ids is not None:
        listed = and_(listed, _among(item.c.product_id, source_ids))
    units = session.execute(
        insert(unit).from_select(
            ["org_id", "product_id", "unit", "status", "cost_price", "source_unit_id"],
            select(
                literal(org_id),
                target.c.id,
                item.c.unit,
                literal("active"),
                item.c.price,
                unit.c.id,
            )
            .join(
                target,
                and_(target.c.source_product_id == item.c.product_id, target.c.org_id == org_id),
            )
            .join(unit, and_(unit.c.product_id == item.c.product_id, unit.c.unit == item.c.unit))
            .where(
                listed,
                ~exists().where(
                    target_unit.c.org_id == org_id, target_unit.c.source_unit_id == unit.c.id
                ),
            ),
        ),
        execution_options=COUNT_ROWS,
    ).rowcount
    if retail_id is not None:
        retail = item.alias("retail")
        held = select(
            literal(retail_id),
            unit.c.product_id,
            unit.c.unit,
            unit.c.cost_price,
            literal(retail_revision),
        ).where(
            ~exists().where(
                retail.c.price_list_id == retail_id,
                retail.c.product_id == unit.c.product_id,
                retail.c.unit == unit.c.unit,
            )
        )
        if source_ids is None:
            held = held.where(unit.c.org_id == org_id)
        else:
            # The units of the tenant's copies of those sources (a unit is in its product's
            # org), found from the copies: not every unit the tenant holds read again at
            # each batch, nor (PostgreSQL) intersected with them per copy.
            held = held.join_from(unit, target, target.c.id == unit.c.product_id).where(
                target.c.org_id == org_id, _among(target.c.source_product_id, source_ids)
            )
        session.execute(
            insert(item).from_select(
                ["price_list_id", "product_id", "unit", "price", "from_revision"], held
            )
        )
    return units


def _among(column, ids: list[int] | range):
    if isinstance(ids, range):
        return column.between(ids.start, ids.stop - 1)
    return column.in_(ids)


def link_add_ons(session: Session, org_id: int, only_skus: list[str] | None = None) -> None:
    """Mirror the add-on relations of the source products among the tenant's copies
    (of ONLY_SKUS when given)."""
    product = m.Product.__table__
    source, parent_copy = product.alias("source"), product.alias("parent_copy")
    parent = (
        select(parent_copy.c.id)
        .join(source, source.c.add_on_of_id == parent_copy.c.source_product_id)
        .where(source.c.id == product.c.source_product_id, parent_copy.c.org_id == org_id)
        .scalar_subquery()
    )
    # Only the rows the statement can change: a copy with a relation, or whose source has
    # one (the others would be rewritten with the NULL they hold).
    has_add_on = exists().where(
        source.c.id == product.c.source_product_id, source.c.add_on_of_id.is_not(None)
    )
    stmt = update(product).where(
        product.c.org_id == org_id,
        product.c.source_product_id.is_not(None),
        product.c.add_on_of_id.is_not(None) | has_add_on,
    )
    if only_skus is not None:
        stmt = stmt.where(product.c.sku.in_(only_skus))
    session.execute(stmt.values(add_on_of_id=parent))


def finish_retail_revision(session: Session, retail_id: int) -> None:
    """Record on the retail list's first revision how many items it holds once copied."""
    item, rev = m.PriceListItem.__table__, m.PriceListRevision.__table__
    count = session.execute(
        select(func.count()).where(item.c.price_list_id == retail_id, item.c.to_revision.is_(None))
    ).scalar()
    session.execute(
        update(rev)
        .where(rev.c.price_list_id == retail_id, rev.c.number == 1)
        .values(item_count=count)
    )
