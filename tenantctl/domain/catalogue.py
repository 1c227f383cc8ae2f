"""The distributor's catalogue: products, price lists and their revisions.

A price-list import is the whole new version of the list: what is missing from it is
discontinued (its item ends at the new revision), never deleted. Only the differences are
written, so every revision stays readable and a diff between two revisions is cheap.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import Integer, case, cast, func, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session

from tenantctl import config, jobs
from tenantctl.domain import fields
from tenantctl.domain.orgs import get_price_list
from tenantctl.domain.schedule import product_changes_due
from tenantctl.errors import BadInput, NotFound, Refused
from tenantctl.money import check_currency
from tenantctl.store.bulk import analyze, chunks, insert_rows
from tenantctl.store.engine import advisory_lock, write_session
from tenantctl.store.models import (
    Organisation,
    PriceList,
    PriceListItem,
    PriceListRevision,
    Product,
    ProductChange,
    ProductUnit,
    utcnow,
)
from tenantctl.words import plural

REQUIRED_COLUMNS = ("sku", "name", "platform", "unit", "price")
OPTIONAL_COLUMNS = ("add_on_of", "type")
CATALOGUE_LOCK = 1  # advisory-lock scope of an org's catalogue imports

Key = tuple[str, str]  # (sku, unit)


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One line of a price list: a product sold in one unit at one price."""

    sku: str
    name: str
    platform: str
    unit: str
    price: Decimal
    add_on_of: str | None = None
    product_type: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class ItemChange:
    sku: str
    unit: str
    name: str
    old_price: Decimal | None
    new_price: Decimal | None


@dataclass
class PriceListDiff:
    """What changed between two versions of a price list."""

    added: list[ItemChange] = field(default_factory=list)
    changed: list[ItemChange] = field(default_factory=list)
    discontinued: list[ItemChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.discontinued)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "discontinued": len(self.discontinued),
        }


@dataclass(frozen=True, slots=True)
class ListedItem:
    sku: str
    name: str
    platform: str
    unit: str
    price: Decimal
    product_id: int


@dataclass
class ImportResult:
    price_list: str
    currency: str
    created: bool
    dry_run: bool
    previous_revision: int | None
    revision: int | None
    item_count: int
    products_created: int
    units_created: int
    products_renamed: int
    diff: PriceListDiff


@dataclass(frozen=True)
class PriceListSummary:
    name: str
    currency: str
    revision: int | None
    item_count: int
    created_at: object
    revisions: list[dict] = field(default_factory=list)


def diff_items(
    old: Mapping[Key, ListedItem], new: Mapping[Key, ListedItem | PriceRow]
) -> PriceListDiff:
    """Added, price-changed and discontinued items between two versions (by SKU and unit)."""
    diff = PriceListDiff()
    # One sorted walk over each side (no key sets: at 50k items they cost more than the
    # diff itself).
    for key in sorted(new):
        after, before = new[key], old.get(key)
        if before is None:
            diff.added.append(ItemChange(key[0], key[1], after.name, None, after.price))
        elif before.price != after.price:
            diff.changed.append(ItemChange(key[0], key[1], after.name, before.price, after.price))
    for key in sorted(old):
        if key not in new:
            item = old[key]
            diff.discontinued.append(ItemChange(key[0], key[1], item.name, item.price, None))
    return diff


# --- reading a price-list CSV ------------------------------------------------------------


def read_price_csv(path: Path) -> list[PriceRow]:
    """Read and check a price-list CSV; every problem names the file, line and field.

    The file is decoded as it is read (the whole text is never held: a 50k-item list
    would cost its size four times over in a StringIO).
    """
    label = str(path)
    try:
        with path.open("rb") as handle:
            text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
            try:
                return _check_price_csv(csv.DictReader(text), label)
            except UnicodeDecodeError:
                # Read again whole to name the line of the first byte that is not UTF-8.
                fields.decode_utf8(path.read_bytes(), label)
                raise
    except OSError as exc:
        raise BadInput(f"{label}: cannot read the file ({exc.strerror})") from None


