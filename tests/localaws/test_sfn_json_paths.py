"""JSONPath as Step Functions (Jayway) evaluates it: regex filters, empty filters, projections."""

from __future__ import annotations

import pytest

from helpers.naming import TENANT_ID_PATTERN
from localaws.services.stepfunctions.json_paths import extract_json


@pytest.mark.parametrize(
    ("value", "matches"),
    [("acme", True), ("abc", True), ("a" * 24, True), ("ab", False), ("a" * 25, False)]
    + [("Acme", False), ("a--b", False), ("9ab", False), ("abc-", False)],
)
def test_regex_filter_matches_the_whole_value(value, matches):
    found = extract_json(f"$.names[?(@ =~ /{TENANT_ID_PATTERN}/)]", {"names": [value]})
    assert found == ([value] if matches else [])


def test_regex_flags_and_unanchored_patterns_match_whole_strings():
    data = {"names": ["Acme", "acme-x"]}
    assert extract_json("$.names[?(@ =~ /acme/i)]", data) == ["Acme"]


def test_filter_that_selects_nothing_is_an_empty_list():
    tags = {"Tags": [{"Key": "other", "Value": "x"}]}
    assert extract_json("$.Tags[?(@.Key == 'tenant-id')].Value", tags) == []
    assert extract_json("$.Tags[?(@.Key == 'other')].Value", tags) == ["x"]


def test_projection_keeps_the_named_fields_of_each_element():
    page = {
        "Versions": [
            {"Key": "a", "VersionId": "1", "ETag": "x", "Size": 1},
            {"Key": "b", "VersionId": "2", "ETag": "y", "Size": 2},
        ]
    }
    assert extract_json("$.Versions[*]['Key','VersionId']", page) == [
        {"Key": "a", "VersionId": "1"},
        {"Key": "b", "VersionId": "2"},
    ]
    assert extract_json("$.Missing[*]['Key','VersionId']", page) == []


def test_plain_paths_are_unchanged():
    assert extract_json("$.a.b", {"a": {"b": 3}}) == 3
    with pytest.raises(Exception, match="could not be found"):
        extract_json("$.a.c", {"a": {"b": 3}})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.a[0].b", 1),
        ("$.a[0].c", [5]),  # a list value stays the list, not wrapped once more
        ("$.a[-1].b", 2),
        ("$['a'][1]['b']", 2),
        ("$.a[0]", {"b": 1, "c": [5]}),
        ("$.a[*].b", [1, 2]),  # indefinite: always a list
        ("$.a[0,1].b", [1, 2]),
    ],
)
def test_a_definite_path_through_an_index_is_the_value(path, expected):
    assert extract_json(path, {"a": [{"b": 1, "c": [5]}, {"b": 2}]}) == expected


def test_a_definite_path_that_finds_nothing_is_an_error():
    with pytest.raises(Exception, match="could not be found"):
        extract_json("$.a[3].b", {"a": [{"b": 1}]})
