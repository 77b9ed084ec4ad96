"""/api/v1/audit: the hash-chained audit log and its verification."""

from flask import Blueprint, jsonify

from geoverify.store import audit

from .auth import get_store, requires
from .openapi import operation, query
from .params import int_arg

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")


@bp.get("")
@operation("Audit entries after a cursor, in seq order", tag="audit",
           params=(query("after", "the last seq already seen (0 to start)", "integer", minimum=0),
                   query("limit", "page size (≤ 1000)", "integer", minimum=1, maximum=1000)))
@requires("auditor")
def list_audit():
    with get_store().read() as conn:
        return jsonify(audit.page(conn, int_arg("after", 0), int_arg("limit", 100, minimum=1, maximum=1000)))


@bp.get("/verify")
@operation("Check the audit chain", tag="audit",
           description='Answers {"ok": true|false, "first_broken": seq or null} (and the reason).')
@requires("auditor")
def verify():
    with get_store().read() as conn:
        result = audit.verify_chain(conn)
    return jsonify(result)
