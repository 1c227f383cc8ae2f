"""Billing the tenant reseller (SPEC section 8): the rules as pure functions.

From (the mirrors and their quantity history, the price list's revisions, the cycle) to
invoice lines, with no store: `domain/billing_store.py` reads the inputs and records what is
issued. Every amount is computed exactly (a `Fraction`) and rounded once, by
`tenantctl.money.round_money`.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from tenantctl.errors import BadInput, Refused
from tenantctl.money import round_money

TERM_MONTHS = {"annual": 12, "quarterly": 3}
USAGE_NOTE = "usage, rated outside tenantctl"


# --- cycles ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cycle:
    """One billing cycle: from day D of PERIOD's month to day D-1 of the next, inclusive."""

    period: str  # YYYY-MM
    start: date
    end: date  # its last day

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


def parse_period(text: str) -> tuple[int, int]:
    """(year, month) of a `YYYY-MM` period; BadInput naming --period otherwise."""
    match = _PERIOD.match(text or "")
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise BadInput(f"--period: {text!r} is not a month written YYYY-MM")
    return int(match[1]), int(match[2])


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def cycle_of(period: str, billing_day: int) -> Cycle:
    """The cycle of PERIOD for a billing day (1-28)."""
    if not 1 <= billing_day <= 28:
        raise Refused(f"billing day {billing_day} is not between 1 and 28")
    year, month = parse_period(period)
    ny, nm = _add_months(year, month, 1)
    return Cycle(
        f"{year:04d}-{month:02d}",
        date(year, month, billing_day),
        date(ny, nm, billing_day) - timedelta(days=1),
    )


def cycle_containing(day: date, billing_day: int) -> Cycle:
    """The cycle that DAY falls in."""
    year, month = (
        (day.year, day.month) if day.day >= billing_day else _add_months(day.year, day.month, -1)
    )
    return cycle_of(f"{year:04d}-{month:02d}", billing_day)


def last_ended_period(today: date, billing_day: int) -> str:
    """The newest cycle whose last day is over on TODAY."""
    return next_period(cycle_containing(today, billing_day).period, -1)


def next_period(period: str, months: int = 1) -> str:
    year, month = _add_months(*parse_period(period), months)
    return f"{year:04d}-{month:02d}"


def periods_between(first: str, last: str) -> list[str]:
    """Every period from FIRST to LAST, both included (empty when LAST is before FIRST)."""
    out, period = [], first
    while period <= last:
        out.append(period)
        period = next_period(period)
    return out


def anniversary(start: date, months: int) -> date:
    """START moved on by MONTHS; a day past the month's end falls on its last day (a start
    on 31 January renews on 28 or 29 February, then on 31 March)."""
    year, month = _add_months(start.year, start.month, months)
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


# --- prices ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Revision:
    """A revision of the price list and the day it takes effect: its effective date, or,
    without one, the day it was made (in the billing org's time zone)."""

    number: int
    effective: date
    made_at: datetime | None = None


@dataclass(frozen=True)
class PriceItem:
    """A price listed from revision FROM_REVISION until (not including) TO_REVISION."""

    product_id: int
    unit: str
    price: Decimal
    from_revision: int
    to_revision: int | None = None


@dataclass(frozen=True)
class PriceBook:
    """The reseller account's price list, every revision of it."""

    name: str
    currency: str
    revisions: tuple[Revision, ...]
    items: tuple[PriceItem, ...]

    def revision_on(self, day: date) -> int | None:
        """The revision in effect on DAY: the newest one in effect by then; before the
        list's first revision, the first one."""
        if not self.revisions:
            return None
        in_effect = [r.number for r in self.revisions if r.effective <= day]
        return max(in_effect) if in_effect else min(r.number for r in self.revisions)

    def __post_init__(self):
        index: dict[tuple[int, str], list[PriceItem]] = {}
        for item in self.items:
            index.setdefault((item.product_id, item.unit), []).append(item)
        object.__setattr__(self, "_index", index)

    def price(self, product_id: int, unit: str, revision: int) -> Decimal | None:
        for item in self._index.get((product_id, unit), ()):
            if item.from_revision <= revision and (
                item.to_revision is None or revision < item.to_revision
            ):
                return item.price
        return None

    def as_known_at(self, moment: datetime | None) -> PriceBook:
        """The book as it was at MOMENT (revisions made later left out): the revision used
        for a line issued then."""
        if moment is None:
            return self
        kept = tuple(r for r in self.revisions if r.made_at is None or r.made_at <= moment)
        return replace(self, revisions=kept or self.revisions)


