"""Money (SPEC section 1): Decimal from text, never float, stored exactly on every backend."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from tenantctl.money import canonical, check_country, check_currency, format_amount, parse_amount
from tenantctl.store.engine import write_session
from tenantctl.store.models import Organisation, PriceList, PriceListItem, Product


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("0.1", "0.1"),
        ("20.60", "20.60"),  # the scale is part of the amount as written
        (" 12.5\t", "12.5"),
        ("0", "0"),
        ("0.000", "0.000"),
        ("999999999999999.123456789012", "999999999999999.123456789012"),
        ("-0", "0"),  # never a negative zero
        ("-0.00", "0.00"),
        (7, "7"),
        (Decimal("3.30"), "3.30"),
    ],
)
def test_parse_amount_keeps_the_exact_value(given_, expected):
    value = parse_amount(given_)
    assert isinstance(value, Decimal)
    assert format_amount(value) == expected
    assert value == Decimal(expected)


@pytest.mark.parametrize(
    ("given_", "reason"),
    [
        (0.1, "not an exact amount"),
        (1.0, "not an exact amount"),
        (True, "not an exact amount"),
        ("", "not a number"),
        ("abc", "not a number"),
        ("1,50", "not a number"),
        ("1.2.3", "not a number"),
        ("$5", "not a number"),
        (None, "not a number"),
        ([1], "not a number"),
        ("NaN", "not a finite number"),
        ("sNaN", "not a finite number"),
        ("inf", "not a finite number"),
        ("-Infinity", "not a finite number"),
        ("-0.01", "negative"),
        (-1, "negative"),
        ("1000000000000000", "too large"),
        ("1" * 400, "too large"),
        ("0.1234567890123", "decimal places"),
        # what Decimal reads but a person did not mean (issue 11 item 6)
        ("1_000", "not a number"),
        ("1_5", "not a number"),
        ("\uff11\uff12", "not a number"),  # full-width 12
        ("\u0663", "not a number"),  # Arabic-Indic 3
        ("1e5", "not a number"),
        ("1E+2", "not a number"),
        ("1.5e3", "not a number"),
        ("+5", "not a number"),
        (".5", "not a number"),
        ("5.", "not a number"),
        ("- 5", "not a number"),
    ],
)
def test_parse_amount_refuses_with_a_reason(given_, reason):
    try:
        parse_amount(given_)
    except ValueError as exc:
        assert reason in str(exc)
    except Exception as exc:  # anything else escapes the callers' `except ValueError`
        raise AssertionError(f"parse_amount({given_!r}) raised {exc!r}") from None
    else:
        raise AssertionError(f"parse_amount({given_!r}) accepted it")


def test_parse_amount_allows_negative_when_asked():
    assert parse_amount("-12.50", allow_negative=True) == Decimal("-12.50")
    assert format_amount(parse_amount("-10", allow_negative=True)) == "-10"


def test_negative_amounts_too_large_are_refused_as_well():
    with pytest.raises(ValueError, match="too large"):
        parse_amount("-" + "9" * 400, allow_negative=True)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (Decimal("0.1"), "0.1"),
        (Decimal("1E+2"), "100"),
        (Decimal("1E-12"), "0.000000000001"),
        (Decimal("-3.50"), "-3.50"),
        (Decimal("12345678901234567890123456789012345"), "12345678901234567890123456789012345"),
    ],
)
def test_format_amount_never_uses_scientific_notation(value, text):
    assert format_amount(value) == text


def test_canonical_drops_a_positive_exponent_only():
    assert canonical(Decimal("1E+3")).as_tuple() == Decimal("1000").as_tuple()
    assert canonical(Decimal("1.50")).as_tuple() == Decimal("1.50").as_tuple()
    assert canonical(Decimal("1E-3")).as_tuple() == Decimal("0.001").as_tuple()


@pytest.mark.parametrize(
    ("code", "expected"), [("EUR", "EUR"), ("eur", "EUR"), (" usd ", "USD"), ("Chf", "CHF")]
)
def test_check_currency_accepts_iso_4217(code, expected):
    assert check_currency(code) == expected


@pytest.mark.parametrize("code", ["EURO", "EU", "", "ZZZ", "€", "E R", 978, None, "GR"])
def test_check_currency_refuses_anything_else(code):
    with pytest.raises(ValueError, match="ISO 4217"):
        check_currency(code)


@pytest.mark.parametrize(("code", "expected"), [("GR", "GR"), ("gr", "GR"), (" de ", "DE")])
def test_check_country_accepts_iso_3166(code, expected):
    assert check_country(code) == expected


@pytest.mark.parametrize("code", ["GRC", "G", "", "ZZ", 30, None, "EU "])
def test_check_country_refuses_anything_else(code):
    with pytest.raises(ValueError, match="ISO 3166"):
        check_country(code)


# --- a store round trip on the test backend ------------------------------------------------


def amount_texts(max_places: int = 12):
    """Plain decimal texts below 10**15 (the largest amount) with up to MAX_PLACES decimal
    places."""
    integer = st.integers(min_value=0, max_value=10**15 - 1).map(str)
    fraction = st.text(alphabet="0123456789", max_size=max_places)
    return st.tuples(integer, fraction).map(lambda t: f"{t[0]}.{t[1]}" if t[1] else t[0])


@pytest.fixture
def price_item_slot(engine):
    """A product in a price list: rows of price_list_item can be written for it."""
    with write_session(engine) as session:
        org = Organisation(name="Distributor", kind="root", currency="EUR", country="GR")
        session.add(org)
        session.flush()
        product = Product(org_id=org.id, sku="P", name="P", platform="other")
        price_list = PriceList(org_id=org.id, name="L", currency="EUR")
        session.add_all([product, price_list])
        session.flush()
        return {"price_list_id": price_list.id, "product_id": product.id, "unit": "monthly"}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(written=amount_texts())
def test_any_amount_survives_the_store_exactly(engine, price_item_slot, written):
    """Through the migrated `price_list_item.price` column, on SQLite or PostgreSQL."""
    revision = next(_revisions)
    amount = parse_amount(written)
    item = PriceListItem.__table__
    with write_session(engine) as session:
        session.execute(
            insert(item).values(**price_item_slot, price=amount, from_revision=revision)
        )
    with engine.connect() as conn:
        back = conn.execute(
            select(item.c.price).where(item.c.from_revision == revision)
        ).scalar_one()
    assert isinstance(back, Decimal)
    assert back == Decimal(written)
    assert format_amount(back) == format_amount(amount)  # the scale too: 1.10 stays 1.10


_revisions = itertools.count(1)
