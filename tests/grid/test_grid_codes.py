from __future__ import annotations

import pytest

from grid import (
    GridError,
    ancestor_prefixes,
    ancestors,
    is_within,
    jurisdiction_prefix,
    level_of,
    parent_of,
)

CELL = "620102001001001"


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("620100", "city"),
        ("620102", "county"),
        ("620123", "county"),
        ("620102001", "township"),
        ("620102001001", "village"),
        (CELL, "cell"),
    ],
)
def test_level_of(code: str, level: str) -> None:
    assert level_of(code) == level


@pytest.mark.parametrize(
    "code",
    [
        "",
        "6201",
        "62010200",
        "620000",
        "62a102",
        " 620102",
        "620100001",
        "620102001000",
        "620102001001000",
        "６２０１０２",
        620102,
    ],
)
def test_level_of_rejects_malformed(code: object) -> None:
    with pytest.raises(GridError) as info:
        level_of(code)  # type: ignore[arg-type]
    assert len(info.value.problems) == 1


def test_parent_of() -> None:
    assert parent_of(CELL) == "620102001001"
    assert parent_of("620102001001") == "620102001"
    assert parent_of("620102001") == "620102"
    assert parent_of("620102") == "620100"
    assert parent_of("620100") is None


def test_jurisdiction_prefix() -> None:
    assert jurisdiction_prefix("620100") == "6201"
    assert jurisdiction_prefix("620102") == "620102"
    assert jurisdiction_prefix("620102001") == "620102001"
    assert jurisdiction_prefix(CELL) == CELL


def test_ancestors_and_prefixes() -> None:
    assert ancestors(CELL) == [
        "620100",
        "620102",
        "620102001",
        "620102001001",
        CELL,
    ]
    assert ancestor_prefixes(CELL) == [
        "6201",
        "620102",
        "620102001",
        "620102001001",
        CELL,
    ]
    assert ancestors("620100") == ["620100"]


def test_is_within() -> None:
    assert is_within(CELL, "620100")
    assert is_within(CELL, "620102")
    assert is_within(CELL, "620102001")
    assert is_within(CELL, CELL)
    assert not is_within(CELL, "620103")
    assert not is_within("620102", "620102001")
    assert not is_within(CELL, "620200")
    # a county code is not a prefix match for its sibling with a longer shared prefix
    assert not is_within("620111001", "620110")
