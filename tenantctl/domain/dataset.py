"""The distributor's data set: one YAML file with the root organisation, its products,
price lists, accounts, subscriptions and assets, loaded idempotently by code.

The whole file is checked, and its references resolved against the file and the store,
before anything is written; every problem names the file, the line and the field, and
any problem means nothing is written. Loading then makes the store match what the file
names: new rows are created, changed rows updated, equal rows left alone (so a second
load of the same file changes nothing). What the file does not name is never touched.
The format is described in README.md ("The data set format").
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlmodel import Session

from tenantctl import config
from tenantctl.domain.accounts import PAYMENT_METHODS
from tenantctl.domain.catalogue import (
    PriceListDiff,
    PriceRow,
    diff_items,
    ensure_products,
    latest_revision,
    listed_items,
    record_revision,
)
from tenantctl.errors import BadInput, Refused, input_problem
from tenantctl.money import check_country, check_currency, parse_amount
from tenantctl.store.models import (
    Account,
    Asset,
    Contact,
    Organisation,
    PriceList,
    PriceListRevision,
    Product,
    ProductUnit,
    Subscription,
    SubscriptionAddon,
    SyncRecord,
    utcnow,
)

SECTIONS = ("organisation", "products", "price_lists", "accounts", "subscriptions", "assets")
ACCOUNT_KINDS = ("customer", "reseller")
SYNC_STATUSES = ("synced", "pending", "failed")
SUBSCRIPTION_STATUSES = ("active", "inactive", "suspended", "cancelled")
ASSET_KINDS = ("software-subscription", "azure-reservation")
ASSET_STATUSES = ("active", "expired", "cancelled")
# a new root organisation: None means the file must give it
ORGANISATION_DEFAULTS = {"currency": None, "country": None, "language": "en",
                         "timezone": "UTC", "date_format": "YYYY-MM-DD"}
_BATCH = 1000


# --- YAML that remembers lines and never goes through float ------------------------------

class YamlMap(dict):
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""

    line: int
    lines: dict[Any, int]
    duplicates: list[tuple[Any, int, int]]  # (key, line, line of its first occurrence)


class YamlList(list):
    """A YAML sequence that remembers its own line and the line of each item."""

    line: int
    lines: list[int]


class YamlInt(int):
    """An integer that remembers how it was written: YAML 1.1 reads `010` as 8."""

    text: str


_YamlBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
_TAG = "tag:yaml.org,2002:"
_MERGE = object()  # the `<<` key of a merge
_ConstructorError = yaml.constructor.ConstructorError
_ComposerError = yaml.composer.ComposerError


class LineLoader(_YamlBase):
    """PyYAML's safe loader for data sets: values that remember their lines, exact numbers.

    Mappings and sequences remember the line of each key and item (the event's
    `start_mark.line + 1`); `1.50` becomes Decimal("1.50") from its text (a float would
    already have lost the exact price); `2024-01-31` stays text, so a bad date is reported
    by the field that holds it rather than as a YAML error.

    `build()` makes the document straight from the parser's events instead of composing
    PyYAML's node graph first: on a 60,000-row data set the node graph alone costs four
    times the whole parse, and most of the memory. Scanning, parsing, tag resolution and
    errors (with their marks) are PyYAML's own.
    """

    def build(self) -> Any:
        """The stream's single document (None for an empty stream)."""
        self._anchors: dict[str, Any] = {}
        self.get_event()  # StreamStartEvent
        if self.check_event(yaml.StreamEndEvent):
            return None
        document = self.get_event()
        value = self._value(self.get_event())
        self.get_event()  # DocumentEndEvent
        if not self.check_event(yaml.StreamEndEvent):
            extra = self.get_event()
            raise _ComposerError("expected a single document in the stream",
                                 document.start_mark, "but found another document",
                                 extra.start_mark)
        return value

    def _value(self, event: yaml.Event) -> Any:
        kind = type(event)
        if kind is yaml.AliasEvent:
            if event.anchor not in self._anchors:  # also an alias inside its own anchor
                raise _ComposerError(None, None, f"found undefined alias {event.anchor!r}",
                                     event.start_mark)
            return self._anchors[event.anchor]
        if kind is yaml.ScalarEvent:
            value = self._scalar(event)
        elif kind is yaml.MappingStartEvent:
            value = self._mapping(event)
        elif kind is yaml.SequenceStartEvent:
            value = self._sequence(event)
        else:
            raise _ComposerError(None, None, f"unexpected {kind.__name__}", event.start_mark)
        if event.anchor is not None:
            if event.anchor in self._anchors:
                raise _ComposerError(None, None, f"found duplicate anchor {event.anchor!r}",
                                     event.start_mark)
            self._anchors[event.anchor] = value
        return value

    def _unsupported(self, tag: str, event: yaml.Event) -> _ConstructorError:
        return _ConstructorError(None, None, f"the tag {tag!r} is not supported in a data set",
                                 event.start_mark)

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        tag, text = event.tag, event.value
        if tag is None or tag == "!":
            tag = self.resolve(yaml.ScalarNode, text, event.implicit)
        if tag == _TAG + "str":
            return text
        try:
            if tag == _TAG + "int":
                node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark)
                value = YamlInt(self.construct_yaml_int(node))
                value.text = text
                return value
            if tag == _TAG + "bool":
                return self.bool_values[text.lower()]
        except (ValueError, KeyError):
            raise _ConstructorError(None, None, f"{text!r} is not a valid {tag}",
                                    event.start_mark) from None
        if tag == _TAG + "float":
            try:
                return Decimal(text)
            except InvalidOperation:
                return text  # `.inf`, `.nan`, `1:30.5`: left as text, refused by the field
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "merge":
            return _MERGE
        raise self._unsupported(tag, event)

    def _mapping(self, start: yaml.MappingStartEvent) -> YamlMap:
        if start.tag not in (None, "!", _TAG + "map"):
            raise self._unsupported(start.tag, start)
        result = YamlMap()
        result.line = start.start_mark.line + 1
        lines: dict[Any, int] = {}
        result.lines, result.duplicates = lines, []
        merges = []
        while not self.check_event(yaml.MappingEndEvent):
            key_event = self.get_event()
            key = self._value(key_event)
            value = self._value(self.get_event())
            line = key_event.start_mark.line + 1
            if key is _MERGE:
                merges.append((value, key_event))
                continue
            try:
                seen = key in lines
            except TypeError:
                raise _ConstructorError("while constructing a mapping", start.start_mark,
                                        "found a key that is not a plain value",
                                        key_event.start_mark) from None
            if seen:
                result.duplicates.append((key, line, lines[key]))
                continue
            result[key] = value
            lines[key] = line
        self.get_event()
        # `<<: *defaults` (or a list of them): keys of the mapping itself win, then the
        # first merged mapping that has the key, as in PyYAML
        for value, key_event in merges:
            for source in value if isinstance(value, YamlList) else [value]:
                if not isinstance(source, YamlMap):
                    raise _ConstructorError("while constructing a mapping", start.start_mark,
                                            "a merge (<<) takes a mapping or a list of them",
                                            key_event.start_mark)
                for key, item in source.items():
                    if key not in lines:
                        result[key] = item
                        lines[key] = key_event.start_mark.line + 1
        return result

    def _sequence(self, start: yaml.SequenceStartEvent) -> YamlList:
        if start.tag not in (None, "!", _TAG + "seq"):
            raise self._unsupported(start.tag, start)
        result = YamlList()
        result.line = start.start_mark.line + 1
        lines: list[int] = []
        result.lines = lines
        while not self.check_event(yaml.SequenceEndEvent):
            event = self.get_event()
            lines.append(event.start_mark.line + 1)
            result.append(self._value(event))
        self.get_event()
        return result


LineLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TAG + "timestamp"]
    for first, resolvers in _YamlBase.yaml_implicit_resolvers.items()
}


def load_yaml(text: str, label: str) -> Any:
    """Parse TEXT with LineLoader; malformed YAML is BadInput naming the file and line."""
    loader = None
    try:
        loader = LineLoader(text)
        return loader.build()
    except RecursionError:
        problem = input_problem(label, None, "syntax", "not valid YAML: nested too deeply")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = ", ".join(p for p in (exc.context, exc.problem) if p)
        problem = input_problem(label, mark.line + 1 if mark else None, "syntax",
                                f"not valid YAML: {reason}")
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1
        problem = input_problem(label, line, "syntax",
                                f"not valid YAML: character {exc.character!r} is not allowed")
    except yaml.YAMLError as exc:
        problem = input_problem(label, None, "syntax", f"not valid YAML: {exc}")
    finally:
        if loader is not None:
            loader.dispose()
    raise BadInput(f"{label}: not a valid YAML file; nothing was loaded", [problem])


# --- checking values ---------------------------------------------------------------------

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


# --- reading a data set ------------------------------------------------------------------

class Problems:
    """Every problem found, each `file:line: field: message`, reported in line order."""

    def __init__(self, label: str):
        self.label = label
        self._found: list[tuple[int, int, str]] = []

    def add(self, line: int | None, path: str, message: str) -> None:
        self._found.append((line or 0, len(self._found),
                            input_problem(self.label, line, path, message)))

    def at(self, entry: Entry, key: str, message: str) -> None:
        line, path = entry.where(key)
        self.add(line, path, message)

    def __bool__(self) -> bool:
        return bool(self._found)

    def __len__(self) -> int:
        return len(self._found)

    def messages(self) -> list[str]:
        return [text for *_, text in sorted(self._found)]

    def raise_if_any(self) -> None:
        if self._found:
            raise BadInput(f"{self.label}: {len(self._found)} problem(s); nothing was loaded",
                           self.messages())


@dataclass
class Entry:
    """One mapping of the file after checking: its valid values and where each key is.

    A value that failed its check is absent from `values` (its problem is recorded), so
    later checks that need it skip it instead of reporting the same mistake again.
    Nested keys are dotted: `pricing.billing_day`.
    """

    path: str
    line: int
    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def has(self, *keys: str) -> bool:
        return all(key in self.values for key in keys)

    def where(self, key: str) -> tuple[int, str]:
        return self.lines.get(key, self.line), f"{self.path}.{key}"


@dataclass
class DataSet:
    """A data set file, read and checked on its own (references to the store not yet)."""

    label: str
    organisation: Entry | None
    products: list[Entry]
    price_lists: list[Entry]
    accounts: list[Entry]
    subscriptions: list[Entry]
    assets: list[Entry]
    problems: Problems


def _unknown_key(key: Any, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(allowed)}"
    return f"unknown key {key!r} ({hint})"


def _read_entry(value: Any, path: str, line: int, schema: dict[str, _Field],
                problems: Problems) -> Entry | None:
    if not isinstance(value, YamlMap):
        problems.add(line, path, f"must be a mapping with the keys {', '.join(schema)}, "
                                 f"not {_describe(value)}")
        return None
    entry = Entry(path, value.line)
    _read_fields(value, path, schema, entry, "", problems)
    return entry


def _read_fields(mapping: YamlMap, path: str, schema: dict[str, _Field], entry: Entry,
                 prefix: str, problems: Problems) -> None:
    for key, line, first in mapping.duplicates:
        problems.add(line, f"{path}.{key}", f"is given twice (first on line {first})")
    for key in mapping:
        if key not in schema:
            problems.add(mapping.lines[key], f"{path}.{key}", _unknown_key(key, schema))
    for name, spec in schema.items():
        key, where = prefix + name, f"{path}.{name}"
        line = mapping.lines.get(name, mapping.line)
        entry.lines[key] = line
        raw = mapping.get(name)
        if spec.kind == "map":
            if raw is None:  # an absent section means every key of it takes its default
                raw = YamlMap()
                raw.line, raw.lines, raw.duplicates = line, {}, []
            if not isinstance(raw, YamlMap):
                problems.add(line, where, f"must be a mapping with the keys "
                                          f"{', '.join(spec.schema)}, not {_describe(raw)}")
                continue
            _read_fields(raw, where, spec.schema, entry, key + ".", problems)
            continue
        if raw is None:
            if spec.required:
                problems.add(line, where, "is empty" if name in mapping else "is required")
            else:
                entry.values[key] = spec.default() if callable(spec.default) else spec.default
            continue
        if spec.kind in ("list", "values"):
            if not isinstance(raw, YamlList):
                problems.add(line, where, f"must be a list, not {_describe(raw)}")
                continue
            items = []
            for index, item in enumerate(raw):
                item_path, item_line = f"{where}[{index}]", raw.lines[index]
                if spec.kind == "list":
                    sub = _read_entry(item, item_path, item_line, spec.schema, problems)
                    if sub is not None:
                        items.append(sub)
                    continue
                try:
                    items.append((spec.parse(item), item_line, item_path))
                except ValueError as exc:
                    problems.add(item_line, item_path, str(exc))
            entry.values[key] = items
            continue
        try:
            entry.values[key] = spec.parse(raw)
        except ValueError as exc:
            problems.add(line, where, str(exc))


