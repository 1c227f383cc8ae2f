"""The YAML reader of data sets: values that remember their lines, exact numbers."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import yaml

from tenantctl.errors import BadInput, input_problem


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
_DECIMAL = re.compile(r"[-+]?[0-9]+\.[0-9]+", re.ASCII)
# Aliases may repeat parts of a document (`<<: *defaults` on every row), not blow it up: a
# few hundred bytes of nested aliases would otherwise expand to gigabytes. What aliases
# bring in may reach the size of the document as written, plus this many values.
ALIAS_ALLOWANCE = 100_000
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
        self._sizes: dict[str, int] = {}  # anchor -> values it holds, aliases expanded
        self._written = 0  # values as written in the document
        self._expanded = 0  # values with every alias expanded
        self.get_event()  # StreamStartEvent
        if self.check_event(yaml.StreamEndEvent):
            return None
        document = self.get_event()
        value = self._value(self.get_event())
        self.get_event()  # DocumentEndEvent
        if not self.check_event(yaml.StreamEndEvent):
            extra = self.get_event()
            raise _ComposerError(
                "expected a single document in the stream",
                document.start_mark,
                "but found another document",
                extra.start_mark,
            )
        return value

    def _value(self, event: yaml.Event) -> Any:
        kind = type(event)
        if kind is yaml.AliasEvent:
            if event.anchor not in self._anchors:  # also an alias inside its own anchor
                raise _ComposerError(
                    None, None, f"found undefined alias {event.anchor!r}", event.start_mark
                )
            self._expanded += self._sizes[event.anchor]
            if self._expanded - self._written > self._written + ALIAS_ALLOWANCE:
                raise _ComposerError(
                    None,
                    None,
                    f"the alias *{event.anchor} makes the document "
                    "too large: aliases may at most double a data set",
                    event.start_mark,
                )
            return self._anchors[event.anchor]
        before = self._expanded
        self._written += 1
        self._expanded += 1
        if kind is yaml.ScalarEvent:
            value = self._scalar(event)
            weight = len(event.value) // 100  # a long text counts for more than one value
            self._written += weight
            self._expanded += weight
        elif kind is yaml.MappingStartEvent:
            value = self._mapping(event)
        elif kind is yaml.SequenceStartEvent:
            value = self._sequence(event)
        else:
            raise _ComposerError(None, None, f"unexpected {kind.__name__}", event.start_mark)
        if event.anchor is not None:
            if event.anchor in self._anchors:
                raise _ComposerError(
                    None, None, f"found duplicate anchor {event.anchor!r}", event.start_mark
                )
            self._anchors[event.anchor] = value
            self._sizes[event.anchor] = self._expanded - before
        return value

    def _unsupported(self, tag: str, event: yaml.Event) -> _ConstructorError:
        return _ConstructorError(
            None, None, f"the tag {tag!r} is not supported in a data set", event.start_mark
        )

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
            raise _ConstructorError(
                None, None, f"{text!r} is not a valid {tag}", event.start_mark
            ) from None
        if tag == _TAG + "float":
            if _DECIMAL.fullmatch(text):
                return Decimal(text)
            # `.inf`, `.nan`, `1:30.5`, `1_000.5`, `1.5e3`: left as text, refused by the field
            return text
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
                raise _ConstructorError(
                    "while constructing a mapping",
                    start.start_mark,
                    "found a key that is not a plain value",
                    key_event.start_mark,
                ) from None
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
                    raise _ConstructorError(
                        "while constructing a mapping",
                        start.start_mark,
                        "a merge (<<) takes a mapping or a list of them",
                        key_event.start_mark,
                    )
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
        problem = input_problem(
            label, mark.line + 1 if mark else None, "syntax", f"not valid YAML: {reason}"
        )
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        problem = input_problem(
            label, line, "syntax", f"not valid YAML: character {exc.character!r} is not allowed"
        )
    except yaml.YAMLError as exc:
        problem = input_problem(label, None, "syntax", f"not valid YAML: {exc}")
    finally:
        if loader is not None:
            loader.dispose()
    raise BadInput(f"{label}: not a valid YAML file; nothing was loaded", [problem])
