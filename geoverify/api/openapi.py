"""The OpenAPI 3 document, generated from the registered views: each view declares its
operation with :func:`operation`; paths, methods and path parameters come from Flask's URL map."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from apispec import APISpec
from flask import Blueprint, Flask, current_app, jsonify

from geoverify import __version__
from geoverify.settings import MAX_ID_CHARS, MAX_IDEMPOTENCY_KEY_CHARS, MAX_QUERY_INT

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what went wrong and what to do"},
        "instance": {"type": "string"},
    },
}
LEDGER_ENTRY = {
    "type": "object",
    "properties": {
        "credit_id": {"type": "string"},
        "seq": {"type": "integer"},
        "kind": {"type": "string", "enum": ["grant", "reversal"]},
        "reverses": {"type": "string", "nullable": True},
        "patrol_id": {"type": "string"},
        "member_id": {"type": "string"},
        "grid_id": {"type": "string", "nullable": True},
        "date": {"type": "string", "format": "date"},
        "points": {"type": "number"},
        "verified_s": {"type": "number"},
        "rule_version": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "chain_seq": {"type": "integer", "nullable": True, "description": "seq of the entry's audit-log entry"},
        "chain_hash": {
            "type": "string",
            "nullable": True,
            "description": "hash of that audit entry: keep it to detect a later rewrite of the log",
        },
    },
}
CHECKPOINT = {
    "type": "object",
    "properties": {
        "seq": {"type": "integer"},
        "hash": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "key_id": {"type": "string"},
        "signature": {"type": "string", "description": "Ed25519, base64"},
    },
}
SCHEMAS: dict[str, dict] = {
    "Problem": PROBLEM,
    "LedgerEntry": LEDGER_ENTRY,
    "CreditPage": {
        "type": "object",
        "properties": {
            "entries": {"type": "array", "items": {"$ref": "#/components/schemas/LedgerEntry"}},
            "next": {"type": "integer", "description": "pass as ?after= to resume"},
        },
    },
    "Checkpoint": CHECKPOINT,
    "CheckpointPage": {
        "type": "object",
        "properties": {
            "checkpoints": {"type": "array", "items": {"$ref": "#/components/schemas/Checkpoint"}},
            "next": {"type": "integer", "description": "pass as ?after= to resume"},
            "latest": {"allOf": [{"$ref": "#/components/schemas/Checkpoint"}], "nullable": True},
        },
    },
    "AuditVerdict": {
        "type": "object",
        "required": ["ok", "first_broken"],
        "properties": {
            "ok": {"type": "boolean"},
            "first_broken": {"type": "integer", "nullable": True},
            "cause": {"type": "string", "nullable": True},
            "reason": {"type": "string", "nullable": True},
            "entries": {"type": "integer"},
            "ledger_entries": {"type": "integer"},
            "head_hash": {"type": "string", "nullable": True},
            "checkpoint": {"type": "object", "nullable": True, "additionalProperties": True},
            "warnings": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": True,
    },
    "Review": {
        "type": "object",
        "required": ["decision", "note"],
        "properties": {
            "decision": {"type": "string", "enum": ["confirm", "dismiss"]},
            "note": {"type": "string", "minLength": 1},
            "overturn": {
                "type": "boolean",
                "default": False,
                "description": "required (true) when the flag was reviewed before: this review then "
                "overturns that decision, and the note says why; else 409",
            },
        },
    },
    "FlagQueue": {
        "type": "object",
        "properties": {
            "flags": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": True,
                    "properties": {
                        "stake": {
                            "type": "object",
                            "properties": {
                                "kind": {"type": "string", "enum": ["held_credit", "could_earn", "time", "none"]},
                                "points": {"type": "number"},
                                "seconds": {"type": "number"},
                            },
                        },
                        "patrol_credit": {"type": "object", "nullable": True, "additionalProperties": True},
                    },
                },
            },
            "total": {"type": "integer"},
            "offset": {"type": "integer"},
            "next_offset": {"type": "integer", "nullable": True},
        },
    },
    "FlagPreview": {
        "type": "object",
        "additionalProperties": True,
        "properties": {
            "flag_id": {"type": "string"},
            "status": {"type": "string"},
            "patrol_id": {"type": "string", "nullable": True},
            "overturn_required": {"type": "boolean"},
            "previous_review": {"type": "object", "nullable": True, "additionalProperties": True},
            "current": {"type": "object", "additionalProperties": True},
            "outcomes": {
                "type": "object",
                "description": "per decision (confirm, dismiss): flag_status, credit, "
                "credit_reasons, verified_s, in_grid_s, coverage_ratio, changes_credit, ledger",
                "additionalProperties": {"type": "object", "additionalProperties": True},
            },
        },
    },
    "UploadResult": {
        "type": "object",
        "properties": {
            "upload_id": {"type": "integer"},
            "kind": {"type": "string"},
            "replayed": {"type": "boolean"},
            "patrols": {"type": "array", "items": {"type": "object"}},
            "ledger_entries": {"type": "integer"},
            "warnings": {
                "type": "array",
                "items": {"type": "string"},
                "description": "what the file's content suggests to check (a track upload: lon and lat "
                "that look swapped); the fixes are counted as read, never changed",
            },
        },
        "additionalProperties": True,
    },
    "Object": {"type": "object", "additionalProperties": True},
}
# Path and query text: what api.params.check_text_values lets through.
TEXT_VALUE = {"maxLength": MAX_ID_CHARS, "pattern": "^[^\\u0000-\\u001f\\u007f]*$"}
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "makes retries safe: a repeat answers the first upload's result",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_IDEMPOTENCY_KEY_CHARS,
        "pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$",
    },
}
UPLOAD_PROBLEMS = {
    "400": "an empty body or a malformed Idempotency-Key",
    "413": "the body is over MAX_CONTENT_LENGTH or holds more than MAX_FIXES_PER_UPLOAD fixes",
    "415": "a Content-Type the service does not read",
    "422": "unreadable content (the detail names the line or feature), or an Idempotency-Key reused "
    "for a different request",
    "409": "a track upload with the same Idempotency-Key or content, or holding the same fixes, is "
    "still being stored (UploadInProgress, with its upload_id); send the request again "
    "after Retry-After",
    "429": "the token is over its upload rate; see Retry-After",
}
UPLOAD_TYPES = (
    "text/csv",
    "application/geo+json",
    "application/json",
    "application/gpx+xml",
    "application/geopackage+sqlite3",
    "application/vnd.apache.parquet",
    "multipart/form-data",
)


def query(name: str, description: str, type_: str = "string", **schema) -> dict:
    """A query parameter (integers are at most :data:`geoverify.settings.MAX_QUERY_INT`, strings
    :data:`geoverify.settings.MAX_ID_CHARS` characters)."""
    limits: dict[str, dict[str, Any]] = {"integer": {"maximum": MAX_QUERY_INT}, "string": TEXT_VALUE}
    bounds = {} if "enum" in schema else limits.get(type_, {})
    return {
        "in": "query",
        "name": name,
        "description": description,
        "required": False,
        "schema": {"type": type_, **bounds, **schema},
    }


def operation(
    summary: str,
    *,
    tag: str,
    params: tuple = (),
    body: dict | None = None,
    responses: dict[int, tuple[str, str]] | None = None,
    description: str = "",
    media: dict[int, dict[str, dict]] | None = None,
) -> Callable:
    """Attach an OpenAPI operation to a view (put it above ``@requires``); ``media`` adds content
    types other than JSON to a response: ``{200: {"text/csv": {"type": "string"}}}``."""

    def decorate(view):
        view.__openapi__ = {
            "summary": summary,
            "tag": tag,
            "params": list(params),
            "body": body,
            "responses": responses or {200: ("OK", "Object")},
            "description": description,
            "media": media or {},
        }
        return view

    return decorate


def upload_body(description: str) -> dict:
    """A request body that takes a file in any upload format."""
    return {
        "description": description,
        "required": True,
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in UPLOAD_TYPES},
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem_response(description: str) -> dict:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


def _operation(doc: dict, view, path_args: list[str]) -> dict[str, Any]:
    roles = getattr(view, "__roles__", None)
    description = (doc["description"] + (f"\n\nRoles: {', '.join(roles)}." if roles else "")).strip()
    op: dict[str, Any] = {
        "summary": doc["summary"],
        "tags": [doc["tag"]],
        "description": description,
        "parameters": [
            {"in": "path", "name": a, "required": True, "schema": {"type": "string", "minLength": 1, **TEXT_VALUE}}
            for a in path_args
        ]
        + doc["params"],
        "responses": {
            str(code): {"description": text, "content": {"application/json": {"schema": _ref(schema)}}}
            for code, (text, schema) in doc["responses"].items()
        },
    }
    for code, content in doc.get("media", {}).items():
        op["responses"][str(code)]["content"].update({t: {"schema": schema} for t, schema in content.items()})
    if doc["body"] is not None:
        op["requestBody"] = doc["body"]
        if "text/csv" in doc["body"].get("content", {}):
            op["responses"].update({code: _problem_response(text) for code, text in UPLOAD_PROBLEMS.items()})
            op["responses"]["429"]["headers"] = {
                "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}
            }
    if roles:
        op["security"] = [{"bearer": []}]
        op["responses"]["401"] = _problem_response("no valid token")
        op["responses"]["403"] = _problem_response("the token's role may not do this")
    op["responses"]["default"] = _problem_response("an error (problem+json)")
    return op


def build_spec(app: Flask) -> dict:
    """The OpenAPI 3.0 document of every documented view of ``app``."""
    spec = APISpec(
        title="geoverify",
        version=__version__,
        openapi_version="3.0.3",
        info={"description": "Verified patrol credit from grid workers' GPS tracks (see README)."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        doc = getattr(view, "__openapi__", None)
        if doc is None or not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        args = re.findall(r"{([^}]+)}", path)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(doc, view, args)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI document (no token needed)."""
    return jsonify(build_spec(current_app))