# --- what is billed -------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """The quantity after an executed change, in force from its effective date. RECORDED_AT:
    when the store learnt of it (a change recorded after its cycle was issued is adjusted)."""

    effective: date
    quantity: int
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class Billable:
    """One thing billed: a mirror subscription's product or one of its add-ons, or an asset.

    HISTORY is in the order the changes were made; the quantity in force on a day is the
    one after the last change dated on or before it. START: the first day billed (a trial
    turned paid: the day it turned paid).
    """

    key: str
    customer_id: int
    customer_code: str
    customer_name: str
    separate: bool
    subject: str  # subscription | asset
    subject_id: int
    subject_code: str
    product_id: int
    sku: str
    product_name: str
    platform: str
    unit: str | None  # None for an asset
    start: date
    auto_renew: bool
    history: tuple[Change, ...]
    add_on: bool = False
    _days: tuple[date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        ordered = sorted(enumerate(self.history), key=lambda p: (p[1].effective, p[0]))
        object.__setattr__(self, "history", tuple(c for _, c in ordered))
        object.__setattr__(self, "_days", tuple(c.effective for c in self.history))

    def quantity_on(self, day: date) -> int:
        if day < self.start:
            return 0
        at = bisect_right(self._days, day)
        return self.history[at - 1].quantity if at else 0


@dataclass(frozen=True)
class Line:
    """One invoice line. EXACT is the amount before rounding; AMOUNT is rounded once."""

    key: str
    period: str  # the cycle the line bills (an adjustment: the cycle it corrects)
    kind: str  # charge | increase | credit | one-time | usage | asset | adjustment
    customer_id: int
    customer_code: str
    customer_name: str
    separate: bool
    subject: str
    subject_code: str
    sku: str
    product_name: str
    unit: str | None
    quantity: int
    charged: str  # the days or the term charged
    unit_price: Decimal
    exact: Fraction
    amount: Decimal
    revision: int | None
    note: str = ""
    corrects: str | None = None


def _price(book: PriceBook, item: Billable, unit: str, day: date) -> tuple[int, Decimal]:
    revision = book.revision_on(day)
    price = book.price(item.product_id, unit, revision) if revision is not None else None
    if price is None:
        raise Refused(
            f"{item.sku} is not sold {unit} in price list {book.name!r} "
            f"(revision {revision}, in effect on {day}): {item.subject} "
            f"{item.subject_code} of {item.customer_code} cannot be billed"
        )
    return revision, price


def _line(
    item: Billable,
    cycle: Cycle,
    kind: str,
    quantity: int,
    charged: str,
    unit_price: Decimal,
    exact: Fraction,
    revision: int | None,
    currency: str,
    note: str = "",
) -> Line:
    return Line(
        item.key,
        cycle.period,
        kind,
        item.customer_id,
        item.customer_code,
        item.customer_name,
        item.separate,
        item.subject,
        item.subject_code,
        item.sku,
        item.product_name,
        item.unit,
        quantity,
        charged,
        unit_price,
        exact,
        round_money(exact, currency),
        revision,
        note,
    )


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def monthly_lines(item: Billable, book: PriceBook, cycle: Cycle) -> list[Line]:
    """By day, in arrears: (sum of the quantity in force on each day x unit price) / days
    in the cycle, one division; at the revision in effect on the cycle's first day."""
    quantity_days = sum(item.quantity_on(day) for day in _days(cycle.start, cycle.end))
    if not quantity_days:
        return []
    revision, price = _price(book, item, "monthly", cycle.start)
    days_on = sum(1 for day in _days(cycle.start, cycle.end) if item.quantity_on(day))
    most = max(item.quantity_on(day) for day in _days(cycle.start, cycle.end))
    exact = Fraction(quantity_days) * Fraction(price) / cycle.days
    return [
        _line(
            item,
            cycle,
            "charge",
            most,
            f"{days_on}/{cycle.days} days"
            + ("" if quantity_days == most * days_on else f" ({quantity_days} quantity-days)"),
            price,
            exact,
            revision,
            book.currency,
        )
    ]


