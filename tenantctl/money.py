"""Money and currency: Decimal from text, never float; ISO 4217 codes."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

# What people and spreadsheets write: ASCII digits, at most one decimal point. Python's
# Decimal would also read `1_000`, `1e5`, full-width `１２` and Arabic-Indic `٣`.
_WRITTEN = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


def parse_amount(text: object, *, allow_negative: bool = False) -> Decimal:
    """Parse an amount from its text exactly; raise ValueError with a reason.

    Text is ASCII `digits[.digits]` (a leading `-` when ALLOW_NEGATIVE): no exponent, no
    `_` separator, no other digits, so a typo such as `1_5` is never read as 15. A float
    is refused on purpose: it would already have lost the exact value.
    """
    if isinstance(text, bool | float):
        raise ValueError(f"{text!r} is not an exact amount (write it as text)")
    if isinstance(text, Decimal):
        value = text
    elif isinstance(text, int):
        value = Decimal(text)
    elif isinstance(text, str):
        if not _WRITTEN.fullmatch(text.strip()):
            if text.strip().lower().lstrip("+-") in ("nan", "snan", "inf", "infinity"):
                raise ValueError(f"{text!r} is not a finite number")
            raise ValueError(
                f"{text!r} is not a number written with the digits 0-9 and "
                "at most one decimal point (such as 20.60)"
            )
        value = Decimal(text.strip())
    else:
        raise ValueError(f"{text!r} is not a number")
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    if value < 0 and not allow_negative:
        raise ValueError(f"{text!r} is negative")
    if value.copy_abs() >= MAX_AMOUNT:
        raise ValueError(f"{text!r} is too large (amounts stay below {MAX_AMOUNT:,})")
    if -value.as_tuple().exponent > MAX_DECIMALS:
        raise ValueError(f"{text!r} has more than {MAX_DECIMALS} decimal places")
    return canonical(value)


# No price, limit or total of this business comes near it; far larger is a typo.
MAX_AMOUNT = 10**15
# Real catalogues (cloud unit prices) carry up to 12 decimal places.
MAX_DECIMALS = 12


def canonical(value: Decimal) -> Decimal:
    """The same amount without exponent notation (`1E+2` becomes `100`) or a negative zero;
    the scale is kept (`20.60` stays `20.60`)."""
    if value.is_zero():
        return value.copy_abs()
    if value.as_tuple().exponent > 0:
        return Decimal(int(value))
    return value


def format_amount(value: Decimal | None) -> str:
    """Amount as plain text for people and JSON (never scientific notation)."""
    if value is None:
        return ""
    return format(canonical(value), "f")


def check_currency(code: object) -> str:
    """Return the ISO 4217 code, upper-cased, or raise ValueError."""
    return _check_code(code, "currencies", 3, "ISO 4217 currency code")


def check_country(code: object) -> str:
    """Return the ISO 3166 alpha-2 country code, upper-cased, or raise ValueError."""
    return _check_code(code, "countries", 2, "ISO 3166 country code")


def _check_code(code: object, table: str, length: int, what: str) -> str:
    """CODE upper-cased when pycountry's TABLE has it as its `alpha_LENGTH` code; else
    ValueError saying it is not a WHAT."""
    if not isinstance(code, str) or len(code.strip()) != length:
        raise ValueError(f"{code!r} is not an {what}")
    code = code.strip().upper()
    import pycountry  # loaded on first use: the CLI's start-up needs none of it

    if getattr(pycountry, table).get(**{f"alpha_{length}": code}) is None:
        raise ValueError(f"{code!r} is not an {what}")
    return code


# ISO 4217 minor units of the currencies that do not have two (every other code has 2).
_MINOR_UNITS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def minor_units(currency: str) -> int:
    """Decimal places of CURRENCY's minor unit, from the ISO 4217 table (EUR 2, JPY 0,
    KWD 3)."""
    return _MINOR_UNITS.get(check_currency(currency), 2)


def round_money(value: Decimal | Fraction | int, currency: str) -> Decimal:
    """VALUE rounded once, half up (ties away from zero, so a credit mirrors its charge), to
    CURRENCY's minor unit. The one place money is rounded."""
    places = minor_units(currency)
    if isinstance(value, Fraction):
        # Exact: scale, then round the rational half away from zero by integers alone.
        scaled = value * 10**places
        sign = -1 if scaled < 0 else 1
        whole, rest = divmod(abs(scaled.numerator), scaled.denominator)
        if 2 * rest >= scaled.denominator:
            whole += 1
        return canonical(Decimal(sign * whole).scaleb(-places))
    quantum = Decimal(1).scaleb(-places)
    return canonical(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))
