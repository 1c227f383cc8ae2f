"""Sales in every org (SPEC sections 5 and 9): subscriptions, assets, and the order every
executed sale makes.

The same functions serve the root and a tenant context. They use ORM entities only, so
inside a tenant the org scoping keeps every lookup (even by id) inside the tenant.

The rules, one function each:
- `check_can_sell`: may this account be sold to here (ordering enabled; not a back-ordering
  record of a tenant reseller, except a lite reseller's storefront order);
- `sellable_product` / `sellable_add_on`: what may be sold (active, unit sold, add-on of
  the product);
- `pricing.account_price`: what the account pays (its price list's revision in effect on
  the sale's date: the latest one, unless one is scheduled later);
- `record_order`: the order of one executed sale (new, change, cancel, add-on,
  trial-to-paid). A trial is not a sale: it makes no order until it is turned paid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session

from tenantctl.domain import fields, outbox
from tenantctl.domain.accounts import managing_tenant
from tenantctl.domain.catalogue import revision_in_effect
from tenantctl.domain.orgs import get_account, get_product
from tenantctl.domain.pricing import account_price, listed_price, today, unit_statuses
from tenantctl.errors import BadInput, Conflict, NotFound, Refused
from tenantctl.store.models import (
    Account,
    Asset,
    OrderLine,
    Organisation,
    PriceList,
    PriceListItem,
    Product,
    ProductUnit,
    SalesOrder,
    Subscription,
    SubscriptionAddon,
    TenantReseller,
)

ORDER_TYPES = ("new", "change", "cancel", "add-on", "trial-to-paid")
_CODE_ATTEMPTS = 5


# --- views --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddOnView:
    sku: str
    product: str
    quantity: int


@dataclass(frozen=True)
class SubscriptionView:
    id: int
    code: str
    account: str
    bill_to: str | None
    sku: str
    product: str
    unit: str
    quantity: int
    price: Decimal
    currency: str
    status: str
    start_date: date
    auto_renew: bool
    paid: bool
    billing_day: int
    add_ons: list[AddOnView]
    characteristics: dict


@dataclass(frozen=True)
class OrderLineView:
    sku: str
    product: str
    unit: str | None
    quantity: int
    price: Decimal
    currency: str


@dataclass(frozen=True)
class OrderView:
    id: int
    number: str
    account: str
    bill_to: str | None
    order_date: date
    order_type: str
    origin: str | None
    status: str
    currency: str | None
    total: Decimal
    lines: list[OrderLineView]


@dataclass(frozen=True)
class AssetView:
    id: int
    code: str
    account: str
    bill_to: str | None
    sku: str
    product: str
    kind: str
    quantity: int
    purchase_date: date
    status: str
    characteristics: dict


@dataclass(frozen=True)
class SubscriptionResult:
    """A subscription after a sale, the orders the sale made, and whether anything changed."""

    subscription: SubscriptionView
    orders: list[OrderView] = field(default_factory=list)
    changed: bool = True


@dataclass(frozen=True)
class AssetResult:
    asset: AssetView
    orders: list[OrderView] = field(default_factory=list)


# --- the rules ----------------------------------------------------------------------------


def check_can_sell(
    session: Session,
    org: Organisation,
    account: Account,
    *,
    storefront: bool = False,
    command: str = "subscription create",
    new_sale: bool = True,
) -> None:
    """Refuse a sale (an order or a subscription change) for ACCOUNT in ORG when a rule
    forbids it; the one place every sale path asks.

    - An account not enabled for ordering gets no new sale (a cancellation still goes).
    - An account a tenant reseller manages (SPEC section 5: it became a back-ordering
      record when the reseller's customers were copied into the tenant) is sold to in the
      tenant's BSS, not here; the exception: while the reseller is still lite
      (back-ordering off), an order it places through this org's storefront (STOREFRONT).
    """
    tenant = managing_tenant(session, account)
    if tenant is not None and not (storefront and tenant.backorder_state == "off"):
        why = (
            f"account {account.code} is managed by tenant reseller {tenant.reseller}: "
            "it is a back-ordering record here, so its orders and subscriptions are made "
            f"in the tenant's BSS ({tenant.where(command + ' ...')})"
        )
        if storefront:
            why += (
                f"; storefront orders are accepted only while {tenant.reseller} is lite, "
                f"and its back-ordering is {tenant.backorder_state}"
            )
        elif tenant.backorder_state == "off":
            why += (
                f"; while {tenant.reseller} is lite, an order it places through the "
                f"storefront is accepted here with --storefront"
            )
        raise Refused(why)
    if new_sale and not account.ordering_enabled:
        raise Refused(
            f"account {account.code} is not enabled for ordering (fix: tenantctl "
            f"account set {account.code} --ordering)"
        )
    if account.source_account_id is not None and org.kind == "tenant":
        own = (
            session.execute(select(TenantReseller).where(TenantReseller.org_id == org.id))
            .scalars()
            .first()
        )
        if own is not None and own.phase == "customers-copied":
            raise Refused(
                f"account {account.code} was copied from {org.name}'s parent and "
                "the upgrade is not finished: set its pricing options and contacts "
                "now; it can be sold to once `tenantctl upgrade subscriptions` has "
                "run"
            )


def sellable_product(session: Session, org: Organisation, sku: str, unit: str) -> Product:
    """PRODUCT by SKU when it may be sold on its own in UNIT in ORG; refused otherwise."""
    product = get_product(session, org, sku)
    if product.status != "active":
        raise Refused(
            f"product {sku} is {product.status} in {org.name}: it is no longer "
            "sold (existing subscriptions keep running)"
        )
    if product.add_on_of_id is not None:
        parent = session.get(Product, product.add_on_of_id)
        raise Refused(
            f"product {sku} is an add-on of {parent.sku if parent else 'another'}: "
            f"sell it with --add-on {sku}=N on a subscription of that product"
        )
    _check_unit(session, product, unit)
    return product


def sellable_add_on(
    session: Session, org: Organisation, product: Product, sku: str, unit: str
) -> Product:
    """The add-on SKU of PRODUCT when it may be sold in UNIT; refused otherwise."""
    add_on = get_product(session, org, sku)
    if add_on.add_on_of_id != product.id:
        raise Refused(
            f"--add-on: {sku} is not an add-on of {product.sku} (its add-ons: "
            f"{', '.join(_add_on_skus(session, product)) or 'none'})"
        )
    if add_on.status != "active":
        raise Refused(f"--add-on: {sku} is {add_on.status} in {org.name}: it is no longer sold")
    _check_unit(session, add_on, unit, option="--add-on")
    return add_on


def _check_unit(session: Session, product: Product, unit: str, option: str = "--unit") -> None:
    units = unit_statuses(session, product)
    if unit not in units:
        raise Refused(
            f"{option}: {product.sku} is not sold {unit} (its units: "
            f"{', '.join(sorted(units)) or 'none'})"
        )
    if units[unit] != "active":
        raise Refused(f"{option}: {product.sku} {unit} is {units[unit]}: it is no longer sold")


def _add_on_skus(session: Session, product: Product) -> list[str]:
    return list(
        session.execute(
            select(Product.sku).where(Product.add_on_of_id == product.id).order_by(Product.sku)
        ).scalars()
    )


def parse_add_ons(specs: Iterable[str], *, allow_zero: bool = False) -> dict[str, int]:
    """`SKU=N` options -> {sku: quantity}; with ALLOW_ZERO, `SKU=0` removes an add-on."""
    result: dict[str, int] = {}
    least = 0 if allow_zero else 1
    for spec in specs:
        sku, quantity = fields.option(
            "--add-on",
            fields.key_value,
            spec,
            "SKU=N",
            "MS-TEAMS-PHONE=5",
            fields.sku,
            lambda n: fields.quantity(n, least=least),
        )
        if sku in result:
            raise BadInput(f"--add-on: {sku} is given twice")
        result[sku] = quantity
    return result


def _check_quantity(quantity: int | str, option: str = "--quantity") -> int:
    """QUANTITY (as given: a number, or the text of an option) read by the field rule."""
    return fields.option(option, fields.quantity, quantity)


# --- codes --------------------------------------------------------------------------------


def _add_with_code(session: Session, obj, column, prefix: str) -> None:
    """Add OBJ with the next free readable code of its org (`SUB-000123`) and flush it.

    The code is one more than the org's row count, skipping codes already taken; two
    writers that pick the same code at once (PostgreSQL) collide on the unique key, and
    the later one takes the next code.
    """
    model, attr = column.class_, column.key
    for _ in range(_CODE_ATTEMPTS):
        number = (
            session.execute(
                select(func.count(model.id)).where(model.org_id == obj.org_id)
            ).scalar_one()
            + 1
        )
        while session.execute(
            select(model.id).where(model.org_id == obj.org_id, column == f"{prefix}-{number:06d}")
        ).first():
            number += 1
        setattr(obj, attr, f"{prefix}-{number:06d}")
        savepoint = session.begin_nested()
        try:
            session.add(obj)
            session.flush()
        except IntegrityError:
            savepoint.rollback()
            continue
        savepoint.commit()
        return
    raise Conflict(
        f"could not allocate a new {prefix} code: too many writers at once; run the command again"
    )


# --- orders -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    product: Product
    unit: str | None
    quantity: int
    price: Decimal
    currency: str
    # The product's quantity on the subscription after the sale (None: the same as
    # QUANTITY; 0 for a cancellation).
    after: int | None = None


def record_order(session: Session, org: Organisation, *args, **kwargs) -> OrderView:
    """`write_order` (the same arguments), returning the order as the CLI shows it."""
    order = write_order(session, org, *args, **kwargs)
    return _order_views(session, org, SalesOrder.id == order.id)[0]


def write_order(
    session: Session,
    org: Organisation,
    account: Account,
    order_type: str,
    order_date: date,
    lines: list[_Line],
    origin: str | None = None,
    *,
    subscription: Subscription | None = None,
    asset: Asset | None = None,
    event_id: int | None = None,
) -> SalesOrder:
    """Write the order of one executed sale of SUBSCRIPTION or ASSET with its lines (billed
    to the account's bill-to reseller, or to the account itself). Each line records the
    quantity after the sale: the quantity history billing reads. EVENT_ID: the
    back-ordering event a parent's order comes from (a unique key: delivered once)."""
    if order_type not in ORDER_TYPES:
        raise ValueError(f"unknown order type {order_type!r}")
    order = SalesOrder(
        org_id=org.id,
        number="",
        account_id=account.id,
        bill_to_id=account.bill_to_id or account.id,
        order_date=order_date,
        order_type=order_type,
        origin=origin,
        status="completed",
        subscription_id=subscription.id if subscription is not None else None,
        asset_id=asset.id if asset is not None else None,
        backorder_event_id=event_id,
    )
    _add_with_code(session, order, SalesOrder.number, "ORD")
    session.add_all(
        [
            OrderLine(
                order_id=order.id,
                product_id=line.product.id,
                unit=line.unit,
                quantity=line.quantity,
                unit_price=line.price,
                currency=line.currency,
                quantity_after=line.quantity if line.after is None else line.after,
            )
            for line in lines
        ]
    )
    session.flush()
    return order


def _origin(org: Organisation, account: Account, storefront: bool, session: Session) -> str | None:
    if not storefront:
        return None
    tenant = managing_tenant(session, account)
    who = f"reseller {tenant.reseller}" if tenant is not None else f"account {account.code}"
    return f"placed by {who} through the storefront of {org.name}"


# --- subscriptions ------------------------------------------------------------------------


def get_subscription(
    session: Session, org: Organisation, ref: str, *, for_update: bool = False
) -> Subscription:
    """A subscription of ORG by its code, or by its numeric id."""
    stmt = select(Subscription).where(Subscription.org_id == org.id)
    found = (
        session.execute(_locked(stmt.where(Subscription.code == ref), for_update)).scalars().first()
    )
    # A row id is the distributor's: inside a tenant it would tell how many rows other
    # orgs hold, so there a subscription is found by its code only.
    if (
        found is None
        and org.kind == "root"
        and ref.isascii()
        and ref.isdigit()
        and int(ref) < 2**31
    ):
        found = (
            session.execute(_locked(stmt.where(Subscription.id == int(ref)), for_update))
            .scalars()
            .first()
        )
    if found is None:
        raise NotFound(f"subscription {ref} not found in {org.name}")
    return found


def _locked(stmt, for_update: bool):
    return stmt.with_for_update() if for_update else stmt


def create_subscription(
    session: Session,
    org: Organisation,
    account_code: str,
    sku: str,
    *,
    unit: str,
    quantity: int | str,
    trial: bool = False,
    start: date | None = None,
    add_ons: Mapping[str, int] | None = None,
    storefront: bool = False,
) -> SubscriptionResult:
    """Sell SKU in UNIT to an account of ORG, priced from the account's price list.

    A paid subscription makes an order of type `new`, dated on its start date, with a line
    for the product and one per add-on; a trial makes none (until it is turned paid). A
    subscription that starts in the future is inactive until then.
    """
    quantity = _check_quantity(quantity)
    add_ons = dict(add_ons or {})
    for add_on_sku, add_on_quantity in add_ons.items():
        _check_quantity(add_on_quantity, f"--add-on {add_on_sku}")
    account = get_account(session, org, account_code)
    check_can_sell(session, org, account, storefront=storefront)
    product = sellable_product(session, org, sku, unit)
    now = today(org)
    start = start or now
    price = account_price(session, account, product, unit, start)
    extras = [(sellable_add_on(session, org, product, s, unit), q) for s, q in add_ons.items()]
    extra_prices = [account_price(session, account, p, unit, start) for p, _ in extras]
    subscription = Subscription(
        org_id=org.id,
        code="",
        account_id=account.id,
        product_id=product.id,
        unit=unit,
        quantity=quantity,
        unit_price=price.amount,
        currency=price.currency,
        status="inactive" if start > now else "active",
        start_date=start,
        auto_renew=not trial,
        paid=not trial,
        billing_day=account.billing_day,
        characteristics={},
    )
    _add_with_code(session, subscription, Subscription.code, "SUB")
    session.add_all(
        [
            SubscriptionAddon(subscription_id=subscription.id, product_id=p.id, quantity=q)
            for p, q in extras
        ]
    )
    session.flush()
    sales = []
    if not trial:
        lines = [_Line(product, unit, quantity, price.amount, price.currency)]
        lines += [
            _Line(p, unit, q, ep.amount, ep.currency)
            for (p, q), ep in zip(extras, extra_prices, strict=True)
        ]
        sales.append(("new", start, lines))
    return _sold(session, org, account, subscription, storefront, sales)


def update_subscription(
    session: Session,
    org: Organisation,
    ref: str,
    *,
    quantity: int | str | None = None,
    add_ons: Mapping[str, int] | None = None,
    paid: bool = False,
    storefront: bool = False,
) -> SubscriptionResult:
    """Change a subscription's quantity or add-ons (`SKU=0` removes one), or turn a trial
    paid; each executed sale makes its own order dated today.

    On a paid subscription: a quantity or add-on quantity change makes a `change` order
    (lines with the new quantities; 0 for a removed add-on), an added add-on an `add-on`
    order. A trial's changes make no order; turning it paid (`paid`) makes one
    `trial-to-paid` order for what it then holds, priced anew from the account's price
    list. Asking for what the subscription already is changes nothing.
    """
    add_ons = dict(add_ons or {})
    if quantity is None and not add_ons and not paid:
        raise BadInput(
            "subscription update: nothing to change (give --quantity, --add-on or --paid)"
        )
    if quantity is not None:
        quantity = _check_quantity(quantity)
    for add_on_sku, add_on_quantity in add_ons.items():
        if add_on_quantity:
            _check_quantity(add_on_quantity, f"--add-on {add_on_sku}")
    sub = get_subscription(session, org, ref, for_update=True)
    if sub.status == "cancelled":
        raise Refused(f"subscription {sub.code} is cancelled: it cannot be changed")
    account = session.get(Account, sub.account_id)
    check_can_sell(session, org, account, storefront=storefront, command="subscription update")
    product = session.get(Product, sub.product_id)
    current = {
        a.product_id: a
        for a in session.execute(
            select(SubscriptionAddon).where(SubscriptionAddon.subscription_id == sub.id)
        ).scalars()
    }

    # Check everything before writing anything: a refused update changes nothing.
    new_quantity = quantity if quantity is not None and quantity != sub.quantity else None
    if new_quantity is not None and new_quantity > sub.quantity:
        _check_still_sold(session, org, product, sub.unit)
    changed: list[tuple[Product, int]] = []  # add-ons whose quantity changes (0: removed)
    added: list[tuple[Product, int]] = []
    for add_on_sku, add_on_quantity in add_ons.items():
        add_on = get_product(session, org, add_on_sku)
        had = current.get(add_on.id)
        if had is None and add_on_quantity == 0:
            raise NotFound(
                f"--add-on: subscription {sub.code} has no add-on {add_on_sku} to remove"
            )
        if had is not None and had.quantity == add_on_quantity:
            continue
        if had is None or add_on_quantity > had.quantity:
            sellable_add_on(session, org, product, add_on_sku, sub.unit)
        (changed if had is not None else added).append((add_on, add_on_quantity))
    converting = paid and not sub.paid
    if converting:
        _check_still_sold(session, org, product, sub.unit)
    if new_quantity is None and not changed and not added and not converting:
        return SubscriptionResult(subscription_view(session, org, sub), [], changed=False)

    # What the sale costs: a trial's changes are no sale, so they need no price.
    was_trial = not sub.paid
    final = {pid: row.quantity for pid, row in current.items()}
    final.update({p.id: q for p, q in (*changed, *added)})
    final = {pid: q for pid, q in final.items() if q}
    now = today(org)
    prices: dict[int, Decimal] = {}
    if converting:
        main = account_price(session, account, product, sub.unit, now)
        for pid in final:
            prices[pid] = account_price(
                session, account, session.get(Product, pid), sub.unit, now
            ).amount
    elif not was_trial:
        for add_on, q in (*changed, *added):
            had = current.get(add_on.id)
            prices[add_on.id] = _add_on_price(
                session, account, add_on, sub.unit, now, selling=had is None or q > had.quantity
            )

    if new_quantity is not None:
        sub.quantity = new_quantity
    for add_on, q in (*changed, *added):
        row = current.get(add_on.id)
        if row is None:
            session.add(SubscriptionAddon(subscription_id=sub.id, product_id=add_on.id, quantity=q))
        elif q == 0:
            session.delete(row)
        else:
            row.quantity = q
    if converting:
        sub.paid, sub.auto_renew = True, True
        sub.unit_price, sub.currency = main.amount, main.currency
    session.flush()

    sales: list[tuple[str, date, list[_Line]]] = []

    def line(p: Product, q: int, price: Decimal) -> _Line:
        return _Line(p, sub.unit, q, price, sub.currency)

    if converting:
        lines = [line(product, sub.quantity, sub.unit_price)]
        lines += [
            line(session.get(Product, pid), q, prices[pid]) for pid, q in sorted(final.items())
        ]
        sales.append(("trial-to-paid", now, lines))
    elif not was_trial:
        lines = [line(product, sub.quantity, sub.unit_price)] if new_quantity is not None else []
        lines += [line(p, q, prices[p.id]) for p, q in changed]
        if lines:
            sales.append(("change", now, lines))
        if added:
            sales.append(("add-on", now, [line(p, q, prices[p.id]) for p, q in added]))
    return _sold(session, org, account, sub, storefront, sales)


def _sold(
    session: Session,
    org: Organisation,
    account: Account,
    sub: Subscription,
    storefront: bool,
    sales: list[tuple[str, date, list[_Line]]],
) -> SubscriptionResult:
    """Record the executed SALES of SUB (order type, date, lines), each an order and an
    outbox entry for back-ordering to mirror in the parent; SUB and those orders."""
    origin = _origin(org, account, storefront, session) if sales else None
    orders = [
        record_order(session, org, account, order_type, when, lines, origin, subscription=sub)
        for order_type, when, lines in sales
    ]
    for order in orders:
        outbox.record_subscription_sale(
            session, org, sub, order.order_type, order.id, order.order_date
        )
    return SubscriptionResult(subscription_view(session, org, sub), orders)


def _add_on_price(
    session: Session, account: Account, add_on: Product, unit: str, as_of: date, *, selling: bool
) -> Decimal:
    """The price of an add-on line on AS_OF: what the account's price list asks when more
    is sold; for a line that only reduces, the last price that price list had for it (the
    add-on may have left the list since), else 0."""
    if selling:
        return account_price(session, account, add_on, unit, as_of).amount
    price_list = (
        session.get(PriceList, account.price_list_id) if account.price_list_id is not None else None
    )
    if price_list is None:
        return Decimal(0)
    listed = listed_price(session, price_list, add_on, unit, as_of)
    if listed is not None:
        return listed
    last = session.execute(
        select(PriceListItem.price)
        .where(
            PriceListItem.price_list_id == price_list.id,
            PriceListItem.product_id == add_on.id,
            PriceListItem.unit == unit,
            PriceListItem.from_revision <= (revision_in_effect(session, price_list.id, as_of) or 0),
        )
        .order_by(PriceListItem.from_revision.desc())
        .limit(1)
    ).scalar()
    return last if last is not None else Decimal(0)


def _check_still_sold(session: Session, org: Organisation, product: Product, unit: str) -> None:
    """More of a product is a new sale: refused once the product or its unit is
    discontinued (what runs keeps running)."""
    if product.status != "active":
        raise Refused(
            f"product {product.sku} is {product.status} in {org.name}: the "
            "subscription keeps running, but no more of it is sold"
        )
    _check_unit(session, product, unit)


def cancel_subscription(
    session: Session, org: Organisation, ref: str, *, storefront: bool = False
) -> SubscriptionResult:
    """Cancel a subscription; a paid one makes a `cancel` order dated today (one line: the
    product and the quantity cancelled). Cancelling a cancelled one changes nothing."""
    sub = get_subscription(session, org, ref, for_update=True)
    if sub.status == "cancelled":
        return SubscriptionResult(subscription_view(session, org, sub), [], changed=False)
    account = session.get(Account, sub.account_id)
    check_can_sell(
        session, org, account, storefront=storefront, command="subscription cancel", new_sale=False
    )
    sub.status, sub.auto_renew = "cancelled", False
    session.flush()
    sales = []
    if sub.paid:
        product = session.get(Product, sub.product_id)
        line = _Line(product, sub.unit, sub.quantity, sub.unit_price, sub.currency, after=0)
        sales.append(("cancel", today(org), [line]))
    return _sold(session, org, account, sub, storefront, sales)


def set_subscription_billing(
    session: Session,
    org: Organisation,
    ref: str,
    *,
    price: str | None = None,
    billing_day: str | int | None = None,
) -> SubscriptionResult:
    """Amend a subscription's billing: its unit price (what the customer pays) or its
    billing day. Not a sale: no order. On a mirror of a tenant reseller's sale (a
    back-ordering record in the parent) only the billing day may change: its price is the
    reseller's cost, and its quantity, add-ons and status follow the tenant."""
    if price is None and billing_day is None:
        raise BadInput("subscription set: nothing to change (give --price or --billing-day)")
    problems: list[str] = []
    amount = fields.collect(problems, "--price", fields.amount, price) if price else None
    day = (
        fields.collect(problems, "--billing-day", fields.billing_day, billing_day)
        if billing_day is not None
        else None
    )
    if problems:
        raise BadInput("bad options; nothing was changed", problems)
    sub = get_subscription(session, org, ref, for_update=True)
    tenant = managing_tenant(session, session.get(Account, sub.account_id))
    if amount is not None and tenant is not None:
        raise Refused(
            f"subscription {sub.code} is a back-ordering record of tenant reseller "
            f"{tenant.reseller}: its price is the reseller's cost from its price "
            "list; here only its billing day may change"
        )
    changed = False
    if amount is not None and amount != sub.unit_price:
        sub.unit_price, changed = amount, True
    if day is not None and day != sub.billing_day:
        sub.billing_day, changed = day, True
    session.flush()
    return SubscriptionResult(subscription_view(session, org, sub), [], changed=changed)


def list_subscriptions(
    session: Session, org: Organisation, account: str | None = None
) -> list[SubscriptionView]:
    """The subscriptions of ORG (or of one of its accounts), ordered by code."""
    where = _of_account(session, org, Subscription.account_id, account)
    return _subscription_views(session, org, *where)


def _of_account(session: Session, org: Organisation, column, account: str | None) -> list:
    """The condition that COLUMN is the account with code ACCOUNT (none when it is None)."""
    return [] if account is None else [column == get_account(session, org, account).id]


def subscription_detail(session: Session, org: Organisation, ref: str) -> SubscriptionView:
    """One subscription of ORG by code or id."""
    return subscription_view(session, org, get_subscription(session, org, ref))


def subscription_view(session: Session, org: Organisation, sub: Subscription) -> SubscriptionView:
    return _subscription_views(session, org, Subscription.id == sub.id)[0]


def _sale_rows(session: Session, org: Organisation, model, *where) -> list:
    """ORG's MODEL rows (subscriptions or assets) that meet WHERE, by code, each with its
    account's code, that account's bill-to's code (None: billed itself), and its product's
    SKU and name."""
    bill_to = aliased(Account)
    return session.execute(
        select(model, Account.code, bill_to.code, Product.sku, Product.name)
        .join(Account, Account.id == model.account_id)
        .outerjoin(bill_to, bill_to.id == Account.bill_to_id)
        .join(Product, Product.id == model.product_id)
        .where(model.org_id == org.id, *where)
        .order_by(model.code)
    ).all()


def _subscription_views(session: Session, org: Organisation, *where) -> list[SubscriptionView]:
    rows = _sale_rows(session, org, Subscription, *where)
    add_ons: dict[int, list[AddOnView]] = {}
    for sid, sku, name, quantity in session.execute(
        select(
            SubscriptionAddon.subscription_id, Product.sku, Product.name, SubscriptionAddon.quantity
        )
        .join(Subscription, Subscription.id == SubscriptionAddon.subscription_id)
        .join(Product, Product.id == SubscriptionAddon.product_id)
        .where(Subscription.org_id == org.id, *where)
        .order_by(SubscriptionAddon.subscription_id, Product.sku)
    ):
        add_ons.setdefault(sid, []).append(AddOnView(sku, name, quantity))
    return [
        SubscriptionView(
            id=s.id,
            code=s.code,
            account=account,
            bill_to=bill,
            sku=sku,
            product=name,
            unit=s.unit,
            quantity=s.quantity,
            price=s.unit_price,
            currency=s.currency,
            status=s.status,
            start_date=s.start_date,
            auto_renew=s.auto_renew,
            paid=s.paid,
            billing_day=s.billing_day,
            add_ons=add_ons.get(s.id, []),
            characteristics=s.characteristics or {},
        )
        for s, account, bill, sku, name in rows
    ]


# --- assets -------------------------------------------------------------------------------


def create_asset(
    session: Session,
    org: Organisation,
    account_code: str,
    sku: str,
    *,
    kind: str,
    quantity: int | str,
    purchase_date: date | None = None,
    unit: str | None = None,
    storefront: bool = False,
) -> AssetResult:
    """Record the sale of an asset (a software subscription or an Azure reservation) to an
    account of ORG, with an order of type `new` priced from the account's price list."""
    fields.option("--kind", fields.choice, kind, fields.ASSET_KINDS)
    quantity = _check_quantity(quantity)
    account = get_account(session, org, account_code)
    check_can_sell(session, org, account, storefront=storefront, command="asset create")
    product = get_product(session, org, sku)
    if product.product_type != kind:
        raise Refused(
            f"product {sku} is of type {product.product_type}, not {kind} (an "
            "asset is a product of type software-subscription or "
            "azure-reservation; sell other products with tenantctl subscription "
            "create)"
        )
    if unit is None:
        units = sorted(
            session.execute(
                select(ProductUnit.unit).where(
                    ProductUnit.product_id == product.id, ProductUnit.status == "active"
                )
            ).scalars()
        )
        if len(units) != 1:
            raise BadInput(
                f"--unit: {sku} is sold in {', '.join(units) or 'no unit'}: choose one with --unit"
            )
        unit = units[0]
    product = sellable_product(session, org, sku, unit)
    purchase_date = purchase_date or today(org)
    price = account_price(session, account, product, unit, purchase_date)
    asset = Asset(
        org_id=org.id,
        code="",
        account_id=account.id,
        product_id=product.id,
        kind=kind,
        quantity=quantity,
        purchase_date=purchase_date,
        status="active",
        characteristics={},
    )
    _add_with_code(session, asset, Asset.code, "AST")
    order = record_order(
        session,
        org,
        account,
        "new",
        purchase_date,
        [_Line(product, unit, quantity, price.amount, price.currency)],
        _origin(org, account, storefront, session),
        asset=asset,
    )
    outbox.record_asset_sale(session, org, asset, order.id)
    return AssetResult(_asset_views(session, org, Asset.id == asset.id)[0], [order])


def list_assets(session: Session, org: Organisation, account: str | None = None) -> list[AssetView]:
    """The assets of ORG (or of one of its accounts), ordered by code."""
    where = _of_account(session, org, Asset.account_id, account)
    return _asset_views(session, org, *where)


def _asset_views(session: Session, org: Organisation, *where) -> list[AssetView]:
    rows = _sale_rows(session, org, Asset, *where)
    return [
        AssetView(
            a.id,
            a.code,
            account,
            bill,
            sku,
            name,
            a.kind,
            a.quantity,
            a.purchase_date,
            a.status,
            a.characteristics or {},
        )
        for a, account, bill, sku, name in rows
    ]


# --- orders -------------------------------------------------------------------------------


def list_orders(session: Session, org: Organisation, account: str | None = None) -> list[OrderView]:
    """The orders of ORG (or of one of its accounts) with their lines, oldest first."""
    where = _of_account(session, org, SalesOrder.account_id, account)
    return _order_views(session, org, *where)


def _order_views(session: Session, org: Organisation, *where) -> list[OrderView]:
    bill_to = aliased(Account)
    rows = session.execute(
        select(SalesOrder, Account.code, bill_to.code)
        .join(Account, Account.id == SalesOrder.account_id)
        .outerjoin(bill_to, bill_to.id == SalesOrder.bill_to_id)
        .where(SalesOrder.org_id == org.id, *where)
        .order_by(SalesOrder.id)
    ).all()
    lines: dict[int, list[OrderLineView]] = {}
    for oid, sku, name, unit, quantity, price, currency in session.execute(
        select(
            OrderLine.order_id,
            Product.sku,
            Product.name,
            OrderLine.unit,
            OrderLine.quantity,
            OrderLine.unit_price,
            OrderLine.currency,
        )
        .join(SalesOrder, SalesOrder.id == OrderLine.order_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(SalesOrder.org_id == org.id, *where)
        .order_by(OrderLine.order_id, OrderLine.id)
    ):
        lines.setdefault(oid, []).append(OrderLineView(sku, name, unit, quantity, price, currency))
    views = []
    for order, account, bill in rows:
        its = lines.get(order.id, [])
        currencies = {line.currency for line in its}
        total = sum((line.price * line.quantity for line in its), Decimal(0))
        views.append(
            OrderView(
                order.id,
                order.number,
                account,
                bill,
                order.order_date,
                order.order_type,
                order.origin,
                order.status,
                currencies.pop() if len(currencies) == 1 else None,
                total,
                its,
            )
        )
    return views
