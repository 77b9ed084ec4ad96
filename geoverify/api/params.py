"""Query-string and path parsing shared by the views: a bad value answers 400 naming the parameter."""

from __future__ import annotations

import datetime as dt
import math
import re

from flask import Flask, abort, request

from geoverify.errors import JsonTooDeep
from geoverify.io.jsondepth import load_json
from geoverify.settings import MAX_ID_CHARS, MAX_QUERY_INT

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def check_text_values() -> None:
    """Refuse (400) path and query values that no stored id can match: too long, or with control characters.

    Runs before every view, so no such value reaches the store (PostgreSQL refuses NUL in text).
    """
    values = [
        ("Path parameter", name, value) for name, value in (request.view_args or {}).items() if isinstance(value, str)
    ]
    values += [("Query parameter", name, value) for name, value in request.args.items(multi=True)]
    for where, name, value in values:
        shown = name if len(name) <= 40 and not CONTROL_CHARACTERS.search(name) else "(a parameter name)"
        if len(value) > MAX_ID_CHARS or len(name) > MAX_ID_CHARS:
            abort(
                400,
                description=f"{where} {shown!r} is {len(value)} characters long; ids and other values "
                f"are at most {MAX_ID_CHARS} characters.",
            )
        if CONTROL_CHARACTERS.search(value) or CONTROL_CHARACTERS.search(name):
            abort(
                400,
                description=f"{where} {shown!r} contains a control character (e.g. %00 or a line "
                "break); ids never do: send the id as listed by the API.",
            )


def init_app(app: Flask) -> None:
    """Check every request's path and query values with :func:`check_text_values`."""
    app.before_request(check_text_values)


def int_arg(name: str, default: int, *, minimum: int = 0, maximum: int = MAX_QUERY_INT) -> int:
    """An integer query parameter within ``[minimum, maximum]``; 400 naming the parameter and the range.

    The default ``maximum`` (:data:`geoverify.settings.MAX_QUERY_INT`, 2**53 - 1) leaves room for
    the store to add a page size to a cursor within a 64-bit database integer.
    """
    text = request.args.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        abort(400, description=f"Query parameter '{name}' must be an integer, got {text!r}.")
    if value < minimum or value > maximum:
        bound = f"between {minimum} and {maximum}"
        shown = text.strip() if len(text.strip()) <= 40 else f"a number of {len(text.strip())} digits"
        abort(400, description=f"Query parameter '{name}' must be {bound}, got {shown}.")
    return value


def date_arg(name: str) -> str | None:
    """An ISO date (YYYY-MM-DD) query parameter."""
    text = request.args.get(name)
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        abort(400, description=f"Query parameter '{name}' must be a date like 2026-11-02, got {text!r}.")


def choice_arg(name: str, choices: tuple[str, ...]) -> str | None:
    """A query parameter restricted to ``choices``."""
    text = request.args.get(name)
    if text is None:
        return None
    if text not in choices:
        abort(400, description=f"Query parameter '{name}' must be one of {', '.join(choices)}, got {text!r}.")
    return text


def metres_arg(name: str, default: float, low: float, high: float) -> float:
    """A distance in metres from the query string, within ``[low, high]``."""
    text = request.args.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        abort(400, description=f"Query parameter '{name}' must be a number of metres, got {text!r}.")
    if not (math.isfinite(value) and low <= value <= high):
        abort(400, description=f"Query parameter '{name}' must be between {low:g} and {high:g} metres, got {text!r}.")
    return value


def json_body() -> object | None:
    """The JSON request body (``Content-Type: application/json``), or None when it is not JSON.

    Raises
    ------
    geoverify.io.jsondepth.JsonTooDeep
        When the body nests arrays and objects deeper than
        :data:`geoverify.settings.MAX_JSON_DEPTH` (422 naming the limit), checked before parsing,
        so that no body can exhaust the parser's stack.
    """
    if not request.is_json:
        return None
    try:
        return load_json(request.get_data(cache=True), "the request body")
    except JsonTooDeep:
        raise
    except ValueError:  # not JSON, or not UTF-8/16/32 text
        return None