def _check_price_csv(reader: csv.DictReader, label: str) -> list[PriceRow]:
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise BadInput(f"{label}:1: not a CSV file ({exc})") from None
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise BadInput(
            f"{label}:1: header: {'column' if len(twice) == 1 else 'columns'} "
            f"{', '.join(twice)} given twice (each column once)"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise BadInput(
            f"{label}:1: header: missing {'column' if len(missing) == 1 else 'columns'} "
            f"{', '.join(missing)} "
            f"(needs {', '.join(REQUIRED_COLUMNS)}; optional "
            f"{', '.join(OPTIONAL_COLUMNS)})"
        )
    reader.fieldnames = header

    def records():
        """(line, record) as they are read: the checks hold no list of the raw records."""
        try:
            first_line = reader.line_num + 1
            for record in reader:
                # A quoted value may span lines: name the line the record starts on.
                yield first_line, record
                first_line = reader.line_num + 1
        except csv.Error as exc:
            raise BadInput(f"{label}:{reader.line_num}: not valid CSV ({exc})") from None

    return check_price_rows(records(), label)


@dataclass(frozen=True)
class _Refusal:
    """Why a value was refused (kept to refuse the same text on a later line alike)."""

    reason: str


def check_price_rows(raw: Iterable[tuple[int, Mapping[str, object]]], label: str) -> list[PriceRow]:
    """Turn raw records (line, fields) into PriceRows, or raise BadInput listing every problem."""
    platforms = config.platforms()
    units = config.units()
    problems: list[str] = []
    rows: list[PriceRow] = []
    seen: dict[Key, int] = {}
    product_lines: dict[str, tuple[int, tuple]] = {}

    def bad(line: int, fld: str, msg: str) -> None:
        problems.append(f"{label}:{line}: {fld}: {msg}")

    sku_length = fields.length(Product, "sku")
    name_length = fields.length(Product, "name")
    type_length = fields.length(Product, "product_type")
    checks = {  # column -> how it is read (an empty optional column is None)
        "sku": lambda v: fields.sku(v, sku_length),
        "name": lambda v: fields.text(v, name_length),
        "type": lambda v: fields.text(v, type_length, required=False) or None,
        "add_on_of": lambda v: fields.sku(v, sku_length) if v.strip() else None,
        "platform": lambda v: fields.choice(v, platforms),
        "unit": lambda v: fields.choice(v, units),
        "price": fields.amount,
    }
    # A column's value is read once per distinct text (a price list repeats its platforms,
    # units, types, SKUs and names on many lines): the reading, or the refusal, is kept.
    readers = [(column, check, {}) for column, check in checks.items()]
    for line, record in raw:
        if None in record:
            bad(line, "columns", "more values than the header has columns")
            continue
        values = []
        for column, check, known in readers:
            raw_value = record.get(column)
            raw_value = "" if raw_value is None else raw_value
            # Text only is kept (1 == 1.0 == True as keys would share one reading).
            is_text = raw_value.__class__ is str
            value = known.get(raw_value, _Refusal) if is_text else _Refusal
            if value is _Refusal:  # not read yet
                try:
                    value = check(raw_value)
                except ValueError as exc:
                    value = _Refusal(str(exc))
                if is_text:
                    known[raw_value] = value
            if value.__class__ is _Refusal:
                bad(line, column, value.reason)
            values.append(value)
        if problems and any(v.__class__ is _Refusal for v in values):  # this row refused
            continue
        sku, name, product_type, add_on_of, platform, unit, price = values
        key = (sku, unit)
        if key in seen:
            bad(line, "sku", f"{sku} / {unit} is listed twice (first on line {seen[key]})")
            continue
        seen[key] = line
        shape = (name, platform, add_on_of, product_type)
        first = product_lines.setdefault(sku, (line, shape))
        if first[1] != shape:
            bad(
                line,
                "name",
                f"{sku} is described differently than on line {first[0]} "
                "(name, platform, add_on_of and type must agree)",
            )
            continue
        rows.append(PriceRow(sku, name, platform, unit, price, add_on_of, product_type, line))
    if add_on_problems := _check_add_on_refs(rows, label):
        problems.extend(add_on_problems)
    if problems:
        raise BadInput(
            f"{label}: {plural(len(problems), 'problem')}; nothing was imported", problems
        )
    return rows


def _check_add_on_refs(rows: list[PriceRow], label: str) -> list[str]:
    """Every add_on_of names another SKU of the file, and no chain of them loops."""
    parents = {r.sku: r.add_on_of for r in rows}
    problems, reported = [], set()
    for r in rows:
        if r.sku in reported or not r.add_on_of:
            continue
        if r.add_on_of not in parents or r.add_on_of == r.sku:
            problems.append(
                f"{label}:{r.line}: add_on_of: "
                + (
                    "a product cannot be an add-on of itself"
                    if r.add_on_of == r.sku
                    else f"{r.add_on_of!r} is not a SKU of this file"
                )
            )
            reported.add(r.sku)
            continue
        seen, current = [r.sku], r.add_on_of
        while current is not None and current not in seen:
            seen.append(current)
            current = parents.get(current)
        if current == r.sku:
            problems.append(
                f"{label}:{r.line}: add_on_of: {r.sku} would be an add-on of "
                f"itself through {' -> '.join(seen[1:])}"
            )
            reported.add(r.sku)
    return problems


# --- the store --------------------------------------------------------------------------


def listed_items(
    session: Session, price_list_id: int, revision: int | None = None
) -> dict[Key, ListedItem]:
    """The items of a price list at REVISION (default: the items still listed)."""
    stmt = (
        select(
            Product.sku,
            Product.name,
            Product.platform,
            PriceListItem.unit,
            PriceListItem.price,
            PriceListItem.product_id,
        )
        .join(Product, Product.id == PriceListItem.product_id)
        .where(PriceListItem.price_list_id == price_list_id)
    )
    if revision is None:
        stmt = stmt.where(PriceListItem.to_revision.is_(None))
    else:
        stmt = stmt.where(
            PriceListItem.from_revision <= revision,
            or_(PriceListItem.to_revision.is_(None), PriceListItem.to_revision > revision),
        )
    return {(r.sku, r.unit): ListedItem(*r) for r in session.execute(stmt)}


def latest_revision(session: Session, price_list_id: int) -> int | None:
    return session.execute(
        select(func.max(PriceListRevision.number)).where(
            PriceListRevision.price_list_id == price_list_id
        )
    ).scalar()


class _Stored(NamedTuple):
    id: int
    sku: str
    name: str
    platform: str
    add_on_of_id: int | None
    source_product_id: int | None


def ensure_products(
    session: Session,
    org: Organisation,
    rows: Iterable[PriceRow],
    label: str = "price list",
    *,
    scheduled: list[dict] | None = None,
) -> tuple[dict[str, int], int, int, int]:
    """Create the products and units of ROWS missing in ORG; keep names and add-ons in step.

    Returns (sku -> product id, products created, units created, products renamed). A SKU
    that exists on another platform is bad input: a SKU's platform never changes. A product
    ORG inherited from its parent changes (name, add-on, units, prices) only as the product
    policy allows. The statements name the ORM entities, so a tenant's session stays
    org-scoped. With SCHEDULED (a revision that takes effect
    later) the names and add-on relations of existing products are not changed: each
    product whose name or add-on relation differs from what it will have then is appended
    to it (product id, name, add-on parent id), for `schedule_product_changes`.
    """
    rows = list(rows)
    by_sku: dict[str, PriceRow] = {}
    for row in rows:
        by_sku.setdefault(row.sku, row)
    existing = {
        r.sku: r
        for r in session.execute(
            select(
                Product.id,
                Product.sku,
                Product.name,
                Product.platform,
                Product.add_on_of_id,
                Product.source_product_id,
            ).where(Product.org_id == org.id)
        )
    }
    if scheduled is not None:
        # Compared with what the products will hold once the changes already scheduled
        # have taken effect (revisions take effect in order).
        pending = _pending_changes(session, org.id)
        existing = {
            sku: _Stored(
                r.id, r.sku, pending[r.id][0], r.platform, pending[r.id][1], r.source_product_id
            )
            if r.id in pending
            else r
            for sku, r in existing.items()
        }
    problems = [
        f"{label}:{r.line}: platform: {r.sku} is a {existing[r.sku].platform} product, "
        f"not {r.platform}"
        for r in by_sku.values()
        if r.sku in existing and existing[r.sku].platform != r.platform
    ]
    if problems:
        raise BadInput(f"{label}: a SKU's platform cannot change; nothing was imported", problems)

    now = utcnow()
    # The rows to insert are made as they are written (a list of dicts would cost several
    # times the list's own size).
    new_products = [r for sku, r in by_sku.items() if sku not in existing]
    insert_rows(
        session,
        Product.__table__,
        (
            {
                "org_id": org.id,
                "sku": r.sku,
                "name": r.name,
                "platform": r.platform,
                "product_type": r.product_type or "service",
                "status": "active",
                "visible": True,
                "created_at": now,
            }
            for r in new_products
        ),
    )
    renamed = [
        {"id": existing[sku].id, "name": r.name}
        for sku, r in by_sku.items()
        if sku in existing and existing[sku].name != r.name
    ]
    ids = dict(
        session.execute(select(Product.sku, Product.id).where(Product.org_id == org.id)).all()
    )
    add_ons = [
        {"id": ids[sku], "add_on_of_id": ids[r.add_on_of] if r.add_on_of else None}
        for sku, r in by_sku.items()
        if (existing[sku].add_on_of_id if sku in existing else None)
        != (ids[r.add_on_of] if r.add_on_of else None)
    ]
    product_ids = [ids[sku] for sku in by_sku]
    have = set()
    for chunk in chunks(product_ids):
        have.update(
            tuple(row)
            for row in session.execute(
                select(ProductUnit.product_id, ProductUnit.unit).where(
                    ProductUnit.product_id.in_(chunk)
                )
            )
        )
    new_units: list[tuple[int, str]] = []  # (product id, unit)
    for r in rows:
        key = (ids[r.sku], r.unit)
        if key not in have:
            have.add(key)
            new_units.append(key)
    del have
    inherited = {r.id for r in existing.values() if r.source_product_id is not None}
    if inherited:
        _check_policy(rows, existing, inherited, renamed, add_ons, new_units, label)
    renamed_count = len(renamed)
    if scheduled is not None:
        # A new product takes its add-on relation now (nothing listed it before); an
        # existing one keeps its name and relation until the revision takes effect.
        old_ids = {existing[sku].id for sku in by_sku if sku in existing}
        moved = {a["id"] for a in (*renamed, *add_ons) if a["id"] in old_ids}
        renamed = []
        add_ons = [a for a in add_ons if a["id"] not in old_ids]
        scheduled.extend(
            {
                "product_id": ids[sku],
                "name": r.name,
                "add_on_of_id": ids[r.add_on_of] if r.add_on_of else None,
            }
            for sku, r in by_sku.items()
            if ids[sku] in moved
        )
    for column, changes in (("name", renamed), ("add_on_of_id", add_ons)):
        _set_by_id(session, column, changes)
    insert_rows(
        session,
        ProductUnit.__table__,
        (
            {"org_id": org.id, "product_id": product_id, "unit": unit, "status": "active"}
            for product_id, unit in new_units
        ),
    )
    return ids, len(new_products), len(new_units), renamed_count


def _set_by_id(session: Session, column: str, changes: list[dict]) -> None:
    """Set COLUMN of the products in CHANGES ({"id", COLUMN}) to each one's value: one
    UPDATE ... CASE per batch, naming the ORM entity so a tenant's session stays scoped."""
    for chunk in chunks(changes):
        value = case({c["id"]: c[column] for c in chunk}, value=Product.id)
        if column == "add_on_of_id":
            value = cast(value, Integer)  # a CASE of NULLs only must still be an integer
        session.execute(
            update(Product)
            .where(Product.id.in_([c["id"] for c in chunk]))
            .values({column: value})
            .execution_options(synchronize_session=False)
        )


def _check_policy(
    rows: list[PriceRow],
    existing: Mapping[str, object],
    inherited: set[int],
    renamed: list[dict],
    add_ons: list[dict],
    new_units: list[tuple[int, str]],
    label: str,
) -> None:
    """Refuse (naming each line) what the product policy forbids on inherited products."""
    from tenantctl.domain.policy import policy_refusal

    sku_of = {r.id: sku for sku, r in existing.items()}
    line_of: dict[tuple[str, str | None], int | None] = {}
    for r in rows:
        line_of.setdefault((r.sku, None), r.line)
        line_of.setdefault((r.sku, r.unit), r.line)
    asked: list[tuple[int | None, str, str, str]] = []  # (line, column, sku, rule)
    for change in renamed:
        if change["id"] in inherited:
            sku = sku_of[change["id"]]
            asked.append((line_of[(sku, None)], "name", sku, "name"))
    for change in add_ons:
        if change["id"] in inherited:
            sku = sku_of[change["id"]]
            asked.append((line_of[(sku, None)], "add_on_of", sku, "add_on_of"))
    for product_id, unit in new_units:
        if product_id in inherited:
            sku = sku_of[product_id]
            asked.append((line_of[(sku, unit)], "unit", sku, "units"))
    for r in rows:
        if r.sku in existing and existing[r.sku].id in inherited:
            asked.append((r.line, "price", r.sku, "sell_price"))
    problems = []
    for line, column, sku, rule in sorted(asked, key=lambda a: (a[0] or 0, a[1])):
        refusal = policy_refusal(sku, rule)
        if refusal is not None:
            problems.append(f"{label}:{line}: {column}: {refusal}")
    if problems:
        shown = problems[:20]
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise Refused(
            f"{label}: {plural(len(problems), 'change')} to inherited products refused; nothing "
            "was imported\n  " + "\n  ".join(shown) + more
        )


def record_revision(
    session: Session,
    price_list: PriceList,
    items: Mapping[Key, PriceRow],
    product_ids: Mapping[str, int],
    *,
    source: str | None = None,
    effective: date | None = None,
    force: bool = False,
) -> tuple[int | None, int | None, PriceListDiff]:
    """Write ITEMS as the next revision of PRICE_LIST, storing only the differences.

    Returns (previous revision, new revision or None when nothing changed, diff). FORCE
    makes a revision even when no item changed (it carries other scheduled changes).
    """
    previous = latest_revision(session, price_list.id)
    current = listed_items(session, price_list.id)
    diff = diff_items(current, items)
    if previous is not None and diff.empty and not force:
        return previous, None, diff
    number = (previous or 0) + 1
    session.add(
        PriceListRevision(
            price_list_id=price_list.id,
            number=number,
            source=source,
            item_count=len(items),
            effective_date=effective,
        )
    )
    session.flush()
    ending = {
        (current[(c.sku, c.unit)].product_id, c.unit) for c in (*diff.changed, *diff.discontinued)
    }
    if ending:
        open_items = session.execute(
            select(PriceListItem.id, PriceListItem.product_id, PriceListItem.unit).where(
                PriceListItem.price_list_id == price_list.id, PriceListItem.to_revision.is_(None)
            )
        )
        ended = [r.id for r in open_items if (r.product_id, r.unit) in ending]
        for chunk in chunks(ended):
            # One set-based UPDATE per batch; it names the ORM entity, so a tenant's
            # session stays org-scoped.
            session.execute(
                update(PriceListItem)
                .where(PriceListItem.id.in_(chunk))
                .values(to_revision=number)
                .execution_options(synchronize_session=False)
            )
    starting = (  # written as they are made
        {
            "price_list_id": price_list.id,
            "product_id": product_ids[c.sku],
            "unit": c.unit,
            "price": c.new_price,
            "from_revision": number,
        }
        for c in itertools.chain(diff.added, diff.changed)
    )
    insert_rows(session, PriceListItem.__table__, starting)
    return previous, number, diff


def _pending_changes(session: Session, org_id: int) -> dict[int, tuple[str, int | None]]:
    """Product id -> (name, add-on parent id) it will hold once every change scheduled
    for it has taken effect (the later ones win)."""
    change = ProductChange
    rows = session.execute(
        select(change.product_id, change.name, change.add_on_of_id)
        .where(change.org_id == org_id, change.applied_at.is_(None))
        .order_by(change.effective_date, change.revision_id, change.id)
    )
    return {r.product_id: (r.name, r.add_on_of_id) for r in rows}


def schedule_product_changes(
    session: Session, price_list: PriceList, revision: int, effective: date, changes: list[dict]
) -> None:
    """Keep CHANGES (from `ensure_products`) with REVISION of PRICE_LIST, to be applied to
    the products on EFFECTIVE, the day the revision takes effect."""
    revision_id = session.execute(
        select(PriceListRevision.id).where(
            PriceListRevision.price_list_id == price_list.id, PriceListRevision.number == revision
        )
    ).scalar_one()
    insert_rows(
        session,
        ProductChange.__table__,
        [
            {
                "org_id": price_list.org_id,
                "revision_id": revision_id,
                "effective_date": effective,
                **c,
            }
            for c in changes
        ],
    )


def apply_product_changes(session: Session, today: date) -> int:
    """Apply to their products the names and add-on relations of scheduled revisions that
    have taken effect by TODAY (oldest first); returns how many were applied. The
    statements name the ORM entities: in a tenant's session only its own are applied."""
    due = session.execute(
        select(ProductChange.id, ProductChange.product_id, ProductChange.name,
               ProductChange.add_on_of_id)
        .where(ProductChange.applied_at.is_(None), ProductChange.effective_date <= today)
        .order_by(ProductChange.effective_date, ProductChange.revision_id, ProductChange.id)
    ).all()  # fmt: skip
    if not due:
        return 0
    latest = {r.product_id: r for r in due}  # the later ones win
    for column in ("name", "add_on_of_id"):
        _set_by_id(
            session, column, [{"id": pid, column: getattr(r, column)} for pid, r in latest.items()]
        )
    now = utcnow()
    for chunk in chunks([r.id for r in due]):
        session.execute(
            update(ProductChange)
            .where(ProductChange.id.in_(chunk))
            .values(applied_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(due)


def apply_due_product_changes(engine, today: date | None = None) -> int:
    """`apply_product_changes` in a transaction of its own, taken only when a change is
    due (the first command on or after a revision's date applies it; so does a worker)."""
    today = today or date.today()
    if not product_changes_due(engine, today):
        return 0
    with write_session(engine) as session:
        return apply_product_changes(session, today)


# A worker applies them on its rounds too, so a scheduled revision's names and add-on
# relations are in place when the tenant updates it runs that day read them.
jobs.register_sweeper("scheduled product changes", apply_due_product_changes)


def import_price_list(
    session: Session,
    org: Organisation,
    name: str,
    rows: list[PriceRow],
    *,
    currency: str | None = None,
    source: str | None = None,
    dry_run: bool = False,
    effective: date | None = None,
) -> ImportResult:
    """Make ROWS the new version of price list NAME (created when new; then CURRENCY is needed).

    Products missing in the org are created; items missing from ROWS are discontinued.
    With DRY_RUN nothing is written and the diff is the one an import would make.
    """
    label = source or "price list"
    # Two imports at once (cron) would race on new products and lists: one at a time per org.
    advisory_lock(session, CATALOGUE_LOCK, org.id)
    apply_product_changes(session, date.today())
    fields.option("NAME", fields.text, name, fields.length(PriceList, "name"))
    if currency is not None:
        try:
            currency = check_currency(currency)
        except ValueError as exc:
            raise BadInput(f"--currency: {exc}") from None
    try:
        price_list = get_price_list(session, org, name, for_update=True)
        created = False
    except NotFound:
        if currency is None:
            raise BadInput(
                f"--currency: price list {name!r} is new, so its currency is required"
            ) from None
        price_list = PriceList(org_id=org.id, name=name, currency=currency)
        created = True
    if currency is not None and currency != price_list.currency:
        raise BadInput(
            f"--currency: price list {name!r} is in {price_list.currency}, not {currency}"
        )
    if not rows:
        raise BadInput(
            f"{label}: the file lists no items; a price list cannot be emptied by an import"
        )
    if not created:
        scheduled = session.execute(
            select(func.max(PriceListRevision.effective_date)).where(
                PriceListRevision.price_list_id == price_list.id
            )
        ).scalar()
        if scheduled is not None and (effective or date.today()) < scheduled:
            when = effective or "today (no --effective)"
            raise BadInput(
                f"--effective: {when} is before {scheduled}, when an earlier "
                "revision takes effect; revisions take effect in order"
            )
    # A revision that takes effect later changes names and add-on relations on its date.
    scheduled = [] if effective is not None and effective > date.today() else None
    # A dry run does the whole import inside a savepoint and rolls it back, so it reports
    # (and refuses) exactly what the real import would.
    savepoint = session.begin_nested()
    try:
        ids, products_created, units_created, renamed = ensure_products(
            session, org, rows, label, scheduled=scheduled
        )
        if created:
            session.add(price_list)
            session.flush()
        # Made only now: the products' and units' own lists are gone (a lower peak).
        items = {(r.sku, r.unit): r for r in rows}
        previous, revision, diff = record_revision(
            session,
            price_list,
            items,
            ids,
            source=source,
            effective=effective,
            force=bool(scheduled),
        )
        if scheduled and revision is not None:
            schedule_product_changes(session, price_list, revision, effective, scheduled)
    except BaseException:
        savepoint.rollback()
        raise
    if dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
        if revision is not None:
            # A tenant update run right after the import plans for the rows it wrote (51,618 items,
            # 1% diff: 4.8 s -> 2.9 s on PostgreSQL).
            analyze(session, "product", "product_unit", "price_list_item")
    return ImportResult(
        name,
        price_list.currency,
        created,
        dry_run,
        previous,
        revision,
        len(items),
        products_created,
        units_created,
        renamed,
        diff,
    )


def revision_diff(
    session: Session, org: Organisation, name: str, old: int, new: int
) -> PriceListDiff:
    """The differences between two revisions of price list NAME."""
    price_list = get_price_list(session, org, name)
    last = latest_revision(session, price_list.id) or 0
    for number in (old, new):
        if not 1 <= number <= last:
            raise NotFound(f"price list {name!r} has no revision {number} (it has 1 to {last})")
    return diff_items(
        listed_items(session, price_list.id, old), listed_items(session, price_list.id, new)
    )


def price_list_items(
    session: Session, org: Organisation, name: str, revision: int | None = None
) -> tuple[PriceListSummary, list[ListedItem]]:
    """A price list and its items at REVISION (default: the latest)."""
    price_list = get_price_list(session, org, name)
    last = latest_revision(session, price_list.id)
    if revision is not None and not (last and 1 <= revision <= last):
        raise NotFound(f"price list {name!r} has no revision {revision} (it has 1 to {last or 0})")
    items = listed_items(session, price_list.id, revision or last or 0)
    summary = _summary(session, price_list, last, with_revisions=True)
    ordered = [items[k] for k in sorted(items)]
    return summary, ordered


def list_price_lists(session: Session, org: Organisation) -> list[PriceListSummary]:
    """Every price list of ORG with its latest revision and item count."""
    lists = (
        session.execute(
            select(PriceList).where(PriceList.org_id == org.id).order_by(PriceList.name)
        )
        .scalars()
        .all()
    )
    return [_summary(session, pl, latest_revision(session, pl.id)) for pl in lists]


def _summary(
    session: Session, price_list: PriceList, last: int | None, *, with_revisions: bool = False
) -> PriceListSummary:
    rev, item = PriceListRevision, PriceListItem
    revisions = []
    count = 0
    # Counted from the items themselves: a revision records what changed, and a revision
    # made by a tenant update or at tenant creation has no item count of its own.
    listed = func.count(item.id)
    rows = session.execute(
        select(rev.number, listed.label("items"), rev.source, rev.effective_date, rev.created_at)
        .outerjoin(
            item,
            (item.price_list_id == rev.price_list_id)
            & (item.from_revision <= rev.number)
            & (item.to_revision.is_(None) | (item.to_revision > rev.number)),
        )
        .where(rev.price_list_id == price_list.id)
        .group_by(rev.id, rev.number, rev.source, rev.effective_date, rev.created_at)
        .order_by(rev.number)
    ).all()
    for r in rows:
        if r.number == last:
            count = r.items
        if with_revisions:
            revisions.append(
                {
                    "revision": r.number,
                    "items": r.items,
                    "source": r.source,
                    "effective_date": r.effective_date,
                    "created_at": r.created_at,
                }
            )
    return PriceListSummary(
        price_list.name, price_list.currency, last, count, price_list.created_at, revisions
    )


# --- products ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _ProductBasics:
    """What a product's list row and its detail both begin with (in this order: the order
    of the JSON keys)."""

    sku: str
    name: str
    platform: str
    type: str
    status: str
    add_on_of: str | None


@dataclass(frozen=True)
class ProductView(_ProductBasics):
    units: list[str]
    source_sku: str | None = None


@dataclass(frozen=True)
class UnitView:
    unit: str
    status: str
    cost_price: Decimal | None


@dataclass(frozen=True)
class ProductDetail(_ProductBasics):
    description: str | None
    category: str | None
    visible: bool
    units: list[UnitView]
    add_ons: list[str]
    price_lists: list[dict]
    source_sku: str | None = None  # as in ProductView: the SKU it was copied from


def list_products(
    session: Session, org: Organisation, *, platform: str | None = None
) -> list[ProductView]:
    """The products of ORG with their units, ordered by SKU."""
    parent, source = aliased(Product), aliased(Product)
    stmt = (
        select(
            Product.id,
            Product.sku,
            Product.name,
            Product.platform,
            Product.product_type,
            Product.status,
            parent.sku.label("add_on_of"),
            source.sku.label("source_sku"),
        )
        .outerjoin(parent, parent.id == Product.add_on_of_id)
        .outerjoin(source, source.id == Product.source_product_id)
        .where(Product.org_id == org.id)
        .order_by(Product.sku)
    )
    if platform:
        stmt = stmt.where(Product.platform == platform)
    units: dict[int, list[str]] = {}
    for pid, unit in session.execute(
        select(ProductUnit.product_id, ProductUnit.unit)
        .where(ProductUnit.org_id == org.id)
        .order_by(ProductUnit.product_id, ProductUnit.unit)
    ):
        units.setdefault(pid, []).append(unit)
    return [
        ProductView(
            r.sku,
            r.name,
            r.platform,
            r.product_type,
            r.status,
            r.add_on_of,
            units.get(r.id, []),
            r.source_sku,
        )
        for r in session.execute(stmt)
    ]


def product_detail(session: Session, org: Organisation, sku: str) -> ProductDetail:
    """One product of ORG: units, add-ons and the price lists (latest revision) listing it."""
    from tenantctl.domain.orgs import get_product

    p = get_product(session, org, sku)
    units = [
        UnitView(r.unit, r.status, r.cost_price)
        for r in session.execute(
            select(ProductUnit.unit, ProductUnit.status, ProductUnit.cost_price)
            .where(ProductUnit.product_id == p.id)
            .order_by(ProductUnit.unit)
        )
    ]
    add_ons = list(
        session.execute(
            select(Product.sku).where(Product.add_on_of_id == p.id).order_by(Product.sku)
        ).scalars()
    )
    parent = session.get(Product, p.add_on_of_id).sku if p.add_on_of_id else None
    listed = [
        {"price_list": r.name, "unit": r.unit, "price": r.price, "currency": r.currency}
        for r in session.execute(
            select(PriceList.name, PriceList.currency, PriceListItem.unit, PriceListItem.price)
            .join(PriceList, PriceList.id == PriceListItem.price_list_id)
            .where(PriceListItem.product_id == p.id, PriceListItem.to_revision.is_(None))
            .order_by(PriceList.name, PriceListItem.unit)
        )
    ]
    source = (
        session.execute(select(Product.sku).where(Product.id == p.source_product_id)).scalar()
        if p.source_product_id
        else None
    )
    return ProductDetail(
        p.sku,
        p.name,
        p.platform,
        p.product_type,
        p.status,
        parent,
        p.description,
        p.category,
        p.visible,
        units,
        add_ons,
        listed,
        source,
    )


def revision_in_effect(session: Session, price_list_id: int, as_of) -> int | None:
    """The newest revision of a price list in effect on AS_OF (scheduled ones are not)."""
    rev = PriceListRevision
    return session.execute(
        select(func.max(rev.number)).where(
            rev.price_list_id == price_list_id,
            or_(rev.effective_date.is_(None), rev.effective_date <= as_of),
        )
    ).scalar()
