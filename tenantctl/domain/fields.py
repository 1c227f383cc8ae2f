"""One home for each field rule: codes, e-mail addresses, text, choices, quantities,
amounts, dates, time zones, currencies and countries.

Every entry point reads its values through these functions: the data-set loader, the
price-list CSV import, `account create | set`, `tenant create`, the sales commands and the
CLI's date options. So the same bad value is refused with the same words everywhere. Each
function takes the value as given and returns it checked and cleaned, or raises
ValueError with a reason that shows the value; the caller adds the file, line and field
(or the option) in front of it, and `option()` does that for a command-line option.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date as _date
from decimal import Decimal
from typing import Any, TypeVar

from tenantctl.errors import BadInput, input_problem
from tenantctl.money import check_country, check_currency, parse_amount

T = TypeVar("T")

ACCOUNT_KINDS = ("customer", "reseller")
EDITIONS = ("basic", "premium")
ASSET_KINDS = ("software-subscription", "azure-reservation")
PAYMENT_METHODS = ("invoice", "bank-transfer", "direct-debit", "credit-card")
# Every database's INTEGER holds it, and it is far beyond any real order.
MAX_QUANTITY = 10**9
BILLING_DAYS = (1, 28)

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
_WHOLE = re.compile(r"-?[0-9]+", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def describe(value: Any) -> str:
    """VALUE as a reader would name it in a message (`the number 3`, `the text 'x'`)."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    text = getattr(value, "text", None)  # a YAML number remembers how it was written
    if isinstance(value, int | Decimal):
        return f"the number {text if text is not None else value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def length(model, column: str) -> int | None:
    """The length a table model declares for COLUMN (None: unbounded text)."""
    return getattr(model.__table__.c[column].type, "length", None)


# Characters a line of text may hold besides printable ones: none; a note (an address, a
# description) may also break lines and use tabs. The characters of Unicode's categories
# Cc (controls) and Cs (surrogates), which are these
# ranges exactly (tests/test_fields.py checks them against unicodedata): one regular
# expression scans a value at C speed, where a loop over its characters did not.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NOTE_CONTROLS_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")  # not \t \n


def check_controls(text: str, *, note: bool = False) -> str:
    """TEXT when it holds no control character (a NOTE may break lines and use tabs)."""
    found = (_NOTE_CONTROLS_RE if note else _CONTROLS).search(text)
    if found:
        raise ValueError(f"{text!r} holds the control character {found.group()!r}")
    return text


def text(
    value: Any, max_length: int | None = None, *, required: bool = True, note: bool = False
) -> str:
    """VALUE as text, stripped: not empty (unless not REQUIRED), at most MAX_LENGTH
    characters, without control characters (a NOTE may hold line breaks and tabs)."""
    if not isinstance(value, str):
        hint = " (put it in quotes)" if isinstance(value, bool | int | Decimal) else ""
        raise ValueError(f"must be text, not {describe(value)}{hint}")
    value = value.strip()
    if required and not value:
        raise ValueError("is empty")
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"is longer than {max_length} characters")
    return check_controls(value, note=note)


def code(value: Any) -> str:
    """An account, subscription or asset code: 1-64 ASCII letters, digits, dots, dashes or
    underscores, starting with a letter or digit."""
    result = text(value)
    if not _CODE.fullmatch(result):
        raise ValueError(
            f"{result!r} is not a code: 1-64 letters, digits, dots, dashes or "
            "underscores, starting with a letter or digit"
        )
    return result


def sku(value: Any, max_length: int | None = None) -> str:
    """A product SKU: one line of text without control characters (real catalogues have
    SKUs with spaces: Microsoft's `DYN365_ ENTERPRISE _RELATIONSHIP_SALES`)."""
    return text(value, max_length)


def email(value: Any, max_length: int | None = None) -> str:
    """An e-mail address (`name@example.com`), at most MAX_LENGTH characters."""
    result = text(value)
    if not _EMAIL.fullmatch(result):
        raise ValueError(f"{result!r} is not an e-mail address")
    if max_length is not None and len(result) > max_length:
        raise ValueError(f"{result!r} is longer than {max_length} characters")
    return result


def choice(value: Any, options: Iterable[str]) -> str:
    """VALUE when it is one of OPTIONS."""
    options = tuple(options)
    result = text(value)
    if result not in options:
        raise ValueError(f"{result!r} is not one of {', '.join(options)}")
    return options[options.index(result)]  # the option itself: one string for many rows