def term_lines(
    item: Billable, book: PriceBook, cycle: Cycle, months: int, cancellation_days: int
) -> list[Line]:
    """A term (annual, quarterly) charged whole in the cycle of its first day at the
    revision in effect that day; increases pro rata above the highest quantity charged;
    decreases credited pro rata only inside the cancellation window."""
    lines: list[Line] = []
    k = 0
    while (first := anniversary(item.start, k * months)) <= cycle.end:
        last = anniversary(item.start, (k + 1) * months) - timedelta(days=1)
        renewed = k == 0 or item.auto_renew
        k += 1
        if last < cycle.start or not renewed:
            continue
        term_days = (last - first).days + 1
        span = f"term {first}..{last}"
        opening = item.quantity_on(first)
        revision, price = _price(book, item, item.unit, first)
        if opening and first in cycle:
            lines.append(
                _line(
                    item,
                    cycle,
                    "charge",
                    opening,
                    span,
                    price,
                    Fraction(opening) * Fraction(price),
                    revision,
                    book.currency,
                )
            )
        highest, previous = opening, opening
        change_days = sorted({c.effective for c in item.history if first < c.effective <= last})
        for day in change_days:
            now = item.quantity_on(day)
            remaining = (last - day).days + 1
            pro_rata = f"{remaining}/{term_days} days of {span}"
            if now > highest:
                if day in cycle:
                    exact = Fraction(now - highest) * Fraction(price) * remaining / term_days
                    lines.append(
                        _line(
                            item,
                            cycle,
                            "increase",
                            now - highest,
                            pro_rata,
                            price,
                            exact,
                            revision,
                            book.currency,
                            f"increase from {highest} to {now} on {day}",
                        )
                    )
                highest = now
            elif now < previous and (day - first).days < cancellation_days:
                less = previous - now
                if day in cycle:
                    exact = -Fraction(less) * Fraction(price) * remaining / term_days
                    what = "cancelled" if now == 0 else f"decrease from {previous} to {now}"
                    lines.append(
                        _line(
                            item,
                            cycle,
                            "credit",
                            less,
                            pro_rata,
                            price,
                            exact,
                            revision,
                            book.currency,
                            f"{what} on {day}, inside the "
                            f"{cancellation_days}-day cancellation window",
                        )
                    )
                highest -= less
            previous = now
    return lines


def item_lines(
    item: Billable, book: PriceBook, cycle: Cycle, cancellation_days: Mapping[str, int]
) -> list[Line]:
    """The lines of one billed thing in one cycle (none when it owes nothing then)."""
    if item.subject == "asset":
        if item.start not in cycle or not item.quantity_on(item.start):
            return []
        quantity = item.quantity_on(item.start)
        for unit in ("one-time", "annual"):
            revision = book.revision_on(item.start)
            price = book.price(item.product_id, unit, revision) if revision else None
            if price is not None:
                return [
                    _line(
                        item,
                        cycle,
                        "asset",
                        quantity,
                        f"purchased {item.start} ({unit} price)",
                        price,
                        Fraction(quantity) * Fraction(price),
                        revision,
                        book.currency,
                    )
                ]
        raise Refused(
            f"{item.sku} has neither a one-time nor an annual price in price list "
            f"{book.name!r}: asset {item.subject_code} of {item.customer_code} "
            "cannot be billed"
        )
    if item.unit == "monthly":
        return monthly_lines(item, book, cycle)
    if item.unit in TERM_MONTHS:
        return term_lines(
            item, book, cycle, TERM_MONTHS[item.unit], cancellation_days.get(item.platform, 0)
        )
    if item.unit == "one-time":
        if item.start not in cycle or not item.quantity_on(item.start):
            return []
        quantity = item.quantity_on(item.start)
        revision, price = _price(book, item, "one-time", item.start)
        return [
            _line(
                item,
                cycle,
                "one-time",
                quantity,
                f"once, {item.start}",
                price,
                Fraction(quantity) * Fraction(price),
                revision,
                book.currency,
            )
        ]
    if item.unit == "hourly":
        most = max(item.quantity_on(day) for day in _days(cycle.start, cycle.end))
        if not most:
            return []
        return [
            _line(
                item,
                cycle,
                "usage",
                most,
                f"{cycle.start}..{cycle.end}",
                Decimal(0),
                Fraction(0),
                None,
                book.currency,
                USAGE_NOTE,
            )
        ]
    raise Refused(f"{item.subject} {item.subject_code}: unit {item.unit!r} cannot be billed")


def cycle_lines(
    items: Iterable[Billable], book: PriceBook, cycle: Cycle, cancellation_days: Mapping[str, int]
) -> list[Line]:
    """Every line of CYCLE, by end customer, then subscription or asset, then product."""
    lines = [line for item in items for line in item_lines(item, book, cycle, cancellation_days)]
    return sorted(lines, key=lambda x: (x.customer_code, x.customer_id, x.subject_code, x.key))


