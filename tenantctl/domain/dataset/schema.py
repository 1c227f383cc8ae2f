"""The schema of a data set: the keys of each section and how each value is read."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from tenantctl import config
from tenantctl.domain.accounts import PAYMENT_METHODS
from tenantctl.domain.dataset.yamlfile import YamlInt
from tenantctl.money import check_country, check_currency, parse_amount
from tenantctl.store.models import (
    Account,
    Asset,
    Contact,
    Organisation,
    PriceList,
    Product,
    Subscription,
    SyncRecord,
)

SECTIONS = ("organisation", "products", "price_lists", "accounts", "subscriptions", "assets")
ACCOUNT_KINDS = ("customer", "reseller")
SYNC_STATUSES = ("synced", "pending", "failed")
SUBSCRIPTION_STATUSES = ("active", "inactive", "suspended", "cancelled")
ASSET_KINDS = ("software-subscription", "azure-reservation")
ASSET_STATUSES = ("active", "expired", "cancelled")

def _describe(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, YamlInt):
        return f"the number {value.text}"
    if isinstance(value, int | Decimal):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _length(model, column: str) -> int | None:
    return getattr(model.__table__.c[column].type, "length", None)


def _text(max_length: int | None = None) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            hint = " (put it in quotes)" if isinstance(value, bool | int | Decimal) else ""
            raise ValueError(f"must be text, not {_describe(value)}{hint}")
        value = value.strip()
        if not value:
            raise ValueError("is empty")
        if max_length is not None and len(value) > max_length:
            raise ValueError(f"is longer than {max_length} characters")
        return value
    return parse


def _choice(options: Iterable[str]) -> Callable[[Any], str]:
    options = tuple(options)

    def parse(value: Any) -> str:
        text = _text()(value)
        if text not in options:
            raise ValueError(f"{text!r} is not one of {', '.join(options)}")
        return text
    return parse


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {_describe(value)}")
    return value


def _whole(value: Any) -> int | None:
    """VALUE as an int when it is a whole number written in decimal, else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    text = getattr(value, "text", str(value))
    # YAML 1.1 would read 010 as octal 8, 0x10 as 16 and 1:30 as 90: refuse the surprise
    if not re.fullmatch(r"[-+]?(0|[1-9][0-9_]*)", text):
        return None
    return int(value)


def _positive(value: Any) -> int:
    number = _whole(value)
    if number is None and isinstance(value, YamlInt):
        raise ValueError(f"{value.text} is not a positive integer written in decimal "
                         f"(YAML reads it as {int(value)})")
    if number is None or number < 1:
        shown = str(value) if isinstance(value, int | Decimal) and not isinstance(value, bool) \
            else _describe(value)
        raise ValueError(f"{shown} is not a positive integer")
    return number


def _between(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        number = _whole(value)
        if number is None:
            raise ValueError(f"must be a whole number from {low} to {high}, "
                             f"not {_describe(value)}")
        if not low <= number <= high:
            raise ValueError(f"{number} is not between {low} and {high}")
        return number
    return parse


def _amount(value: Any) -> Decimal:
    if isinstance(value, YamlInt):
        value = value.text
    elif isinstance(value, Decimal):
        value = str(value)  # the text as written, so a message shows what the file says
    elif not isinstance(value, str) or isinstance(value, bool):
        raise ValueError(f"must be an amount such as 20.60, not {_describe(value)}")
    return parse_amount(value)


def _currency(value: Any) -> str:
    return check_currency(_text()(value))


def _country(value: Any) -> str:
    # `country: NO` is the boolean false in YAML 1.1: _text asks for quotes
    return check_country(_text()(value))


def _date(value: Any) -> date:
    if not isinstance(value, str):
        raise ValueError(f"must be a date written YYYY-MM-DD, not {_describe(value)}")
    text = value.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(f"{text!r} is not a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date ({exc})") from None


def _email(max_length: int | None) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _text(max_length)(value)
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
            raise ValueError(f"{text!r} is not an e-mail address")
        return text
    return parse


def _timezone(value: Any) -> str:
    text = _text(_length(Organisation, "timezone"))(value)
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{text!r} is not a time zone (such as Europe/Athens)") from None
    return text


def _characteristics(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping of names to values, not {_describe(value)}")
    return _plain(value)


def _plain(value: Any) -> Any:
    """VALUE as plain JSON: numbers keep their exact text unless they are whole."""
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"the key {_describe(key)} must be text")
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Decimal):
        return str(value)
    raise ValueError(f"{_describe(value)} cannot be stored")


@dataclass(frozen=True)
class _Field:
    """How one key of a mapping is read: a value, a nested mapping, or a list."""

    parse: Callable[[Any], Any] | None = None
    required: bool = False
    default: Any = None  # a callable default (list, dict) makes a fresh value each time
    kind: str = "value"  # value | map | list (of mappings) | values (list of plain values)
    schema: dict[str, _Field] | None = None