def whole(value: Any) -> int | None:
    """VALUE as an int when it is a whole number written in ASCII decimal digits, else None.

    YAML 1.1 would read `010` as 8, `0x10` as 16, `1:30` as 90 and `1_000` as 1000; text
    may hold full-width or other non-ASCII digits: none of them is taken as a number.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        written = getattr(value, "text", str(value))
        return int(value) if re.fullmatch(r"[-+]?(0|[1-9][0-9]*)", written, re.ASCII) else None
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return int(value.strip())
    return None


def between(value: Any, low: int, high: int, what: str = "a whole number") -> int:
    """VALUE as a whole number from LOW to HIGH."""
    number = whole(value)
    if number is None:
        written = getattr(value, "text", None)
        if written is not None and not isinstance(value, bool):
            raise ValueError(
                f"must be {what} from {low} to {high} written in decimal, not "
                f"{written} (YAML reads it as {int(value)})"
            )
        raise ValueError(f"must be {what} from {low} to {high}, not {describe(value)}")
    if not low <= number <= high:
        raise ValueError(f"{number} is not {what} from {low} to {high}")
    return number


def quantity(value: Any, *, least: int = 1) -> int:
    """A quantity: a whole number from LEAST (1, or 0 to remove an add-on) to MAX_QUANTITY."""
    return between(value, least, MAX_QUANTITY, "a quantity")


def billing_day(value: Any) -> int:
    """A billing day: 1 to 28, so that every month has it."""
    return between(value, *BILLING_DAYS, "a billing day")


def amount(value: Any) -> Decimal:
    """An exact amount written `digits[.digits]` in ASCII (see money.parse_amount)."""
    written = getattr(value, "text", None)
    if written is not None:
        value = written  # a YAML number: the text as written
    elif isinstance(value, Decimal):
        value = str(value)
    elif not isinstance(value, str) or isinstance(value, bool):
        raise ValueError(f"must be an amount such as 20.60, not {describe(value)}")
    return parse_amount(value)


def date(value: Any) -> _date:
    """A calendar date written YYYY-MM-DD."""
    if not isinstance(value, str):
        raise ValueError(f"must be a date written YYYY-MM-DD, not {describe(value)}")
    written = value.strip()
    if not _DATE.fullmatch(written):
        raise ValueError(f"{written!r} is not a date in the form YYYY-MM-DD")
    try:
        return _date.fromisoformat(written)
    except ValueError as exc:
        raise ValueError(f"{written!r} is not a day of the calendar ({exc})") from None


def timezone(value: Any, max_length: int | None = 64) -> str:
    """An IANA time zone such as Europe/Athens."""
    import zoneinfo  # here: the CLI imports this module for its choices, at every start

    result = text(value, max_length)
    try:
        zoneinfo.ZoneInfo(result)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{result!r} is not a time zone (such as Europe/Athens)") from None
    return result


def currency(value: Any) -> str:
    """An ISO 4217 currency code, upper-cased."""
    return check_currency(text(value))


def country(value: Any) -> str:
    """An ISO 3166 alpha-2 country code, upper-cased (`NO` in YAML needs quotes)."""
    return check_country(text(value))


def key_value(
    value: Any, form: str, example: str, key: Callable[[Any], Any], item: Callable[[Any], Any]
) -> tuple[Any, Any]:
    """`KEY=VALUE` (FORM, such as `SKU=N` or `UNIT=PRICE`) read with KEY and ITEM."""
    written = value if isinstance(value, str) else ""
    name, equals, rest = written.partition("=")
    if not equals or not name.strip() or not rest.strip():
        raise ValueError(f"{value!r} is not written {form} (for example {example})")
    return key(name), item(rest)


def option(name: str, parse: Callable[..., T], value: Any, *args: Any, **kwargs: Any) -> T:
    """PARSE(VALUE) for the command-line option NAME: a bad value is BadInput naming it."""
    try:
        return parse(value, *args, **kwargs)
    except ValueError as exc:
        raise BadInput(f"{name}: {exc}") from None


def date_option(name: str, value: str | None) -> _date | None:
    """The date option NAME (None when not given); BadInput naming it when not a date."""
    return None if value is None else option(name, date, value)


def collect(
    problems: list[str],
    name: str,
    parse: Callable[..., T],
    value: Any,
    *args: Any,
    default: Any = None,
    **kwargs: Any,
) -> T:
    """PARSE(VALUE), or DEFAULT after adding `NAME: reason` to PROBLEMS."""
    try:
        return parse(value, *args, **kwargs)
    except ValueError as exc:
        problems.append(f"{name}: {exc}")
        return default


def decode_utf8(data: bytes, label: str) -> str:
    """DATA as UTF-8 text (a byte-order mark dropped); BadInput naming the line otherwise."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadInput(
            input_problem(
                label,
                line,
                "encoding",
                f"byte 0x{data[exc.start]:02x} is not valid UTF-8 (save the file as UTF-8)",
            )
        ) from None
