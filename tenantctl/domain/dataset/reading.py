"""Reading a data set file into checked entries, before the store is consulted."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenantctl.domain import fields
from tenantctl.domain.dataset.schema import SECTIONS, _describe, _Field, schemas
from tenantctl.domain.dataset.yamlfile import YamlList, YamlMap, load_yaml
from tenantctl.errors import BadInput, input_problem
from tenantctl.words import plural


class Problems:
    """Every problem found, each `file:line: field: message`, reported in line order."""

    def __init__(self, label: str):
        self.label = label
        self._found: list[tuple[int, int, str]] = []

    def add(self, line: int | None, path: str, message: str) -> None:
        self._found.append(
            (line or 0, len(self._found), input_problem(self.label, line, path, message))
        )

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
            raise BadInput(
                f"{self.label}: {plural(len(self._found), 'problem')}; nothing was loaded",
                self.messages(),
            )


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


def _read_entry(
    value: Any, path: str, line: int, schema: dict[str, _Field], problems: Problems
) -> Entry | None:
    if not isinstance(value, YamlMap):
        problems.add(
            line,
            path,
            f"must be a mapping with the keys {', '.join(schema)}, not {_describe(value)}",
        )
        return None
    entry = Entry(path, value.line)
    _read_fields(value, path, schema, entry, "", problems)
    return entry


def _read_fields(
    mapping: YamlMap,
    path: str,
    schema: dict[str, _Field],
    entry: Entry,
    prefix: str,
    problems: Problems,
) -> None:
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
                problems.add(
                    line,
                    where,
                    f"must be a mapping with the keys "
                    f"{', '.join(spec.schema)}, not {_describe(raw)}",
                )
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
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{label}: cannot read the file ({exc.strerror})") from None
    return parse_dataset(fields.decode_utf8(data, label), label)


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
        problems.add(
            1,
            "document",
            f"must be a mapping with the keys {', '.join(SECTIONS)}, not {_describe(doc)}",
        )
        return data
    for key, line, first in doc.duplicates:
        problems.add(line, str(key), f"is given twice (first on line {first})")
    for key in doc:
        if key not in SECTIONS:
            problems.add(doc.lines[key], str(key), _unknown_key(key, SECTIONS))
    if doc.get("organisation") is None:
        problems.add(
            doc.lines.get("organisation", 1),
            "organisation",
            "is required: the root organisation the data set belongs to",
        )
    else:
        data.organisation = _read_entry(
            doc["organisation"],
            "organisation",
            doc.lines["organisation"],
            section_schemas["organisation"],
            problems,
        )
    for section in SECTIONS[1:]:
        raw = doc.get(section)
        if raw is None:
            continue
        if not isinstance(raw, YamlList):
            problems.add(doc.lines[section], section, f"must be a list, not {_describe(raw)}")
            continue
        entries = getattr(data, section)
        for index, item in enumerate(raw):
            entry = _read_entry(
                item, f"{section}[{index}]", raw.lines[index], section_schemas[section], problems
            )
            if entry is not None:
                entries.append(entry)
    _check_within_file(data)
    return data


def _unique(entries: Iterable[Entry], key: str, what: str, problems: Problems) -> dict[Any, Entry]:
    first: dict[Any, Entry] = {}
    for entry in entries:
        if key not in entry.values:
            continue
        value = entry.values[key]
        if value in first:
            problems.at(
                entry,
                key,
                f"{what} {value!r} is given twice (first on line {first[value].where(key)[0]})",
            )
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
                problems.at(
                    item,
                    "sku",
                    f"{key[0]} / {key[1]} is listed twice in this price "
                    f"list (first on line {seen_items[key]})",
                )
            seen_items.setdefault(key, item.line)
    for account in data.accounts:
        _unique(account.get("sync", []), "platform", "platform", problems)
        if account.get("bill_to") is not None and account.get("bill_to") == account.get("code"):
            problems.at(account, "bill_to", "an account cannot be billed to itself")
    for subscription in data.subscriptions:
        _unique(subscription.get("add_ons", []), "sku", "add-on", problems)
