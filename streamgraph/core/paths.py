"""`input_path` / `result_path`: dotted paths into a dict body."""

from __future__ import annotations

from typing import Any


def split_path(path: str | None) -> tuple[str, ...]:
    return tuple(p for p in path.split(".") if p) if path else ()


def get_path(body: Any, keys: tuple[str, ...]) -> Any:
    """The value at `keys` in `body` (the body itself for no keys)."""
    if not keys:
        return body
    if not isinstance(body, dict):
        raise TypeError("input_path parameter supports only dict-like event bodies")
    value: Any = body
    for key in keys:
        if not isinstance(value, dict):
            raise TypeError(f"input_path: {'.'.join(keys)} passes through a non-dict value")
        if key not in value:
            raise KeyError(f"input_path: key {key!r} of {'.'.join(keys)} not in the event body")
        value = value[key]
    return value


def set_path(body: Any, keys: tuple[str, ...], result: Any) -> Any:
    """`body` with `result` written at `keys`, keeping the rest (the result itself for no keys)."""
    if not keys:
        return result
    if not isinstance(body, dict):
        raise TypeError("result_path parameter supports only dict-like event bodies")
    target = body
    for key in keys[:-1]:
        nxt = target.get(key)
        if not isinstance(nxt, dict):
            nxt = {}
            target[key] = nxt
        target = nxt
    target[keys[-1]] = result
    return body
