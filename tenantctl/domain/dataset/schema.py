"""The schema of a data set: the keys of each section and how each value is read."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tenantctl import config
from tenantctl.domain import fields
from tenantctl.domain.fields import ACCOUNT_KINDS, ASSET_KINDS, PAYMENT_METHODS
from tenantctl.store.models import (
    Account,
    Contact,
    Organisation,
    PriceList,
    Product,
    SyncRecord,
)

SECTIONS = ("organisation", "products", "price_lists", "accounts", "subscriptions", "assets")
SYNC_STATUSES = ("synced", "pending", "failed")
SUBSCRIPTION_STATUSES = ("active", "inactive", "suspended", "cancelled")
ASSET_STATUSES = ("active", "expired", "cancelled")

_describe = fields.describe
_length = fields.length


def _text(max_length: int | None = None, *, note: bool = False) -> Callable[[Any], str]:
    return lambda value: fields.text(value, max_length, note=note)


def _sku(value: Any) -> str:
    return fields.sku(value, _length(Product, "sku"))


def _choice(options: Iterable[str]) -> Callable[[Any], str]:
    options = tuple(options)
    return lambda value: fields.choice(value, options)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {_describe(value)}")
    return value


def _email(max_length: int | None) -> Callable[[Any], str]:
    return lambda value: fields.email(value, max_length)


def _timezone(value: Any) -> str:
    return fields.timezone(value, _length(Organisation, "timezone"))


# Characteristics are a few names and values; far more is an alias bomb or a mistake, and
# `subscription show` prints them whole.
MAX_CHARACTERISTICS = 1000  # values (keys, items and scalars), aliases expanded
MAX_CHARACTERISTICS_TEXT = 65536  # characters of text, aliases expanded


def _characteristics(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping of names to values, not {_describe(value)}")
    budget = [MAX_CHARACTERISTICS, MAX_CHARACTERISTICS_TEXT]
    return _plain(value, budget)


def _plain(value: Any, budget: list[int]) -> Any:
    """VALUE as plain JSON: numbers keep their exact text unless they are whole.

    BUDGET is what is left of the values and characters allowed; text holds no NUL or
    other control character (a line break and a tab are allowed).
    """
    budget[0] -= 1
    if isinstance(value, str):
        budget[1] -= len(value)
    if budget[0] < 0 or budget[1] < 0:
        raise ValueError(
            f"is too large: at most {MAX_CHARACTERISTICS} values and "
            f"{MAX_CHARACTERISTICS_TEXT} characters (aliases count each time "
            "they are used)"
        )
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"the key {_describe(key)} must be text")
            fields.check_controls(key)
        return {key: _plain(item, budget) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, budget) for item in value]
    if isinstance(value, str):
        return fields.check_controls(value, note=True)
    if isinstance(value, bool) or value is None:
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
        "billing_day": _opt(fields.billing_day, 1),
        "payment_method": _opt(_choice(PAYMENT_METHODS), "invoice"),
        "credit_limit": _opt(fields.amount),
        "invoicing_options": _opt(_text(length(Account, "invoicing_options"))),
        "separate_invoices": _opt(_boolean, False),
    }
    return {
        # a key left out keeps the store's value (see ORGANISATION_DEFAULTS for a new root)
        "organisation": {
            "name": _req(_text(length(Organisation, "name"))),
            "currency": _opt(fields.currency),
            "country": _opt(fields.country),
            "language": _opt(_text(length(Organisation, "language"))),
            "timezone": _opt(_timezone),
            "date_format": _opt(_text(length(Organisation, "date_format"))),
        },
        "products": {
            "sku": _req(_sku),
            "name": _req(_text(length(Product, "name"))),
            "platform": _req(_choice(platforms)),
            "type": _opt(_text(length(Product, "product_type")), "service"),
            "units": _Field(_choice(units), required=True, kind="values"),
            "add_on_of": _opt(_sku),
            "description": _opt(_text(note=True)),
            "category": _opt(_text(length(Product, "category"))),
        },
        "price_lists": {
            "name": _req(_text(length(PriceList, "name"))),
            "currency": _req(fields.currency),
            "items": _Field(
                default=list,
                kind="list",
                schema={
                    "sku": _req(_sku),
                    "unit": _req(_choice(units)),
                    "price": _req(fields.amount),
                },
            ),
        },
        "accounts": {
            "code": _req(fields.code),
            "name": _req(_text(length(Account, "name"))),
            "kind": _opt(_choice(ACCOUNT_KINDS), "customer"),
            "bill_to": _opt(fields.code),
            "ordering_enabled": _opt(_boolean, True),
            # currency and country default to the organisation's (filled in after reading)
            "currency": _opt(fields.currency),
            "country": _opt(fields.country),
            "accounting_number": _opt(_text(length(Account, "accounting_number"))),
            "email": _opt(_email(length(Account, "email"))),
            "billing_address": _opt(_text(length(Account, "billing_address"), note=True)),
            "pricing": _Field(kind="map", schema=pricing),
            "contacts": _Field(default=list, kind="list", schema=contact),
            "sync": _Field(default=list, kind="list", schema=sync),
        },
        "subscriptions": {
            "code": _req(fields.code),
            "account": _req(fields.code),
            "sku": _req(_sku),
            "unit": _req(_choice(units)),
            "quantity": _req(fields.quantity),
            "price": _req(fields.amount),
            "currency": _opt(fields.currency),
            "status": _opt(_choice(SUBSCRIPTION_STATUSES), "active"),
            "start_date": _req(fields.date),
            "auto_renew": _opt(_boolean, True),
            "trial": _opt(_boolean, False),
            "add_ons": _Field(
                default=list,
                kind="list",
                schema={
                    "sku": _req(_sku),
                    "quantity": _opt(fields.quantity, 1),
                },
            ),
            "characteristics": _opt(_characteristics, dict),
        },
        "assets": {
            "code": _req(fields.code),
            "account": _req(fields.code),
            "sku": _req(_sku),
            "kind": _req(_choice(ASSET_KINDS)),
            "quantity": _req(fields.quantity),
            "purchase_date": _req(fields.date),
            "status": _opt(_choice(ASSET_STATUSES), "active"),
            "characteristics": _opt(_characteristics, dict),
        },
    }