# --- adjustments ----------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """What was issued for one billed thing in one cycle: the amount (its lines and
    adjustments since), the invoice that carried it, and whether that one was separate."""

    amount: Decimal
    invoice: str | None
    separate: bool


@dataclass(frozen=True)
class IssuedCycle:
    cycle: Cycle
    issued_at: datetime


def late_cycles(item: Billable, issued: Sequence[IssuedCycle]) -> list[Cycle]:
    """The issued cycles a change of ITEM recorded after their issue affects (a change on
    day D reaches every cycle that ends on or after D)."""
    out = []
    for done in issued:
        if any(
            c.recorded_at is not None
            and c.recorded_at > done.issued_at
            and c.effective <= done.cycle.end
            for c in item.history
        ):
            out.append(done.cycle)
    return out


def adjustment_lines(
    items: Iterable[Billable],
    book_then: Callable[[str], PriceBook],
    issued_cycles: Sequence[IssuedCycle],
    issued: Mapping[tuple[str, str], Issued],
    cancellation_days: Mapping[str, int],
    currency: str,
) -> list[Line]:
    """For each billed thing changed after a cycle was issued: its lines of that cycle
    recomputed from the history as it is now, at the revisions used then, minus what was
    issued; one adjustment line per (thing, cycle) that differs."""
    out: list[Line] = []
    for item in items:
        for cycle in late_cycles(item, issued_cycles):
            now = item_lines(item, book_then(cycle.period), cycle, cancellation_days)
            amount = sum((line.amount for line in now), Decimal(0))
            exact = sum((line.exact for line in now), Fraction(0))
            before = issued.get((item.key, cycle.period), Issued(Decimal(0), None, item.separate))
            if amount == before.amount:
                continue
            diff = amount - before.amount
            quantity = max((line.quantity for line in now), default=0)
            unit_price = now[0].unit_price if now else Decimal(0)
            revision = now[0].revision if now else None
            corrects = before.invoice
            note = (
                f"adjustment of {corrects} ({cycle.start}..{cycle.end}): now "
                f"{round_money(exact, currency)}, issued {before.amount}"
                if corrects
                else f"adjustment of cycle {cycle.period} ({cycle.start}.."
                f"{cycle.end}), not billed then"
            )
            out.append(
                Line(
                    item.key,
                    cycle.period,
                    "adjustment",
                    item.customer_id,
                    item.customer_code,
                    item.customer_name,
                    before.separate,
                    item.subject,
                    item.subject_code,
                    item.sku,
                    item.product_name,
                    item.unit,
                    quantity,
                    f"cycle {cycle.start}..{cycle.end}",
                    unit_price,
                    Fraction(diff),
                    round_money(diff, currency),
                    revision,
                    note,
                    corrects,
                )
            )
    return sorted(out, key=lambda x: (x.customer_code, x.customer_id, x.period, x.key))


# --- invoices -------------------------------------------------------------------------


@dataclass(frozen=True)
class Subtotal:
    customer_code: str
    customer_name: str
    amount: Decimal


@dataclass(frozen=True)
class Draft:
    """An invoice before it is issued: consolidated (CUSTOMER None) or one end customer's
    separate invoice. A negative total is issued as a credit note."""

    customer_id: int | None
    customer_code: str | None
    lines: tuple[Line, ...]
    currency: str

    @property
    def total(self) -> Decimal:
        return round_money(sum((line.amount for line in self.lines), Decimal(0)), self.currency)

    @property
    def kind(self) -> str:
        return "credit-note" if self.total < 0 else "invoice"

    @property
    def subtotals(self) -> list[Subtotal]:
        seen: dict[str, Subtotal] = {}
        for line in self.lines:
            old = seen.get(line.customer_code)
            seen[line.customer_code] = Subtotal(
                line.customer_code, line.customer_name, (old.amount if old else 0) + line.amount
            )
        return list(seen.values())


def invoices(lines: Sequence[Line], currency: str) -> list[Draft]:
    """One consolidated invoice with every end customer not billed separately, plus one
    per end customer that is; an invoice with no line is left out."""
    together = tuple(line for line in lines if not line.separate)
    drafts = [Draft(None, None, together, currency)] if together else []
    apart: dict[int, list[Line]] = {}
    for line in lines:
        if line.separate:
            apart.setdefault(line.customer_id, []).append(line)
    for customer_id, own in sorted(apart.items(), key=lambda p: p[1][0].customer_code):
        drafts.append(Draft(customer_id, own[0].customer_code, tuple(own), currency))
    return drafts
