"""Errors as RFC 9457 ``application/problem+json``, built by one function for every error:
the service's own, Flask's (404, 405, 413, 415, 429, 500), the store's being unavailable (503) and
the WSGI server's own refusals (see :mod:`geoverify.api.server`)."""

from __future__ import annotations

from http import HTTPStatus

from flask import Flask, Response, current_app, json, request
from werkzeug.exceptions import HTTPException

from geoverify.errors import (
    Forbidden,
    GeoverifyError,
    IdempotencyConflict,
    InputError,
    InvalidRequest,
    NotFound,
    ReviewConflict,
    RulesError,
    TokenError,
    UploadAbandoned,
    UploadInProgress,
    UploadTooLarge,
)
from geoverify.store import UNAVAILABLE_ERRORS

PROBLEM_TYPE = "application/problem+json"
# Actionable details for the errors Flask (or the WSGI server) raises itself.
HTTP_DETAILS = {
    400: "The request could not be read; check its parameters and body against /api/v1/openapi.json.",
    401: "Send a valid token: 'Authorization: Bearer <token>' (create one with `geoverify token create`).",
    404: "No such resource; the paths are listed in /api/v1/openapi.json.",
    405: "This path does not accept that method; /api/v1/openapi.json lists the methods of each path.",
    413: "The request body is larger than the service accepts ({limit} bytes); split the upload "
    "(by member or by day) and send the parts.",
    431: "The request's headers are too large; send a shorter URL, token or Idempotency-Key.",
    500: "The service failed while handling the request; the error is in the service log. Retry, and if "
    "it persists report the time of the request.",
    501: "The request uses a Transfer-Encoding the service does not support; send the body plainly or chunked.",
    503: "The store is busy or unreachable; retry in a few seconds. If it persists, check the database "
    "named by GEOVERIFY_DATABASE_URL (the cause is in the service log).",
}
STATUS_OF = (
    (NotFound, 404),
    (Forbidden, 403),
    (ReviewConflict, 409),
    (UploadInProgress, 409),
    (IdempotencyConflict, 422),
    (UploadAbandoned, 503),
    (UploadTooLarge, 413),
    (InvalidRequest, 422),
    (InputError, 422),
    (RulesError, 422),
    (TokenError, 400),
)
RETRY_AFTER_UNAVAILABLE_S = 5
RETRY_AFTER_IN_PROGRESS_S = 1


def problem_document(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    instance: str | None = None,
    **extensions,
) -> dict:
    """The members of a problem+json body (RFC 9457)."""
    return {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extensions,
    }


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    headers: dict | None = None,
    **extensions,
) -> Response:
    """The one builder of error responses.

    Parameters
    ----------
    status : int
        HTTP status.
    detail : str
        What went wrong and what to do about it, for a person.
    title : str, optional
        Short summary; the HTTP reason phrase by default.
    headers : dict, optional
        Extra response headers (e.g. ``Retry-After``).
    extensions
        Extra members (e.g. ``errors``), added beside the standard ones.
    """
    body = problem_document(
        status, detail, title=title, type_=type_, instance=request.path if request else None, **extensions
    )
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def body_limit_detail(limit: int | None) -> str:
    """The 413 detail, naming the limit in bytes."""
    return HTTP_DETAILS[413].format(limit=limit)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    detail = HTTP_DETAILS.get(status, exc.description or "")
    if status == 413:
        detail = body_limit_detail(current_app.config.get("MAX_CONTENT_LENGTH"))
    elif exc.description and status not in (404, 405, 413, 500) and exc.description != type(exc).description:
        detail = exc.description
    headers = {}
    allowed = getattr(exc, "valid_methods", None)  # MethodNotAllowed's
    if status == 405 and allowed:
        headers["Allow"] = ", ".join(allowed)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="geoverify"'
    return problem(status, detail, headers=headers)


def _geoverify_error(exc: GeoverifyError) -> Response:
    status = next((code for cls, code in STATUS_OF if isinstance(exc, cls)), 422)
    if isinstance(exc, ReviewConflict):  # the review it would overturn, for the page to show
        return problem(status, str(exc), title=type(exc).__name__, previous_review=exc.previous)
    if isinstance(exc, UploadAbandoned):
        return problem(
            status, str(exc), title=type(exc).__name__, headers={"Retry-After": str(RETRY_AFTER_IN_PROGRESS_S)}
        )
    if isinstance(exc, UploadInProgress):  # its answer (or room for this one) comes once it is stored
        return problem(
            status,
            str(exc),
            title=type(exc).__name__,
            upload_id=exc.upload_id,
            headers={"Retry-After": str(RETRY_AFTER_IN_PROGRESS_S)},
        )
    return problem(status, str(exc), title=type(exc).__name__)


def _store_unavailable(exc: Exception) -> Response:
    # Locked past the busy timeout, connection refused, disk full…: the cause goes to the log, never
    # to the client (it holds SQL and file names).
    current_app.logger.exception("store unavailable on %s %s", request.method, request.path)
    return problem(503, HTTP_DETAILS[503], headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)})


def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, HTTP_DETAILS[500])


def init_app(app: Flask) -> None:
    """Route every error through :func:`problem`."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(GeoverifyError, _geoverify_error)
    for unavailable in UNAVAILABLE_ERRORS:
        app.register_error_handler(unavailable, _store_unavailable)
    app.register_error_handler(Exception, _unexpected)
