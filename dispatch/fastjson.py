"""orjson behind the `json` module interface Socket.IO expects (`dumps`, `loads`).

Every operator message is a list of report views; orjson encodes it several times faster
than the standard library. Keyword arguments meant for `json` (separators, …) are moot:
orjson always writes compact JSON.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
    """Compact JSON text, as `json.dumps(obj, separators=(",", ":"))` gives it. What orjson
    cannot write (an integer beyond 64 bits or a lone surrogate, echoed from a hostile
    payload) the standard library writes.

    >>> dumps({"id": 1, "text": "火情", 2: [1.5, None]})
    '{"id":1,"text":"火情","2":[1.5,null]}'
    >>> dumps({"value": 2**70, "text": "\\ud800"})
    '{"value":1180591620717411303424,"text":"\\\\ud800"}'
    """
    try:
        return orjson.dumps(obj, default=_fallback, option=OPTIONS).decode()
    except TypeError:  # also a lone surrogate, which the standard library escapes
        return json.dumps(obj, separators=(",", ":"), default=_fallback)


def loads(data: str | bytes, *args: Any, **kwargs: Any) -> Any:
    """Parse JSON; what orjson refuses (a lone surrogate) the standard library reads, and
    invalid JSON raises ValueError either way. orjson reads an integer beyond 64 bits as a
    float; the payload schemas refuse both.

    >>> loads('{"ok":true,"n":[1,2]}')
    {'ok': True, 'n': [1, 2]}
    >>> loads('["\\ud800"]') == ["\\ud800"]
    True
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _fallback(obj: Any) -> Any:
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
