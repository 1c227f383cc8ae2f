"""The data set's YAML: exact numbers, dates left as text, lines remembered, errors placed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tenantctl.domain.dataset import YamlInt, YamlList, YamlMap, load_yaml, parse_dataset
from tenantctl.errors import BadInput


def refused(text: str) -> str:
    with pytest.raises(BadInput) as caught:
        load_yaml(text, "f.yaml")
    assert caught.value.exit_code == 2
    [problem] = caught.value.problems
    return problem


def test_numbers_with_a_point_are_exact_decimals_never_floats():
    doc = load_yaml("a: 20.60\nb: 0.1\nd: -3.0\ne: '7.25'\nf: 12\n", "f")
    assert doc == {
        "a": Decimal("20.60"),
        "b": Decimal("0.1"),
        "d": Decimal("-3.0"),
        "e": "7.25",
        "f": 12,
    }
    assert [str(doc[k]) for k in "ab"] == ["20.60", "0.1"]
    assert not any(isinstance(v, float) for v in doc.values())
    # not plain `digits.digits`: left as text for the field's own check to refuse
    assert load_yaml("a: .inf\nb: .nan\nc: 1_000.50\nd: 1.5e+3\n", "f") == {
        "a": ".inf",
        "b": ".nan",
        "c": "1_000.50",
        "d": "1.5e+3",
    }


def test_dates_stay_text_and_integers_remember_how_they_were_written():
    doc = load_yaml("d: 2024-01-15\nt: 2024-01-15 10:00:00\nq: 010\nh: 0x10\n", "f")
    assert doc["d"] == "2024-01-15" and doc["t"] == "2024-01-15 10:00:00"
    assert isinstance(doc["q"], YamlInt) and (doc["q"], doc["q"].text) == (8, "010")
    assert (doc["h"], doc["h"].text) == (16, "0x10")
    assert load_yaml("b: yes\nn: ~\nc: NO\n", "f") == {"b": True, "n": None, "c": False}


def test_mappings_and_lists_remember_their_lines():
    text = "top: 1\n\nitems:\n  - name: a\n    price: 1.5\n  - {name: b}\n  - plain\n"
    doc = load_yaml(text, "f")
    assert isinstance(doc, YamlMap) and doc.line == 1
    assert doc.lines == {"top": 1, "items": 3}
    items = doc["items"]
    assert isinstance(items, YamlList) and items.lines == [4, 6, 7]
    assert items[0].line == 4 and items[0].lines == {"name": 4, "price": 5}
    assert items[1].line == 6


def test_a_key_given_twice_is_remembered_not_silently_replaced():
    doc = load_yaml("a: 1\nb: 2\na: 3\n", "f")
    assert doc["a"] == 1 and doc.duplicates == [("a", 3, 1)]


def test_anchors_aliases_and_merges():
    text = "defaults: &d {unit: monthly, quantity: 1}\nsub:\n  <<: *d\n  quantity: 5\nagain: *d\n"
    doc = load_yaml(text, "f")
    assert doc["sub"] == {"unit": "monthly", "quantity": 5}
    assert doc["sub"].lines == {"quantity": 4, "unit": 3}  # a merged key: the `<<` line
    assert doc["again"] is doc["defaults"]


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("a: [1, 2\nb: 3\n", 2, "did not find expected ',' or ']'"),
        ("a: 1\n  b: 2\n", 2, "mapping values are not allowed"),
        ("a: 1\n---\nb: 2\n", 2, "expected a single document"),
        ("a: *nowhere\n", 1, "found undefined alias 'nowhere'"),
        ("a: &x [1, *x]\n", 1, "found undefined alias 'x'"),  # recursive: never constructed
        ("a: &x 1\nb: &x 2\n", 2, "found duplicate anchor 'x'"),
        ("a: !!binary aGk=\n", 1, "the tag 'tag:yaml.org,2002:binary' is not supported"),
        ("a:\n  b: !custom 1\n", 2, "the tag '!custom' is not supported"),
        ("a: !!int twelve\n", 1, "'twelve' is not a valid tag:yaml.org,2002:int"),
        ("? [1, 2]\n: x\n", 1, "found a key that is not a plain value"),
        ("a: 1\nb: \x07\n", 2, "not allowed"),
    ],
)
def test_malformed_yaml_names_the_file_and_line(text, line, message):
    problem = refused(text)
    assert problem.startswith(f"f.yaml:{line}: syntax: not valid YAML")
    assert message in problem


def test_problems_of_a_file_are_collected_without_a_store():
    text = (
        "organisation: {name: X, currency: EUR, country: GR}\n"
        "accounts:\n"
        "  - code: A\n"
        "    name: A\n"
        "    pricing: {billing_day: 29}\n"
        "  - code: A\n"
        "    kind: partner\n"
    )
    data = parse_dataset(text, "f.yaml")
    assert data.problems.messages() == [
        "f.yaml:5: accounts[0].pricing.billing_day: 29 is not a billing day from 1 to 28",
        "f.yaml:6: accounts[1].name: is required",
        "f.yaml:6: accounts[1].code: account 'A' is given twice (first on line 3)",
        "f.yaml:7: accounts[1].kind: 'partner' is not one of customer, reseller",
    ]
    # every value that was fine is there, defaults included
    first = data.accounts[0]
    assert first.values["code"] == "A" and first.values["pricing.payment_method"] == "invoice"
    assert "pricing.billing_day" not in first.values