def read_dataset(path: Path) -> DataSet:
    """Read and check a data set file on its own; every problem names the file, line and field."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise BadInput(f"{label}: cannot read the file ({exc.strerror})") from None
    return parse_dataset(text, label)


def parse_dataset(text: str, label: str) -> DataSet:
    """Check TEXT as a data set named LABEL: its shape, its values, its own duplicates.

    Malformed YAML raises BadInput at once; every other problem is collected in the
    result's `problems` so the store checks can add theirs before anything is refused.
    """
    doc = load_yaml(text, label)
    problems = Problems(label)
    section_schemas = schemas()
    data = DataSet(label, None, [], [], [], [], [], problems)
    if not isinstance(doc, YamlMap):
        problems.add(1, "document", f"must be a mapping with the keys {', '.join(SECTIONS)}, "
                                    f"not {_describe(doc)}")
        return data
    for key, line, first in doc.duplicates:
        problems.add(line, str(key), f"is given twice (first on line {first})")
    for key in doc:
        if key not in SECTIONS:
            problems.add(doc.lines[key], str(key), _unknown_key(key, SECTIONS))
    if doc.get("organisation") is None:
        problems.add(doc.lines.get("organisation", 1), "organisation",
                     "is required: the root organisation the data set belongs to")
    else:
        data.organisation = _read_entry(doc["organisation"], "organisation",
                                        doc.lines["organisation"], section_schemas["organisation"],
                                        problems)
    for section in SECTIONS[1:]:
        raw = doc.get(section)
        if raw is None:
            continue
        if not isinstance(raw, YamlList):
            problems.add(doc.lines[section], section, f"must be a list, not {_describe(raw)}")
            continue
        entries = getattr(data, section)
        for index, item in enumerate(raw):
            entry = _read_entry(item, f"{section}[{index}]", raw.lines[index],
                                section_schemas[section], problems)
            if entry is not None:
                entries.append(entry)
    _check_within_file(data)
    return data


def _unique(entries: Iterable[Entry], key: str, what: str, problems: Problems
            ) -> dict[Any, Entry]:
    first: dict[Any, Entry] = {}
    for entry in entries:
        if key not in entry.values:
            continue
        value = entry.values[key]
        if value in first:
            problems.at(entry, key, f"{what} {value!r} is given twice "
                                    f"(first on line {first[value].where(key)[0]})")
        else:
            first[value] = entry
    return first


def _check_within_file(data: DataSet) -> None:
    problems = data.problems
    _unique(data.products, "sku", "product", problems)
    _unique(data.price_lists, "name", "price list", problems)
    _unique(data.accounts, "code", "account", problems)
    _unique(data.subscriptions, "code", "subscription", problems)
    _unique(data.assets, "code", "asset", problems)
    for product in data.products:
        seen: dict[str, int] = {}
        for unit, line, path in product.get("units", []):
            if unit in seen:
                problems.add(line, path, f"{unit!r} is listed twice (first on line {seen[unit]})")
            seen.setdefault(unit, line)
        if "units" in product.values and not product.values["units"]:
            problems.at(product, "units", "must list at least one billing unit")
    for price_list in data.price_lists:
        seen_items: dict[tuple, int] = {}
        for item in price_list.get("items", []):
            if not item.has("sku", "unit"):
                continue
            key = (item.values["sku"], item.values["unit"])
            if key in seen_items:
                problems.at(item, "sku", f"{key[0]} / {key[1]} is listed twice in this price "
                                         f"list (first on line {seen_items[key]})")
            seen_items.setdefault(key, item.line)
    for account in data.accounts:
        _unique(account.get("sync", []), "platform", "platform", problems)
        if account.get("bill_to") is not None and account.get("bill_to") == account.get("code"):
            problems.at(account, "bill_to", "an account cannot be billed to itself")
    for subscription in data.subscriptions:
        _unique(subscription.get("add_ons", []), "sku", "add-on", problems)


# --- the result --------------------------------------------------------------------------

@dataclass
class EntityCounts:
    """How many rows of one kind a load created, updated and left unchanged."""

    entity: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class LoadResult:
    """What loading a data set did (with dry_run: what it would do; nothing was written)."""

    file: str
    organisation: str
    dry_run: bool
    changed: bool
    counts: list[EntityCounts]
    revisions: dict[str, int]  # price list name -> the revision this load made


# --- loading into the store --------------------------------------------------------------

def load_dataset(session: Session, path: Path, *, dry_run: bool = False,
                 replace_price_lists: bool = False) -> LoadResult:
    """Load the data set at PATH into the store, idempotently by code, or change nothing.

    Everything is checked (the file, and its references against the file and the store)
    before anything is written; any problem raises BadInput listing every problem.
    With DRY_RUN the counts are those a load would report and nothing is written. A price
    list whose current revision was not made by a load (`pricelist import`, `set-price`)
    is not revised back to the file's items (Refused) unless REPLACE_PRICE_LISTS.
    """
    loader = _Loader(session, read_dataset(path))
    loader.replace_price_lists = replace_price_lists
    return loader.run(dry_run=dry_run)


@dataclass
class _Plan:
    """The rows one kind of entity needs: to create, to update (with store ids), unchanged."""

    create: list[Entry] = field(default_factory=list)
    update: list[tuple[Entry, int]] = field(default_factory=list)
    unchanged: int = 0

    def counts(self, entity: str) -> EntityCounts:
        return EntityCounts(entity, len(self.create), len(self.update), self.unchanged)


class _Loader:
    """One load: read the store's side, check references, plan, then write set-wise."""

    def __init__(self, session: Session, data: DataSet):
        self.session = session
        self.data = data
        self.problems = data.problems
        self.label = data.label
        self.org: Organisation | None = None
        self.org_id = -1
        # by code, first occurrences only: a duplicate is already a problem
        self.products = _first_by(data.products, "sku")
        self.price_lists = _first_by(data.price_lists, "name")
        self.accounts = _first_by(data.accounts, "code")
        self.subscriptions = _first_by(data.subscriptions, "code")
        self.assets = _first_by(data.assets, "code")
        # per price list name: the items listed in the store, the file's, and their diff
        self.store_items: dict[str, dict] = {}
        self.items_wanted: dict[str, dict[tuple[str, str], PriceRow]] = {}
        self.diffs: dict[str, PriceListDiff] = {}
        self.contacts_to_replace: set[str] = set()
        self.sync_to_replace: set[str] = set()
        self.add_ons_to_replace: set[str] = set()

    # -- the store's side --

    def _read_store(self) -> None:
        self.org = self.session.execute(
            select(Organisation).where(Organisation.kind == "root").order_by(Organisation.id)
        ).scalars().first()
        if self.org is not None:
            self.org_id = self.org.id
        org_id = self.org_id  # -1 while there is no root yet: nothing to find
        p, u = Product.__table__, ProductUnit.__table__
        parent = p.alias("parent")
        self.store_products = {
            r.sku: r for r in self.session.execute(
                select(p.c.id, p.c.sku, p.c.name, p.c.platform, p.c.product_type,
                       p.c.description, p.c.category, parent.c.sku.label("add_on_of"))
                .select_from(p.outerjoin(parent, parent.c.id == p.c.add_on_of_id))
                .where(p.c.org_id == org_id))
        }
        self.store_units: dict[str, set[str]] = {}
        for sku, unit in self.session.execute(
                select(p.c.sku, u.c.unit).join(p, p.c.id == u.c.product_id)
                .where(u.c.org_id == org_id)):
            self.store_units.setdefault(sku, set()).add(unit)
        pl = PriceList.__table__
        self.store_price_lists = {
            r.name: r for r in self.session.execute(
                select(pl.c.id, pl.c.name, pl.c.currency).where(pl.c.org_id == org_id))
        }
        wanted = set(self.accounts)
        wanted.update(e.values["bill_to"] for e in self.data.accounts if e.get("bill_to"))
        wanted.update(e.values["account"] for e in (*self.data.subscriptions, *self.data.assets)
                      if e.has("account"))
        a, pl = Account.__table__, PriceList.__table__
        bill_to = a.alias("bill_to")
        stmt = (select(a, bill_to.c.code.label("bill_to_code"),
                       pl.c.name.label("price_list_name"))
                .select_from(a.outerjoin(bill_to, bill_to.c.id == a.c.bill_to_id)
                             .outerjoin(pl, pl.c.id == a.c.price_list_id))
                .where(a.c.org_id == org_id))
        self.store_accounts = {r.code: r for r in _rows_in(self.session, stmt, a.c.code, wanted)}
        s = Subscription.__table__
        stmt = (select(s, a.c.code.label("account_code"), p.c.sku.label("sku"))
                .join(a, a.c.id == s.c.account_id).join(p, p.c.id == s.c.product_id)
                .where(s.c.org_id == org_id))
        self.store_subscriptions = {r.code: r for r in _rows_in(self.session, stmt, s.c.code,
                                                                self.subscriptions)}
        t = Asset.__table__
        stmt = (select(t, a.c.code.label("account_code"), p.c.sku.label("sku"))
                .join(a, a.c.id == t.c.account_id).join(p, p.c.id == t.c.product_id)
                .where(t.c.org_id == org_id))
        self.store_assets = {r.code: r for r in _rows_in(self.session, stmt, t.c.code,
                                                         self.assets)}

    # -- what a code means, the file first and then the store --

    def product(self, sku: str) -> dict | None:
        """Platform, units and add-on parent of SKU as they will be after the load."""
        stored = self.store_products.get(sku)
        units = set(self.store_units.get(sku, ()))
        entry = self.products.get(sku)
        if entry is not None:
            # units are only ever added: one the file leaves out stays in the store
            units.update(unit for unit, _, _ in entry.get("units", []))
            return {"platform": entry.get("platform"), "units": units,
                    "add_on_of": entry.get("add_on_of"), "name": entry.get("name")}
        if stored is not None:
            return {"platform": stored.platform, "units": units,
                    "add_on_of": stored.add_on_of, "name": stored.name}
        return None

    def account(self, code: str) -> dict | None:
        """Kind, currency and billing day of account CODE as they will be after the load."""
        stored = self.store_accounts.get(code)
        entry = self.accounts.get(code)
        if entry is not None:
            return {"kind": entry.get("kind"), "currency": entry.get("currency"),
                    "billing_day": entry.get("pricing.billing_day"),
                    "managed": stored.managed_by_org_id if stored is not None else None}
        if stored is not None:
            return {"kind": stored.kind, "currency": stored.currency,
                    "billing_day": stored.billing_day, "managed": stored.managed_by_org_id}
        return None

    def price_list_currency(self, name: str) -> str | None | bool:
        """The currency of price list NAME; False when there is no such list."""
        if name in self.price_lists:
            return self.price_lists[name].get("currency")
        if name in self.store_price_lists:
            return self.store_price_lists[name].currency
        return False

    # -- checks against file and store --

    def _check_organisation(self) -> None:
        """Fill in what the organisation leaves out: the store's values, or the defaults."""
        entry = self.data.organisation
        if entry is None:
            return
        if self.org is not None and entry.has("name") and entry.values["name"] != self.org.name:
            self.problems.at(entry, "name",
                             f"the store's root organisation is {self.org.name!r}, not "
                             f"{entry.values['name']!r}: a data set adds to the store's root "
                             "organisation and must name it")
        for key, default in ORGANISATION_DEFAULTS.items():
            if key not in entry.values or entry.values[key] is not None:
                continue  # a bad value (already a problem), or given
            if self.org is not None:
                entry.values[key] = getattr(self.org, key)
            elif default is not None:
                entry.values[key] = default
            else:
                del entry.values[key]
                self.problems.at(entry, key, "is required to create the root organisation")
        for account in self.data.accounts:
            for key in ("currency", "country"):
                # absent (None) takes the organisation's; a bad value is not in `values`
                if key in account.values and account.values[key] is None:
                    if entry.has(key):
                        account.values[key] = entry.values[key]
                    else:
                        del account.values[key]

    def _check_products(self) -> None:
        for entry in self.data.products:
            sku = entry.get("sku")
            stored = self.store_products.get(sku)
            if stored is not None and entry.has("platform") \
                    and stored.platform != entry.values["platform"]:
                self.problems.at(entry, "platform",
                                 f"{sku} is a {stored.platform} product in the store; a "
                                 "product's platform cannot change")
            parent = entry.get("add_on_of")
            if parent is None or sku is None:
                continue
            if parent == sku:
                self.problems.at(entry, "add_on_of", "a product cannot be an add-on of itself")
            elif self.product(parent) is None:
                self.problems.at(entry, "add_on_of",
                                 f"no product {parent!r} in the file or the store")
            elif self._add_on_loop(sku):
                self.problems.at(entry, "add_on_of",
                                 f"{sku} would be an add-on of itself through {parent}")

    def _add_on_loop(self, sku: str) -> bool:
        seen = {sku}
        current = self.product(sku)
        while current is not None and current["add_on_of"] is not None:
            if current["add_on_of"] in seen:
                return True
            seen.add(current["add_on_of"])
            current = self.product(current["add_on_of"])
        return False

    def _check_sold_in(self, entry: Entry, sku_key: str = "sku", unit_key: str | None = "unit"
                       ) -> dict | None:
        """The product ENTRY names, after checking it exists and is sold in its unit."""
        sku = entry.get(sku_key)
        if sku is None:
            return None
        product = self.product(sku)
        if product is None:
            self.problems.at(entry, sku_key, f"no product {sku!r} in the file or the store")
            return None
        unit = entry.get(unit_key) if unit_key else None
        if unit is not None and unit not in product["units"]:
            sold = ", ".join(sorted(product["units"])) or "no unit"
            self.problems.at(entry, unit_key, f"{sku} is not sold {unit} (it is sold {sold})")
        return product

    def _check_price_lists(self) -> None:
        for entry in self.data.price_lists:
            stored = self.store_price_lists.get(entry.get("name"))
            currency = entry.get("currency")
            if stored is not None and currency is not None and stored.currency != currency:
                self.problems.at(entry, "currency",
                                 f"price list {stored.name!r} is in {stored.currency} in the "
                                 "store; a price list's currency cannot change")
            for item in entry.get("items", []):
                self._check_sold_in(item)
            if stored is None:
                continue
            listed = self.store_items[stored.name] = listed_items(self.session, stored.id)
            if "items" in entry.values and not entry.values["items"] and listed:
                self.problems.at(entry, "items",
                                 f"price list {stored.name!r} has {len(listed)} items in the "
                                 "store; a data set cannot empty it")

    def _check_accounts(self) -> None:
        for entry in self.data.accounts:
            code = entry.get("code")
            name = entry.get("pricing.price_list")
            if name is not None:
                currency = self.price_list_currency(name)
                if currency is False:
                    self.problems.at(entry, "pricing.price_list",
                                     f"no price list {name!r} in the file or the store")
                elif currency and entry.get("currency") and currency != entry.get("currency"):
                    self.problems.at(entry, "pricing.price_list",
                                     f"price list {name!r} is in {currency} but the account "
                                     f"is billed in {entry.get('currency')}")
            target = entry.get("bill_to")
            if target is not None and target != code:
                billed_to = self.account(target)
                if billed_to is None:
                    self.problems.at(entry, "bill_to",
                                     f"no account {target!r} in the file or the store")
                elif billed_to["kind"] is not None and billed_to["kind"] != "reseller":
                    self.problems.at(entry, "bill_to",
                                     f"{target} is a {billed_to['kind']}, not a reseller")
        self._check_account_changes()

    def _check_account_changes(self) -> None:
        """Changes the store's other rows forbid: currency under subscriptions, lost resellers."""
        recurrency, demoted = {}, {}
        for code, entry in self.accounts.items():
            stored = self.store_accounts.get(code)
            if stored is None:
                continue
            if entry.get("currency") not in (None, stored.currency):
                recurrency[stored.id] = (entry, stored)
            if stored.kind == "reseller" and entry.get("kind") == "customer":
                demoted[stored.id] = entry
        if recurrency:
            s = Subscription.__table__
            stmt = select(s.c.account_id, func.count()).group_by(s.c.account_id)
            for account_id, count in _rows_in(self.session, stmt, s.c.account_id, recurrency):
                entry, stored = recurrency[account_id]
                self.problems.at(entry, "currency",
                                 f"{stored.code} has {count} subscription(s) in "
                                 f"{stored.currency}; an account's currency cannot change")
        if demoted:
            a = Account.__table__
            stmt = select(a.c.bill_to_id, a.c.code).where(a.c.org_id == self.org_id)
            for bill_to_id, code in _rows_in(self.session, stmt, a.c.bill_to_id, demoted):
                if code not in self.accounts:  # a file account gets its own bill_to checked
                    self.problems.at(demoted[bill_to_id], "kind",
                                     f"account {code} in the store is billed to it, so it "
                                     "must stay a reseller")

    def _check_sales(self) -> None:
        for entry in (*self.data.subscriptions, *self.data.assets):
            code = entry.get("account")
            account = self.account(code) if code is not None else None
            if code is not None and account is None:
                self.problems.at(entry, "account",
                                 f"no account {code!r} in the file or the store")
            is_subscription = entry.path.startswith("subscriptions")
            product = self._check_sold_in(entry, unit_key="unit" if is_subscription else None)
            section = "subscription" if is_subscription else "asset"
            stored = (self.store_subscriptions if is_subscription else self.store_assets
                      ).get(entry.get("code"))
            if stored is not None:
                for key, before in (("account", stored.account_code), ("sku", stored.sku)):
                    if entry.get(key) not in (None, before):
                        self.problems.at(entry, key,
                                         f"{section} {stored.code} is for {before} in the "
                                         f"store; its {key} cannot change (cancel it and "
                                         "add a new one)")
            if not is_subscription:
                continue
            currency = entry.get("currency")
            if currency is not None and account is not None and account["currency"] \
                    and currency != account["currency"]:
                self.problems.at(entry, "currency",
                                 f"a subscription is in its account's currency: {code} is "
                                 f"billed in {account['currency']}, not {currency}")
            for add_on in entry.get("add_ons", []):
                child = self._check_sold_in(add_on, unit_key=None)
                if child is not None and product is not None and entry.has("sku") \
                        and child["add_on_of"] != entry.values["sku"]:
                    self.problems.at(add_on, "sku", f"{add_on.values['sku']} is not an "
                                                    f"add-on of {entry.values['sku']}")

    # -- plans: what differs from the store --

    def _plan_organisation(self) -> str:
        entry = self.data.organisation
        wanted = {k: entry.values[k] for k in ("name", "currency", "country", "language",
                                               "timezone", "date_format")}
        self.org_wanted = wanted
        if self.org is None:
            return "created"
        if any(getattr(self.org, k) != v for k, v in wanted.items()):
            return "updated"
        return "unchanged"

    def _product_extra(self, entry: Entry) -> dict:
        return {"product_type": entry.values["type"],
                "description": entry.values["description"],
                "category": entry.values["category"]}

    def _plan_products(self) -> _Plan:
        plan = _Plan()
        for sku, entry in self.products.items():
            stored = self.store_products.get(sku)
            if stored is None:
                plan.create.append(entry)
                continue
            units = {unit for unit, _, _ in entry.values["units"]}
            same = (stored.name == entry.values["name"]
                    and stored.add_on_of == entry.values["add_on_of"]
                    and units <= self.store_units.get(sku, set())
                    and {k: getattr(stored, k) for k in ("product_type", "description",
                                                         "category")}
                    == self._product_extra(entry))
            if same:
                plan.unchanged += 1
            else:
                plan.update.append((entry, stored.id))
        return plan

    def _price_items(self, entry: Entry) -> dict[tuple[str, str], PriceRow]:
        items = {}
        for item in entry.values["items"]:
            sku, unit = item.values["sku"], item.values["unit"]
            product = self.product(sku)
            items[(sku, unit)] = PriceRow(sku, product["name"], product["platform"], unit,
                                          item.values["price"], line=item.line)
        return items

    def _plan_price_lists(self) -> _Plan:
        plan = _Plan()
        for name, entry in self.price_lists.items():
            self.items_wanted[name] = self._price_items(entry)
            self.diffs[name] = diff_items(self.store_items.get(name, {}), self.items_wanted[name])
            stored = self.store_price_lists.get(name)
            if stored is None:
                plan.create.append(entry)
            elif not self.diffs[name].empty:
                plan.update.append((entry, stored.id))
            else:
                plan.unchanged += 1
        return plan

    def _account_wanted(self, entry: Entry) -> dict:
        v = entry.values
        return {
            "name": v["name"], "kind": v["kind"], "bill_to": v["bill_to"],
            "ordering_enabled": v["ordering_enabled"], "currency": v["currency"],
            "country": v["country"], "accounting_number": v["accounting_number"],
            "email": v["email"], "billing_address": v["billing_address"],
            "price_list": v["pricing.price_list"], "billing_day": v["pricing.billing_day"],
            "payment_method": v["pricing.payment_method"],
            "credit_limit": v["pricing.credit_limit"],
            "invoicing_options": v["pricing.invoicing_options"],
            "separate_invoices": v["pricing.separate_invoices"],
        }

    @staticmethod
    def _account_stored(row) -> dict:
        return {
            "name": row.name, "kind": row.kind, "bill_to": row.bill_to_code,
            "ordering_enabled": row.ordering_enabled, "currency": row.currency,
            "country": row.country, "accounting_number": row.accounting_number,
            "email": row.email, "billing_address": row.billing_address,
            "price_list": row.price_list_name, "billing_day": row.billing_day,
            "payment_method": row.payment_method, "credit_limit": row.credit_limit,
            "invoicing_options": row.invoicing_options,
            "separate_invoices": row.separate_invoices,
        }

    @staticmethod
    def _contacts_wanted(entry: Entry) -> list[tuple]:
        return [(c.values["name"], c.values["email"], c.values["phone"], c.values["role"])
                for c in entry.values["contacts"]]

    @staticmethod
    def _sync_wanted(entry: Entry) -> list[tuple]:
        return sorted((s.values["platform"], s.values["status"], s.values["external_id"])
                      for s in entry.values["sync"])

    def _plan_accounts(self) -> _Plan:
        plan = _Plan()
        stored_ids = {self.store_accounts[c].id for c in self.accounts if c in
                      self.store_accounts}
        contacts: dict[int, list[tuple]] = {}
        c = Contact.__table__
        stmt = select(c.c.account_id, c.c.name, c.c.email, c.c.phone, c.c.role).order_by(c.c.id)
        for account_id, *values in _rows_in(self.session, stmt, c.c.account_id, stored_ids):
            contacts.setdefault(account_id, []).append(tuple(values))
        syncs: dict[int, list[tuple]] = {}
        s = SyncRecord.__table__
        stmt = select(s.c.account_id, s.c.platform, s.c.status, s.c.external_id)
        for account_id, *values in _rows_in(self.session, stmt, s.c.account_id, stored_ids):
            syncs.setdefault(account_id, []).append(tuple(values))
        for code, entry in self.accounts.items():
            stored = self.store_accounts.get(code)
            if stored is None:
                plan.create.append(entry)
                self.contacts_to_replace.add(code)
                self.sync_to_replace.add(code)
                continue
            same = self._account_wanted(entry) == self._account_stored(stored)
            if self._contacts_wanted(entry) != contacts.get(stored.id, []):
                self.contacts_to_replace.add(code)
                same = False
            if self._sync_wanted(entry) != sorted(syncs.get(stored.id, [])):
                self.sync_to_replace.add(code)
                same = False
            if same:
                plan.unchanged += 1
                continue
            plan.update.append((entry, stored.id))
            if stored.managed_by_org_id is not None:
                self.problems.at(entry, "code",
                                 f"account {code} is managed by its tenant reseller (a "
                                 "back-ordering record); change it in the tenant, not here")
        return plan

    def _subscription_wanted(self, entry: Entry) -> dict:
        v = entry.values
        account = self.account(v["account"])
        return {
            "account": v["account"], "sku": v["sku"], "unit": v["unit"],
            "quantity": v["quantity"], "unit_price": v["price"],
            "currency": account["currency"], "status": v["status"],
            "start_date": v["start_date"], "auto_renew": v["auto_renew"],
            "paid": not v["trial"], "billing_day": account["billing_day"],
            "characteristics": v["characteristics"],
        }

    @staticmethod
    def _add_ons_wanted(entry: Entry) -> list[tuple]:
        return sorted((a.values["sku"], a.values["quantity"]) for a in entry.values["add_ons"])

    def _plan_sales(self, entries: dict[str, Entry], stored_rows: dict, wanted: Callable,
                    what: str, add_ons: dict[int, list] | None = None) -> _Plan:
        """Plan subscriptions (with ADD_ONS, stored ones by subscription id) or assets."""
        plan = _Plan()
        for code, entry in entries.items():
            stored = stored_rows.get(code)
            if stored is None:
                plan.create.append(entry)
                if add_ons is not None:
                    self.add_ons_to_replace.add(code)
                same = False
            else:
                want = wanted(entry)
                # the stored row names its account and product by the joined codes
                same = all(getattr(stored, "account_code" if key == "account" else key) == value
                           for key, value in want.items())
                if add_ons is not None and self._add_ons_wanted(entry) != sorted(
                        add_ons.get(stored.id, [])):
                    self.add_ons_to_replace.add(code)
                    same = False
                if same:
                    plan.unchanged += 1
                else:
                    plan.update.append((entry, stored.id))
            if not same and (self.account(entry.values["account"]) or {}).get("managed"):
                self.problems.at(entry, "account",
                                 f"account {entry.values['account']} is managed by its tenant "
                                 f"reseller: its {what}s are back-ordering records and change "
                                 "only in the tenant")
        return plan

    def _plan_subscriptions(self) -> _Plan:
        stored_ids = [r.id for r in self.store_subscriptions.values()]
        add_ons: dict[int, list] = {}
        sa, p = SubscriptionAddon.__table__, Product.__table__
        stmt = (select(sa.c.subscription_id, p.c.sku, sa.c.quantity)
                .join(p, p.c.id == sa.c.product_id))
        for subscription_id, sku, quantity in _rows_in(self.session, stmt,
                                                       sa.c.subscription_id, stored_ids):
            add_ons.setdefault(subscription_id, []).append((sku, quantity))
        return self._plan_sales(self.subscriptions, self.store_subscriptions,
                                self._subscription_wanted, "subscription", add_ons)

    def _asset_wanted(self, entry: Entry) -> dict:
        v = entry.values
        return {"account": v["account"], "sku": v["sku"], "kind": v["kind"],
                "quantity": v["quantity"], "purchase_date": v["purchase_date"],
                "status": v["status"], "characteristics": v["characteristics"]}

    def _plan_assets(self) -> _Plan:
        return self._plan_sales(self.assets, self.store_assets, self._asset_wanted, "asset")

    # -- the whole load --

    def run(self, *, dry_run: bool) -> LoadResult:
        """Check everything, plan, and (unless DRY_RUN) write; BadInput lists every problem."""
        self._read_store()
        self._check_organisation()
        self._check_products()
        self._check_price_lists()
        self._check_accounts()
        self._check_sales()
        # plans compare complete entries only, so they wait for a file without problems
        self.problems.raise_if_any()
        org_state = self._plan_organisation()
        plans = {
            "products": self._plan_products(),
            "price lists": self._plan_price_lists(),
            "accounts": self._plan_accounts(),
            "subscriptions": self._plan_subscriptions(),
            "assets": self._plan_assets(),
        }
        self.problems.raise_if_any()  # the plans refuse changes to back-ordering records
        if not self.replace_price_lists:
            self._refuse_rolling_back_price_lists()
        counts = [EntityCounts("organisation", **{org_state: 1})]
        counts += [plan.counts(entity) for entity, plan in plans.items()]
        revisions = {}
        for name, diff in self.diffs.items():
            if not diff.empty:
                stored = self.store_price_lists.get(name)
                previous = latest_revision(self.session, stored.id) if stored else None
                revisions[name] = (previous or 0) + 1
        if not dry_run:
            self._write_organisation(org_state)
            self._write_products(plans["products"])
            revisions = self._write_price_lists(plans["price lists"])
            self._write_accounts(plans["accounts"])
            self._write_subscriptions(plans["subscriptions"])
            self._write_assets(plans["assets"])
        changed = any(c.created or c.updated for c in counts)
        return LoadResult(self.label, self.org_wanted["name"], dry_run, changed, counts,
                          revisions)

    # -- writing --

    def _write_organisation(self, state: str) -> None:
        if state == "created":
            self.org = Organisation(kind="root", **self.org_wanted)
            self.session.add(self.org)
            self.session.flush()
        elif state == "updated":
            for key, value in self.org_wanted.items():
                setattr(self.org, key, value)
            self.session.flush()
        self.org_id = self.org.id

    def _write_products(self, plan: _Plan) -> None:
        changed = plan.create + [entry for entry, _ in plan.update]
        if changed:
            rows = [PriceRow(e.values["sku"], e.values["name"], e.values["platform"], unit,
                             Decimal(0), e.values["add_on_of"], e.values["type"], e.line)
                    for e in changed for unit, _, _ in e.values["units"]]
            ensure_products(self.session, self.org, rows, self.label)
        self.product_ids = _ids(self.session, Product.__table__, "sku", self.org_id,
                                self._skus_referenced())
        # ensure_products keeps names, units and add-ons; the other fields are the loader's
        extra = []
        for entry in changed:
            stored = self.store_products.get(entry.values["sku"])
            before = ({k: getattr(stored, k) for k in ("product_type", "description",
                                                      "category")}
                      if stored is not None else
                      {"product_type": entry.values["type"], "description": None,
                       "category": None})
            if before != self._product_extra(entry):
                extra.append({"id": self.product_ids[entry.values["sku"]],
                              **self._product_extra(entry)})
        _update_by_id(self.session, Product.__table__, extra)

    def _skus_referenced(self) -> set[str]:
        skus = set(self.products)
        for items in self.items_wanted.values():
            skus.update(sku for sku, _ in items)
        for entry in (*self.data.subscriptions, *self.data.assets):
            skus.add(entry.values["sku"])
            skus.update(a.values["sku"] for a in entry.get("add_ons", []))
        return skus

    replace_price_lists = False

    def _refuse_rolling_back_price_lists(self) -> None:
        """A load would undo a newer revision made by `pricelist import` or `set-price`."""
        newer = []
        for name, diff in sorted(self.diffs.items()):
            stored = self.store_price_lists.get(name)
            if diff.empty or stored is None:
                continue
            source = self.session.execute(
                select(PriceListRevision.source)
                .where(PriceListRevision.price_list_id == stored.id)
                .order_by(PriceListRevision.number.desc()).limit(1)).scalar()
            if source is not None and not source.endswith((".yaml", ".yml")):
                newer.append(f"{name!r} (its current revision came from {source})")
        if newer:
            raise Refused(f"{self.label}: loading it would revise back {', '.join(newer)}; "
                          "nothing was loaded (--replace-price-lists replaces them with "
                          "the file's)")

    def _write_price_lists(self, plan: _Plan) -> dict[str, int]:
        revisions = {}
        created = [{"org_id": self.org_id, "name": e.values["name"],
                    "currency": e.values["currency"], "created_at": utcnow()}
                   for e in plan.create]
        _insert_batched(self.session, PriceList.__table__, created)
        changed = [e for e in plan.create if not self.diffs[e.values["name"]].empty]
        changed += [e for e, _ in plan.update]
        if changed:
            lists = {pl.name: pl for pl in self.session.execute(
                select(PriceList).where(PriceList.org_id == self.org_id,
                                        PriceList.name.in_([e.values["name"] for e in changed]))
            ).scalars()}
            for entry in changed:
                name = entry.values["name"]
                _, number, _ = record_revision(self.session, lists[name],
                                               self.items_wanted[name], self.product_ids,
                                               source=self.label)
                if number is not None:
                    revisions[name] = number
        self.price_list_ids = _ids(self.session, PriceList.__table__, "name", self.org_id,
                                   {e.values["pricing.price_list"] for e in self.data.accounts
                                    if e.values["pricing.price_list"]})
        return revisions

    def _account_row(self, entry: Entry) -> dict:
        want = self._account_wanted(entry)
        price_list = want.pop("price_list")
        want.pop("bill_to")
        return {**want, "price_list_id": self.price_list_ids[price_list] if price_list else None}

    def _write_accounts(self, plan: _Plan) -> None:
        a = Account.__table__
        now = utcnow()
        _insert_batched(self.session, a, [
            {"org_id": self.org_id, "code": e.values["code"], "bill_to_id": None,
             "created_at": now, **self._account_row(e)} for e in plan.create])
        codes = set(self.accounts)
        codes.update(e.values["account"] for e in (*self.data.subscriptions, *self.data.assets))
        codes.update(e.values["bill_to"] for e in self.accounts.values() if e.values["bill_to"])
        self.account_ids = _ids(self.session, a, "code", self.org_id, codes)

        def bill_to_id(entry: Entry) -> int | None:
            target = entry.values["bill_to"]
            return self.account_ids[target] if target else None

        # new accounts get their bill_to once every account of the file has an id
        _update_by_id(self.session, a, [
            {"id": self.account_ids[e.values["code"]], "bill_to_id": bill_to_id(e)}
            for e in plan.create if e.values["bill_to"]])
        _update_by_id(self.session, a, [
            {"id": account_id, "bill_to_id": bill_to_id(e), **self._account_row(e)}
            for e, account_id in plan.update])
        self._replace_children(
            Contact.__table__, self.contacts_to_replace,
            lambda e: [{"name": n, "email": m, "phone": p, "role": r}
                       for n, m, p, r in self._contacts_wanted(e)])
        self._replace_children(
            SyncRecord.__table__, self.sync_to_replace,
            lambda e: [{"platform": p, "status": s, "external_id": x}
                       for p, s, x in self._sync_wanted(e)])

    def _replace_children(self, table, codes: set[str], rows_of: Callable) -> None:
        ids = [self.account_ids[code] for code in codes]
        for chunk in _chunks(ids, _BATCH):
            self.session.execute(delete(table).where(table.c.account_id.in_(chunk)))
        _insert_batched(self.session, table, [
            {"account_id": self.account_ids[code], **row}
            for code in sorted(codes) for row in rows_of(self.accounts[code])])

    def _subscription_row(self, entry: Entry) -> dict:
        want = self._subscription_wanted(entry)
        return {**{k: v for k, v in want.items() if k not in ("account", "sku")},
                "account_id": self.account_ids[want["account"]],
                "product_id": self.product_ids[want["sku"]]}

    def _write_subscriptions(self, plan: _Plan) -> None:
        s = Subscription.__table__
        now = utcnow()
        _insert_batched(self.session, s, [
            {"org_id": self.org_id, "code": e.values["code"], "created_at": now,
             **self._subscription_row(e)} for e in plan.create])
        _update_by_id(self.session, s, [
            {"id": subscription_id, **self._subscription_row(e)}
            for e, subscription_id in plan.update])
        entries = self.subscriptions
        ids = _ids(self.session, s, "code", self.org_id, self.add_ons_to_replace)
        sa = SubscriptionAddon.__table__
        for chunk in _chunks(list(ids.values()), _BATCH):
            self.session.execute(delete(sa).where(sa.c.subscription_id.in_(chunk)))
        _insert_batched(self.session, sa, [
            {"subscription_id": ids[code], "product_id": self.product_ids[sku],
             "quantity": quantity}
            for code in sorted(self.add_ons_to_replace)
            for sku, quantity in self._add_ons_wanted(entries[code])])

    def _asset_row(self, entry: Entry) -> dict:
        want = self._asset_wanted(entry)
        return {**{k: v for k, v in want.items() if k not in ("account", "sku")},
                "account_id": self.account_ids[want["account"]],
                "product_id": self.product_ids[want["sku"]]}

    def _write_assets(self, plan: _Plan) -> None:
        t = Asset.__table__
        now = utcnow()
        _insert_batched(self.session, t, [
            {"org_id": self.org_id, "code": e.values["code"], "created_at": now,
             **self._asset_row(e)} for e in plan.create])
        _update_by_id(self.session, t, [
            {"id": asset_id, **self._asset_row(e)} for e, asset_id in plan.update])


