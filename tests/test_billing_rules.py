"""The billing rules of SPEC section 8, as pure functions (no store). Every expected amount
is worked out by hand in the comment above it, not by the code under test."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenantctl.domain import billing
from tenantctl.domain.billing import Billable, Change, PriceBook, PriceItem, Revision
from tenantctl.errors import BadInput, Refused
from tenantctl.money import minor_units, round_money

D = Decimal
WINDOWS = {"microsoft": 7, "acronis": 0}
MAIN, ADDON = 1, 2


def book(prices: dict, currency: str = "EUR", revisions=((1, date(2000, 1, 1)),)) -> PriceBook:
    """PRICES: {(product, unit): price} for one revision, or {(product, unit, from, to):
    price} for several."""
    items = []
    for key, price in prices.items():
        product, unit, *span = key
        first, last = span if span else (1, None)
        items.append(PriceItem(product, unit, D(price), first, last))
    return PriceBook(
        "Resellers", currency, tuple(Revision(n, d) for n, d in revisions), tuple(items)
    )


def item(
    unit: str | None,
    start: date,
    *changes: tuple[date, int],
    product: int = MAIN,
    platform: str = "microsoft",
    auto_renew: bool = True,
    customer: str = "C1",
    separate: bool = False,
    subject: str = "subscription",
    key: str | None = None,
) -> Billable:
    return Billable(
        key or f"{subject}:{customer}:{product}",
        hash(customer) % 1000,
        customer,
        f"{customer} Ltd",
        separate,
        subject,
        1,
        f"SUB-{customer}",
        product,
        f"SKU-{product}",
        f"Product {product}",
        platform,
        unit,
        start,
        auto_renew,
        tuple(Change(d, q) for d, q in changes),
    )


def lines(things, period: str, prices: PriceBook, billing_day: int = 1):
    if isinstance(things, Billable):
        things = [things]
    return billing.cycle_lines(things, prices, billing.cycle_of(period, billing_day), WINDOWS)


def amounts(things, period, prices, billing_day=1) -> list[Decimal]:
    return [x.amount for x in lines(things, period, prices, billing_day)]


# --- cycles --------------------------------------------------------------------------


def test_a_cycle_runs_from_the_billing_day_to_the_day_before_it_next_month():
    c = billing.cycle_of("2026-01", 5)
    assert (c.start, c.end, c.days) == (date(2026, 1, 5), date(2026, 2, 4), 31)
    c = billing.cycle_of("2026-12", 28)
    assert (c.start, c.end, c.days) == (date(2026, 12, 28), date(2027, 1, 27), 31)
    # Across February in a leap year: 15 Feb to 14 Mar 2024 is 15 + 14 = 29 days.
    assert billing.cycle_of("2024-02", 15).days == 29
    assert billing.cycle_containing(date(2026, 3, 4), 5).period == "2026-02"
    assert billing.cycle_containing(date(2026, 3, 5), 5).period == "2026-03"


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-01", "", "2026-00", "abcd-ef"])
def test_a_bad_period_is_bad_input(text):
    with pytest.raises(BadInput, match="--period"):
        billing.cycle_of(text, 1)


def test_anniversaries_on_the_29th_to_31st_fall_on_the_last_day_of_shorter_months():
    assert billing.anniversary(date(2026, 1, 31), 12) == date(2027, 1, 31)
    assert billing.anniversary(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert billing.anniversary(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert billing.anniversary(date(2024, 2, 29), 48) == date(2028, 2, 29)
    assert billing.anniversary(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert billing.anniversary(date(2025, 11, 30), 6) == date(2026, 5, 30)


# --- monthly -------------------------------------------------------------------------


def test_monthly_over_a_full_cycle():
    # 10 x 12.00 for all 31 days of January: 10 x 31 x 12.00 / 31 = 120.00
    assert amounts(
        item("monthly", date(2025, 6, 1), (date(2025, 6, 1), 10)),
        "2026-01",
        book({(MAIN, "monthly"): "12.00"}),
    ) == [D("120.00")]


def test_a_start_mid_cycle_divides_by_the_whole_cycle():
    # From 11 January: 21 days of 31. 10 x 21 x 12.40 / 31 = 2604 / 31 = 84.00
    sub = item("monthly", date(2026, 1, 11), (date(2026, 1, 11), 10))
    assert amounts(sub, "2026-01", book({(MAIN, "monthly"): "12.40"})) == [D("84.00")]
    # Nothing before the start date: the cycle before has no line.
    assert amounts(sub, "2025-12", book({(MAIN, "monthly"): "12.40"})) == []


def test_a_cancellation_mid_cycle_stops_the_charge_on_its_day():
    # Cancelled on 16 January: 1-15 January charged, 15 days of 31.
    # 5 x 15 x 31.00 / 31 = 75.00
    sub = item("monthly", date(2025, 12, 1), (date(2025, 12, 1), 5), (date(2026, 1, 16), 0))
    assert amounts(sub, "2026-01", book({(MAIN, "monthly"): "31.00"})) == [D("75.00")]
    assert amounts(sub, "2026-02", book({(MAIN, "monthly"): "31.00"})) == []


def test_a_quantity_change_mid_cycle_is_charged_by_day():
    # 10 from 1 to 20 January (200 quantity-days), 16 from 21 to 31 (11 x 16 = 176):
    # 376 x 6.20 / 31 = 75.20
    sub = item("monthly", date(2025, 1, 1), (date(2025, 1, 1), 10), (date(2026, 1, 21), 16))
    (line,) = lines(sub, "2026-01", book({(MAIN, "monthly"): "6.20"}))
    assert line.amount == D("75.20")
    assert line.quantity == 16 and "376 quantity-days" in line.charged


def test_the_quantity_in_force_is_the_last_change_of_the_day():
    # Two changes dated the same day: the later one holds. 7 x 30 x 3.00 / 30 = 21.00
    sub = item("monthly", date(2026, 4, 1), (date(2026, 4, 1), 2), (date(2026, 4, 1), 7))
    assert amounts(sub, "2026-04", book({(MAIN, "monthly"): "3.00"})) == [D("21.00")]


def test_billing_day_28():
    # Cycle 2026-01 on day 28: 28 Jan to 27 Feb, 31 days. Started 1 Feb: 27 days.
    # 1 x 27 x 31.00 / 31 = 27.00
    sub = item("monthly", date(2026, 2, 1), (date(2026, 2, 1), 1))
    assert amounts(sub, "2026-01", book({(MAIN, "monthly"): "31.00"}), 28) == [D("27.00")]


def test_a_cycle_across_february_in_a_leap_year():
    # 15 Feb to 14 Mar 2024: 29 days. From 1 March: 14 days. 2 x 14 x 29.00 / 29 = 28.00
    sub = item("monthly", date(2024, 3, 1), (date(2024, 3, 1), 2))
    assert amounts(sub, "2024-02", book({(MAIN, "monthly"): "29.00"}), 15) == [D("28.00")]


def test_a_revision_published_mid_cycle_waits_for_the_next_cycle():
    prices = book(
        {(MAIN, "monthly", 1, 2): "10.00", (MAIN, "monthly", 2, None): "12.00"},
        revisions=((1, date(2025, 1, 1)), (2, date(2026, 1, 15))),
    )
    sub = item("monthly", date(2025, 1, 1), (date(2025, 1, 1), 1))
    # January: the revision in effect on 1 January (1): 1 x 31 x 10.00 / 31 = 10.00
    (jan,) = lines(sub, "2026-01", prices)
    assert (jan.amount, jan.revision) == (D("10.00"), 1)
    # February: revision 2: 1 x 28 x 12.00 / 28 = 12.00
    assert amounts(sub, "2026-02", prices) == [D("12.00")]


def test_a_day_before_the_first_revision_uses_the_first():
    prices = book({(MAIN, "monthly"): "3.10"}, revisions=((1, date(2026, 3, 1)),))
    # 1 x 31 x 3.10 / 31 = 3.10, although revision 1 takes effect only in March.
    assert amounts(item("monthly", date(2026, 1, 1), (date(2026, 1, 1), 1)), "2026-01", prices) == [
        D("3.10")
    ]


# --- terms ---------------------------------------------------------------------------

ANNUAL = book({(MAIN, "annual"): "365.00"})


def test_an_annual_unit_is_charged_whole_in_its_anniversary_cycle():
    sub = item("annual", date(2025, 3, 15), (date(2025, 3, 15), 3))
    prices = book({(MAIN, "annual"): "120.00"})
    # 3 x 120.00 = 360.00 in the cycle holding 15 March, nothing in the others.
    assert amounts(sub, "2026-03", prices) == [D("360.00")]
    assert amounts(sub, "2026-02", prices) == []
    assert amounts(sub, "2026-04", prices) == []


def test_an_increase_is_charged_pro_rata_in_its_cycle():
    # Term 1 Jan - 31 Dec 2026 (365 days); 2 -> 5 on 1 July: 184 days left (1 July
    # included). 3 x 365.00 x 184 / 365 = 552.00
    sub = item("annual", date(2026, 1, 1), (date(2026, 1, 1), 2), (date(2026, 7, 1), 5))
    assert amounts(sub, "2026-07", ANNUAL) == [D("552.00")]
    assert amounts(sub, "2026-01", ANNUAL) == [D("730.00")]  # 2 x 365.00
    assert amounts(sub, "2026-08", ANNUAL) == []


def test_an_increase_on_the_day_before_the_anniversary():
    # 31 Dec 2026 is the term's last day: 1 day left. 1 x 365.00 x 1 / 365 = 1.00
    sub = item("annual", date(2026, 1, 1), (date(2026, 1, 1), 2), (date(2026, 12, 31), 3))
    assert amounts(sub, "2026-12", ANNUAL) == [D("1.00")]
    # The next term starts at 3: 3 x 365.00 = 1095.00
    assert amounts(sub, "2027-01", ANNUAL) == [D("1095.00")]


def test_a_decrease_then_an_increase_in_one_term_is_not_charged_twice():
    # 10 charged; 6 from 1 March (outside the window, owed); 8 from 1 May: still below the
    # 10 charged, nothing; 12 from 1 June: 2 above 10, 214 days left (1 June - 31 Dec).
    # 2 x 365.00 x 214 / 365 = 428.00
    sub = item(
        "annual",
        date(2026, 1, 1),
        (date(2026, 1, 1), 10),
        (date(2026, 3, 1), 6),
        (date(2026, 5, 1), 8),
        (date(2026, 6, 1), 12),
    )
    assert amounts(sub, "2026-03", ANNUAL) == []
    assert amounts(sub, "2026-05", ANNUAL) == []
    assert amounts(sub, "2026-06", ANNUAL) == [D("428.00")]


def test_a_cancellation_inside_the_7_day_window_is_credited_pro_rata():
    # Term 10 Jan 2026 - 9 Jan 2027 (365 days). Cancelled on 16 Jan (6 days after the
    # first day, inside Microsoft's 7): 359 days left.
    # Charge 4 x 120.00 = 480.00; credit -4 x 120.00 x 359 / 365 = -472.1095... = -472.11
    prices = book({(MAIN, "annual"): "120.00"})
    sub = item("annual", date(2026, 1, 10), (date(2026, 1, 10), 4), (date(2026, 1, 16), 0))
    assert amounts(sub, "2026-01", prices, 10) == [D("480.00"), D("-472.11")]


def test_a_cancellation_outside_the_window_is_owed():
    prices = book({(MAIN, "annual"): "120.00"})
    # 17 Jan is 7 days after the first day: outside the window, the term is owed.
    sub = item("annual", date(2026, 1, 10), (date(2026, 1, 10), 4), (date(2026, 1, 17), 0))
    assert amounts(sub, "2026-01", prices, 10) == [D("480.00")]
    # A platform whose window is 0 credits nothing, even the next day.
    acronis = item(
        "annual",
        date(2026, 1, 10),
        (date(2026, 1, 10), 4),
        (date(2026, 1, 11), 0),
        platform="acronis",
    )
    assert amounts(acronis, "2026-01", prices, 10) == [D("480.00")]


def test_a_decrease_inside_the_window_is_credited_and_lowers_what_was_charged():
    # 10 -> 4 on 3 Jan (window): credit -6 x 365.00 x 363 / 365 = -2178.00; back to 10 on
    # 1 July: 6 above the 4 now charged, 184 days: 6 x 365.00 x 184 / 365 = 1104.00
    sub = item(
        "annual",
        date(2026, 1, 1),
        (date(2026, 1, 1), 10),
        (date(2026, 1, 3), 4),
        (date(2026, 7, 1), 10),
    )
    assert amounts(sub, "2026-01", ANNUAL) == [D("3650.00"), D("-2178.00")]
    assert amounts(sub, "2026-07", ANNUAL) == [D("1104.00")]


def test_no_charge_at_an_anniversary_once_auto_renew_is_off():
    sub = item("annual", date(2025, 2, 1), (date(2025, 2, 1), 1), auto_renew=False)
    assert amounts(sub, "2025-02", ANNUAL) == [D("365.00")]
    assert amounts(sub, "2026-02", ANNUAL) == []


def test_an_annual_start_on_31_january():
    # Billing day 28: cycle 2027-01 is 28 Jan - 27 Feb 2027 and holds 31 Jan 2027.
    sub = item("annual", date(2026, 1, 31), (date(2026, 1, 31), 2))
    assert amounts(sub, "2027-01", ANNUAL, 28) == [D("730.00")]
    assert amounts(sub, "2026-12", ANNUAL, 28) == []


def test_an_annual_start_on_29_february():
    # Renews on 28 Feb 2025; the term 29 Feb 2024 - 27 Feb 2025 has 365 days, so an
    # increase of 1 on 27 Feb 2025 (its last day) is 1 x 365.00 x 1 / 365 = 1.00.
    sub = item("annual", date(2024, 2, 29), (date(2024, 2, 29), 1), (date(2025, 2, 27), 2))
    assert amounts(sub, "2025-02", ANNUAL, 1) == [D("1.00"), D("730.00")]
    assert amounts(sub, "2025-03", ANNUAL, 1) == []


def test_a_quarterly_start_on_30_november():
    # Terms start 30 Nov 2025, 28 Feb 2026, 30 May 2026: 2 x 30.00 = 60.00 in each.
    sub = item("quarterly", date(2025, 11, 30), (date(2025, 11, 30), 2))
    prices = book({(MAIN, "quarterly"): "30.00"})
    assert [
        amounts(sub, p, prices)
        for p in ("2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05")
    ] == [[D("60.00")], [], [], [D("60.00")], [], [], [D("60.00")]]


def test_a_quarterly_increase_is_pro_rata_over_the_quarter():
    # Term 1 Jan - 31 Mar 2026 = 90 days; +1 on 2 March: 30 days left.
    # 1 x 90.00 x 30 / 90 = 30.00
    sub = item("quarterly", date(2026, 1, 1), (date(2026, 1, 1), 1), (date(2026, 3, 2), 2))
    assert amounts(sub, "2026-03", book({(MAIN, "quarterly"): "90.00"})) == [D("30.00")]


def test_a_revision_published_mid_term_does_not_change_the_term():
    prices = book(
        {(MAIN, "annual", 1, 2): "100.00", (MAIN, "annual", 2, None): "200.00"},
        revisions=((1, date(2025, 1, 1)), (2, date(2026, 3, 1))),
    )
    sub = item("annual", date(2026, 1, 1), (date(2026, 1, 1), 1), (date(2026, 7, 1), 2))
    # The increase keeps the term's price: 1 x 100.00 x 184 / 365 = 50.4109... = 50.41
    assert amounts(sub, "2026-07", prices) == [D("50.41")]
    # The next term is at the revision in effect on its first day: 2 x 200.00 = 400.00
    assert amounts(sub, "2027-01", prices) == [D("400.00")]


# --- one-time, hourly, assets, add-ons -----------------------------------------------


def test_one_time_is_charged_once_in_the_cycle_of_its_start():
    sub = item("one-time", date(2026, 1, 20), (date(2026, 1, 20), 3))
    prices = book({(MAIN, "one-time"): "15.50"})
    assert amounts(sub, "2026-01", prices) == [D("46.50")]  # 3 x 15.50
    assert amounts(sub, "2026-02", prices) == []


def test_hourly_is_listed_with_amount_zero_and_a_note():
    (line,) = lines(item("hourly", date(2026, 1, 1), (date(2026, 1, 1), 1)), "2026-01", book({}))
    assert line.amount == D("0.00") and line.note == billing.USAGE_NOTE


def test_an_asset_is_charged_once_at_its_one_time_price_else_annual():
    asset = item(None, date(2026, 1, 5), (date(2026, 1, 5), 2), subject="asset")
    # No one-time price: the annual one, 2 x 99.99 = 199.98
    assert amounts(asset, "2026-01", book({(MAIN, "annual"): "99.99"})) == [D("199.98")]
    # A one-time price wins: 2 x 50.00 = 100.00
    both = book({(MAIN, "annual"): "99.99", (MAIN, "one-time"): "50.00"})
    assert amounts(asset, "2026-01", both) == [D("100.00")]
    assert amounts(asset, "2026-02", both) == []
    with pytest.raises(Refused, match="neither a one-time nor an annual price"):
        lines(asset, "2026-01", book({(MAIN, "monthly"): "1"}))


def test_an_add_on_is_a_line_of_its_own():
    main = item("monthly", date(2026, 1, 1), (date(2026, 1, 1), 4))
    add_on = item("monthly", date(2026, 1, 1), (date(2026, 1, 1), 4), product=ADDON)
    prices = book({(MAIN, "monthly"): "10.00", (ADDON, "monthly"): "2.50"})
    # 4 x 10.00 = 40.00 and 4 x 2.50 = 10.00
    assert sorted(amounts([main, add_on], "2026-01", prices)) == [D("10.00"), D("40.00")]


def test_a_product_missing_from_the_price_list_is_refused():
    with pytest.raises(Refused, match="is not sold monthly"):
        lines(item("monthly", date(2026, 1, 1), (date(2026, 1, 1), 1)), "2026-01", book({}))


# --- rounding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "price", "expected"),
    [
        # April has 30 days; started 16 April: 15 days, so half a month.
        ("JPY", "105", "53"),  # 105 / 2 = 52.5, half up -> 53
        ("EUR", "0.25", "0.13"),  # 0.125 -> 0.13
        ("EUR", "0.05", "0.03"),  # 0.025 -> 0.03
        ("KWD", "0.001", "0.001"),  # 0.0005 -> 0.001
        ("KWD", "2.469", "1.235"),  # 1.2345 -> 1.235
    ],
)
def test_ties_round_half_up_to_the_minor_unit(currency, price, expected):
    sub = item("monthly", date(2026, 4, 16), (date(2026, 4, 16), 1))
    (line,) = lines(sub, "2026-04", book({(MAIN, "monthly"): price}, currency))
    assert str(line.amount) == expected


def test_a_credit_rounds_away_from_zero_like_its_charge():
    assert round_money(Fraction(-105, 2), "JPY") == D("-53")
    assert round_money(Fraction(-1, 8), "EUR") == D("-0.13")
    assert round_money(D("-0.0005"), "KWD") == D("-0.001")
    assert (minor_units("JPY"), minor_units("KWD"), minor_units("eur")) == (0, 3, 2)


# --- invoices ------------------------------------------------------------------------


def test_one_consolidated_invoice_plus_one_per_separate_customer():
    prices = book({(MAIN, "monthly"): "10.00"})
    start = ((date(2026, 1, 1), 1),)
    a = item("monthly", date(2026, 1, 1), *start, customer="A")
    b = item("monthly", date(2026, 1, 1), *start, customer="B")
    c = item("monthly", date(2026, 1, 1), *start, customer="C", separate=True)
    drafts = billing.invoices(lines([a, b, c], "2026-01", prices), "EUR")
    assert [(d.customer_code, d.total) for d in drafts] == [(None, D("20.00")), ("C", D("10.00"))]
    assert [(s.customer_code, s.amount) for s in drafts[0].subtotals] == [
        ("A", D("10.00")),
        ("B", D("10.00")),
    ]
    # Only separate customers: no consolidated invoice (an invoice with no line is not one).
    assert [d.customer_code for d in billing.invoices(lines([c], "2026-01", prices), "EUR")] == [
        "C"
    ]


def test_a_negative_total_is_a_credit_note():
    prices = book({(MAIN, "annual"): "120.00"})
    sub = item("annual", date(2026, 1, 10), (date(2026, 1, 10), 4), (date(2026, 1, 16), 0))
    credit = [x for x in lines(sub, "2026-01", prices, 10) if x.amount < 0]
    (draft,) = billing.invoices(credit, "EUR")
    assert (draft.kind, draft.total) == ("credit-note", D("-472.11"))


# --- adjustments ---------------------------------------------------------------------


def test_a_late_cancellation_is_adjusted_once_in_the_next_cycle():
    issued_at = datetime(2026, 2, 2, tzinfo=UTC)
    prices = book({(MAIN, "monthly"): "31.00"})
    jan = billing.cycle_of("2026-01", 1)
    # Issued 31 days x 1 x 31.00 / 31 = 31.00; then a cancellation dated 21 January is
    # recorded on 3 February: January is now 20 x 31.00 / 31 = 20.00, so -11.00.
    sub = Billable(
        "k",
        1,
        "A",
        "A Ltd",
        False,
        "subscription",
        1,
        "SUB-A",
        MAIN,
        "SKU",
        "P",
        "microsoft",
        "monthly",
        date(2025, 1, 1),
        True,
        (Change(date(2025, 1, 1), 1), Change(date(2026, 1, 21), 0, issued_at + timedelta(days=1))),
    )
    issued = {("k", "2026-01"): billing.Issued(D("31.00"), "INV-2026-000001", False)}
    done = [billing.IssuedCycle(jan, issued_at)]
    (adj,) = billing.adjustment_lines([sub], lambda p: prices, done, issued, WINDOWS, "EUR")
    assert (adj.amount, adj.corrects, adj.period, adj.kind) == (
        D("-11.00"),
        "INV-2026-000001",
        "2026-01",
        "adjustment",
    )
    # Once issued, the adjustment is part of what was issued: nothing more.
    issued[("k", "2026-01")] = billing.Issued(D("20.00"), "INV-2026-000001", False)
    assert billing.adjustment_lines([sub], lambda p: prices, done, issued, WINDOWS, "EUR") == []


# --- the property --------------------------------------------------------------------


@st.composite
def monthly_histories(draw):
    start = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 400)))
    changes = [(start, draw(st.integers(1, 50)))]
    for _ in range(draw(st.integers(0, 8))):
        changes.append(
            (start + timedelta(days=draw(st.integers(0, 500))), draw(st.integers(0, 50)))
        )
    price = D(draw(st.integers(1, 10**6))) / D(10 ** draw(st.integers(0, 4)))
    currency = draw(st.sampled_from(["EUR", "JPY", "KWD"]))
    return start, changes, price, currency, draw(st.integers(1, 28)), draw(st.integers(1, 18))


@settings(max_examples=150, deadline=None)
@given(monthly_histories())
def test_consecutive_cycles_add_up_to_the_whole_span(case):
    """No day charged twice or missed: the exact charges of consecutive cycles equal the
    span charged day by day (each day at quantity x price / days of its cycle); each
    rounded line is within half a minor unit of its exact amount."""
    start, changes, price, currency, billing_day, count = case
    sub = item("monthly", start, *changes)
    prices = book({(MAIN, "monthly"): str(price)}, currency)
    first = billing.cycle_containing(start, billing_day)
    cycles = [
        billing.cycle_of(billing.next_period(first.period, n), billing_day) for n in range(count)
    ]
    charged = [x for c in cycles for x in billing.cycle_lines([sub], prices, c, WINDOWS)]

    in_order = sorted(changes, key=lambda change: change[0])  # stable: same day, as made
    by_day = Fraction(0)
    for c in cycles:
        day = c.start
        while day <= c.end:
            in_force = 0
            for when, quantity in in_order:  # the last change dated on or before the day
                if when <= day:
                    in_force = quantity
            by_day += Fraction(in_force) * Fraction(price) / c.days
            day += timedelta(days=1)
    assert sum((x.exact for x in charged), Fraction(0)) == by_day

    half = Fraction(1, 2 * 10 ** minor_units(currency))
    for x in charged:
        assert abs(Fraction(x.amount) - x.exact) <= half
    for draft in billing.invoices(charged, currency):
        exact = sum((x.exact for x in draft.lines), Fraction(0))
        assert abs(Fraction(draft.total) - exact) <= half * len(draft.lines)


def test_the_readme_worked_example():
    prices = book(
        {
            (1, "monthly"): "11.70",
            (2, "monthly"): "1.87",
            (3, "annual"): "74.80",
            (4, "monthly"): "3.74",
        }
    )
    things = [
        item(
            "monthly",
            date(2025, 6, 1),
            (date(2025, 6, 1), 8),
            (date(2026, 1, 20), 10),
            product=1,
            customer="OLIVE",
        ),
        item("monthly", date(2025, 6, 1), (date(2025, 6, 1), 8), product=2, customer="OLIVE"),
        item(
            "annual",
            date(2025, 1, 12),
            (date(2025, 1, 12), 3),
            (date(2026, 1, 15), 4),
            product=3,
            customer="OLIVE",
        ),
        item(
            "monthly",
            date(2026, 1, 21),
            (date(2026, 1, 21), 5),
            product=4,
            customer="KRONOS",
            separate=True,
        ),
    ]
    drafts = billing.invoices(lines(things, "2026-01", prices, 5), "EUR")
    assert [(d.customer_code, [x.amount for x in d.lines], d.total) for d in drafts] == [
        (None, [D("105.68"), D("14.96"), D("224.40"), D("74.19")], D("419.23")),
        ("KRONOS", [D("9.05")], D("9.05")),
    ]
