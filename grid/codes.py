"""Hierarchical area codes: city → county → township → village → cell.

A code's level is read from its shape alone, and every descendant's code starts with its
ancestor's *jurisdiction prefix*, so "is this report in my area?" is a string prefix test.

=========  ======  =====================================  =================
level      digits  structure                              example
=========  ======  =====================================  =================
city       6       GB/T 2260 prefecture, ends in ``00``   ``620100``
county     6       GB/T 2260 county-level division        ``620102``
township   9       county + 3 (NBS statistical code)      ``620102001``
village    12      township + 3 (``001``-``999``)         ``620102001001``
cell       15      village + 3 (``001``-``999``)          ``620102001001001``
=========  ======  =====================================  =================
"""

from __future__ import annotations

from typing import Final

from grid.errors import GridError

__all__ = [
    "CELL_CODE_PATTERN",
    "CODE_PATTERN",
    "LEVELS",
    "ancestor_prefixes",
    "ancestors",
    "is_within",
    "jurisdiction_prefix",
    "level_of",
    "parent_of",
]

LEVELS: Final[tuple[str, ...]] = ("city", "county", "township", "village", "cell")
"""Area levels from the top of the hierarchy down."""

_NOT_00 = "(?:[1-9][0-9]|0[1-9])"
_CITY = f"[0-9]{{2}}{_NOT_00}"  # province and city: a city's own digits are not 00
_COUNTY = f"{_CITY}{_NOT_00}"
_SEQ = "(?:[1-9][0-9]{2}|0[1-9][0-9]|00[1-9])"  # 001-999
CODE_PATTERN: Final[str] = f"^(?:{_CITY}[0-9]{{2}}|{_COUNTY}[0-9]{{3}}(?:{_SEQ}(?:{_SEQ})?)?)$"
"""A regular expression (no look-arounds, for JSON Schema and any engine) matching exactly
the well-formed codes, those :func:`level_of` accepts.

Examples
--------
>>> import re
>>> [bool(re.match(CODE_PATTERN, c)) for c in ("620102001001001", "620000", "620100001")]
[True, False, False]
"""
CELL_CODE_PATTERN: Final[str] = f"^{_COUNTY}[0-9]{{3}}{_SEQ}{_SEQ}$"
"""The same, for cell codes only."""


def _problem(code: object) -> str | None:
    """Say what is wrong with ``code``, or ``None`` when it is well-formed."""
    if not isinstance(code, str):
        return f"area code must be a string of digits, got {type(code).__name__} {code!r}"
    if not code.isascii() or not code.isdigit():
        return f"area code {code!r} must contain only the digits 0-9"
    if len(code) not in (6, 9, 12, 15):
        return f"area code {code!r} has {len(code)} digits; expected 6, 9, 12 or 15"
    if code[2:6] == "0000":
        return f"area code {code!r} is a province; the hierarchy starts at a city"
    if code[2:4] == "00":
        return f"area code {code!r} lies in no city (its digits 3-4 are 00)"
    if len(code) > 6 and code[4:6] == "00":
        return f"area code {code!r} must start with a county code, not a city code"
    if len(code) >= 12 and code[9:12] == "000":
        return f"area code {code!r}: village sequence 000 is not allowed (use 001-999)"
    if len(code) == 15 and code[12:15] == "000":
        return f"area code {code!r}: cell sequence 000 is not allowed (use 001-999)"
    return None


def level_of(code: str) -> str:
    """Return the level of a well-formed area code.

    Parameters
    ----------
    code : str
        An area code.

    Returns
    -------
    str
        One of :data:`LEVELS`.

    Raises
    ------
    GridError
        If ``code`` is malformed.

    Examples
    --------
    >>> level_of("620100"), level_of("620102"), level_of("620102001")
    ('city', 'county', 'township')
    >>> level_of("620102001001"), level_of("620102001001001")
    ('village', 'cell')
    >>> level_of("62010")
    Traceback (most recent call last):
    ...
    grid.errors.GridError: area code '62010' has 5 digits; expected 6, 9, 12 or 15
    """
    problem = _problem(code)
    if problem is not None:
        raise GridError([problem])
    if len(code) == 6:
        return "city" if code.endswith("00") else "county"
    return LEVELS[len(code) // 3 - 1]


def parent_of(code: str) -> str | None:
    """Return the code of the area directly above ``code``; ``None`` for a city.

    Examples
    --------
    >>> parent_of("620102001001001")
    '620102001001'
    >>> parent_of("620102001")
    '620102'
    >>> parent_of("620102")
    '620100'
    >>> parent_of("620100") is None
    True
    """
    level = level_of(code)
    if level == "city":
        return None
    if level == "county":
        return code[:4] + "00"
    return code[:-3]


def jurisdiction_prefix(code: str) -> str:
    """Return the prefix every code inside the area ``code`` starts with.

    Examples
    --------
    >>> jurisdiction_prefix("620100")
    '6201'
    >>> jurisdiction_prefix("620102")
    '620102'
    >>> jurisdiction_prefix("620102001")
    '620102001'
    """
    return code[:4] if level_of(code) == "city" else code


def ancestors(code: str) -> list[str]:
    """Return the codes from the city down to ``code`` itself.

    Examples
    --------
    >>> ancestors("620102001001001")
    ['620100', '620102', '620102001', '620102001001', '620102001001001']
    >>> ancestors("620100")
    ['620100']
    """
    chain: list[str] = []
    current: str | None = code
    while current is not None:
        chain.append(current)
        current = parent_of(current)
    return chain[::-1]


def ancestor_prefixes(code: str) -> list[str]:
    """Return the jurisdiction prefixes of ``code`` and all its ancestors, top first.

    A report in a cell is broadcast to one room per prefix, so every operator whose
    jurisdiction contains the cell receives it.

    Examples
    --------
    >>> ancestor_prefixes("620102001001")
    ['6201', '620102', '620102001', '620102001001']
    """
    return [jurisdiction_prefix(a) for a in ancestors(code)]


def is_within(code: str, area_code: str) -> bool:
    """Return whether ``code`` is ``area_code`` itself or lies inside it.

    Examples
    --------
    >>> is_within("620102001001001", "620100")
    True
    >>> is_within("620102001001001", "620103")
    False
    >>> is_within("620102", "620102")
    True
    """
    level_of(code)
    return code.startswith(jurisdiction_prefix(area_code))
