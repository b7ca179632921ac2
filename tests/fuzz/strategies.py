"""Hypothesis strategies for the fuzzers: anything a JSON or Socket.IO client can send, and
what a payload's own JSON schema calls valid."""

from __future__ import annotations

import functools
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from dispatch import schemas

PAYLOADS = sorted(
    (
        model
        for model in vars(schemas).values()
        if isinstance(model, type)
        and issubclass(model, schemas.Payload)
        and model is not schemas.Payload
    ),
    key=lambda model: model.__name__,
)
"""Every pydantic payload in dispatch/schemas.py, found by its base class."""

# What a JSON body can hold, and what a Socket.IO payload adds (bytes, NaN, Infinity).
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text()
    | st.text(alphabet="0123456789.-+eE ", max_size=20)
    | st.binary(max_size=20)
    | st.sampled_from(["", " ", "0", "1", "true", "null", "NaN", "-1", "1e309", "x" * 3000])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def _strategy(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values a JSON schema calls valid; enough of JSON Schema for our flat payloads."""
    if "$ref" in schema:
        return _strategy(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    if "anyOf" in schema:
        return st.one_of([_strategy(s, defs) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.floats(low, high, allow_nan=False, allow_infinity=False) | st.integers(
            None if low is None else math.ceil(low), None if high is None else math.floor(high)
        )
    if kind == "string":
        return _string(schema)
    if kind == "array":
        return st.lists(
            _strategy(schema["items"], defs),
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 5), 5),
        )
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: _strategy(v, defs) for k, v in props.items() if k in required},
            optional={k: _strategy(v, defs) for k, v in props.items() if k not in required},
        )
    raise AssertionError(f"no strategy for {schema}")


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength", 300)
    if schema.get("format") == "uuid":
        return st.uuids().map(str)
    if schema.get("format") == "date-time":
        offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
        return st.datetimes(
            min_value=datetime(1900, 1, 1), timezones=st.none() | st.just(UTC) | offsets
        ).map(datetime.isoformat)
    pattern = schema.get("pattern")
    if pattern is None:
        return st.text(min_size=low, max_size=high)
    anchored = pattern.startswith("^") and pattern.endswith("$")
    return st.from_regex(re.compile(pattern), fullmatch=anchored).filter(
        lambda text: low <= len(text) <= high
    )


@functools.cache
def valid_payloads(model: type[schemas.Payload]) -> st.SearchStrategy[dict[str, Any]]:
    schema = model.model_json_schema()
    return _strategy(schema, schema.get("$defs", {}))


@functools.cache
def hostile_payloads(model: type[schemas.Payload]) -> st.SearchStrategy[Any]:
    fields = sorted(model.model_fields)
    return (
        json_values
        # The payload's own keys with anything in them reach every field's validators.
        | st.dictionaries(st.sampled_from(fields), json_values)
        # A valid payload with one value replaced.
        | st.builds(
            lambda valid, field, value: {**valid, field: value},
            valid_payloads(model),
            st.sampled_from(fields),
            json_values,
        )
    )