# --- set-based helpers -------------------------------------------------------------------

def _first_by(entries: Iterable[Entry], key: str) -> dict[Any, Entry]:
    first: dict[Any, Entry] = {}
    for entry in entries:
        if key in entry.values:
            first.setdefault(entry.values[key], entry)
    return first


def _chunks(seq: list, size: int) -> Iterator[list]:
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


def _rows_in(session: Session, stmt, column, values: Iterable) -> Iterator:
    """Rows of STMT whose COLUMN is one of VALUES, asked in chunks the databases accept."""
    values = sorted(set(values), key=str)
    for chunk in _chunks(values, _BATCH):
        yield from session.execute(stmt.where(column.in_(chunk)))


def _ids(session: Session, table, key: str, org_id: int, values: Iterable) -> dict[Any, int]:
    stmt = select(table.c[key], table.c.id).where(table.c.org_id == org_id)
    return dict(_rows_in(session, stmt, table.c[key], values))


def _insert_batched(session: Session, table, rows: list[dict]) -> None:
    for chunk in _chunks(rows, _BATCH):
        session.execute(insert(table), chunk)


def _update_by_id(session: Session, table, rows: list[dict]) -> None:
    """UPDATE each row (a dict with `id` and the new values) as one executemany per batch."""
    if not rows:
        return
    columns = [key for key in rows[0] if key != "id"]
    # bind names must differ from column names inside an UPDATE's SET clause
    stmt = (update(table).where(table.c.id == bindparam("b_id"))
            .values({column: bindparam(f"b_{column}") for column in columns})
            .execution_options(synchronize_session=False))
    params = [{"b_id": row["id"], **{f"b_{c}": row[c] for c in columns}} for row in rows]
    for chunk in _chunks(params, _BATCH):
        session.execute(stmt, chunk)
