"""Query-string parsing shared by the list views: a bad value answers 400 naming the parameter."""

from __future__ import annotations

import datetime as dt

from flask import abort, request


def int_arg(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    """An integer query parameter within bounds."""
    text = request.args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        abort(400, description=f"Query parameter '{name}' must be an integer, got {text!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        abort(400, description=f"Query parameter '{name}' must be {bound}, got {value}.")
    return value


def date_arg(name: str) -> str | None:
    """An ISO date (YYYY-MM-DD) query parameter."""
    text = request.args.get(name)
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        abort(400, description=f"Query parameter '{name}' must be a date like 2026-11-02, got {text!r}.")


def choice_arg(name: str, choices: tuple[str, ...]) -> str | None:
    """A query parameter restricted to ``choices``."""
    text = request.args.get(name)
    if not text:
        return None
    if text not in choices:
        abort(400, description=f"Query parameter '{name}' must be one of {', '.join(choices)}, got {text!r}.")
    return text