def _req(parse: Callable[[Any], Any]) -> _Field:
    return _Field(parse, required=True)


def _opt(parse: Callable[[Any], Any], default: Any = None) -> _Field:
    return _Field(parse, default=default)


def schemas() -> dict[str, dict[str, _Field]]:
    """The keys of each section of a data set and how each is read."""
    platforms = tuple(config.platforms())
    units = config.units()
    length = _length
    contact = {
        "name": _req(_text(length(Contact, "name"))),
        "email": _opt(_email(length(Contact, "email"))),
        "phone": _opt(_text(length(Contact, "phone"))),
        "role": _opt(_text(length(Contact, "role"))),
    }
    sync = {
        "platform": _req(_choice(platforms)),
        "status": _opt(_choice(SYNC_STATUSES), "synced"),
        "external_id": _opt(_text(length(SyncRecord, "external_id"))),
    }
    pricing = {
        "price_list": _opt(_text(length(PriceList, "name"))),
        "billing_day": _opt(_between(1, 28), 1),
        "payment_method": _opt(_choice(PAYMENT_METHODS), "invoice"),
        "credit_limit": _opt(_amount),
        "invoicing_options": _opt(_text(length(Account, "invoicing_options"))),
        "separate_invoices": _opt(_boolean, False),
    }
    return {
        # a key left out keeps the store's value (see ORGANISATION_DEFAULTS for a new root)
        "organisation": {
            "name": _req(_text(length(Organisation, "name"))),
            "currency": _opt(_currency),
            "country": _opt(_country),
            "language": _opt(_text(length(Organisation, "language"))),
            "timezone": _opt(_timezone),
            "date_format": _opt(_text(length(Organisation, "date_format"))),
        },
        "products": {
            "sku": _req(_text(length(Product, "sku"))),
            "name": _req(_text(length(Product, "name"))),
            "platform": _req(_choice(platforms)),
            "type": _opt(_text(length(Product, "product_type")), "service"),
            "units": _Field(_choice(units), required=True, kind="values"),
            "add_on_of": _opt(_text(length(Product, "sku"))),
            "description": _opt(_text()),
            "category": _opt(_text(length(Product, "category"))),
        },
        "price_lists": {
            "name": _req(_text(length(PriceList, "name"))),
            "currency": _req(_currency),
            "items": _Field(default=list, kind="list", schema={
                "sku": _req(_text(length(Product, "sku"))),
                "unit": _req(_choice(units)),
                "price": _req(_amount),
            }),
        },
        "accounts": {
            "code": _req(_text(length(Account, "code"))),
            "name": _req(_text(length(Account, "name"))),
            "kind": _opt(_choice(ACCOUNT_KINDS), "customer"),
            "bill_to": _opt(_text(length(Account, "code"))),
            "ordering_enabled": _opt(_boolean, True),
            # currency and country default to the organisation's (filled in after reading)
            "currency": _opt(_currency),
            "country": _opt(_country),
            "accounting_number": _opt(_text(length(Account, "accounting_number"))),
            "email": _opt(_email(length(Account, "email"))),
            "billing_address": _opt(_text(length(Account, "billing_address"))),
            "pricing": _Field(kind="map", schema=pricing),
            "contacts": _Field(default=list, kind="list", schema=contact),
            "sync": _Field(default=list, kind="list", schema=sync),
        },
        "subscriptions": {
            "code": _req(_text(length(Subscription, "code"))),
            "account": _req(_text(length(Account, "code"))),
            "sku": _req(_text(length(Product, "sku"))),
            "unit": _req(_choice(units)),
            "quantity": _req(_positive),
            "price": _req(_amount),
            "currency": _opt(_currency),
            "status": _opt(_choice(SUBSCRIPTION_STATUSES), "active"),
            "start_date": _req(_date),
            "auto_renew": _opt(_boolean, True),
            "trial": _opt(_boolean, False),
            "add_ons": _Field(default=list, kind="list", schema={
                "sku": _req(_text(length(Product, "sku"))),
                "quantity": _opt(_positive, 1),
            }),
            "characteristics": _opt(_characteristics, dict),
        },
        "assets": {
            "code": _req(_text(length(Asset, "code"))),
            "account": _req(_text(length(Account, "code"))),
            "sku": _req(_text(length(Product, "sku"))),
            "kind": _req(_choice(ASSET_KINDS)),
            "quantity": _req(_positive),
            "purchase_date": _req(_date),
            "status": _opt(_choice(ASSET_STATUSES), "active"),
            "characteristics": _opt(_characteristics, dict),
        },
    }
