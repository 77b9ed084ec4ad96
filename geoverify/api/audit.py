"""/api/v1/audit: the hash-chained audit log, its signed checkpoints and its verification."""

from flask import Blueprint, jsonify

from geoverify.store import audit, audit_verify, checkpoints

from .auth import get_store, requires
from .openapi import operation, query
from .params import int_arg

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")


@bp.get("")
@operation(
    "Audit entries after a cursor, in seq order",
    tag="audit",
    params=(
        query("after", "the last seq already seen (0 to start)", "integer", minimum=0),
        query("limit", "page size (≤ 1000)", "integer", minimum=1, maximum=1000),
    ),
)
@requires("auditor")
def list_audit():
    with get_store().read() as conn:
        return jsonify(audit.page(conn, int_arg("after", 0), int_arg("limit", 100, minimum=1, maximum=1000)))


@bp.get("/verify")
@operation(
    "Check the audit chain, the ledger against it, and both against the latest signed checkpoint",
    tag="audit",
    description="Recomputes the hash chain, compares every ledger entry with its audit entry, and "
    "compares the log with the stored checkpoints (signatures checked with the public half "
    "of the service's GEOVERIFY_AUDIT_KEY). `first_broken` is the first broken seq and "
    "`cause` says why (e.g. `edited`, `rewritten`, `truncated`, `emptied`, "
    "`ledger_mismatch`, `bad_signature`). An auditor also verifies against checkpoints kept "
    "outside the database: `geoverify audit verify --checkpoint FILE --public-key FILE`.",
    responses={200: ("the verdict", "AuditVerdict")},
)
@requires("auditor")
def verify():
    store = get_store()
    keys = {} if store.audit_key is None else {store.audit_key.key_id: store.audit_key.public_key}
    with store.read() as conn:
        result = audit_verify.verify(conn, public_keys=keys)
    return jsonify(result)


@bp.get("/checkpoints")
@operation(
    "Signed checkpoints of the audit chain's head, after a cursor, in seq order",
    tag="audit",
    description="Keep them outside the database (or use `geoverify audit checkpoints --export FILE`): "
    "a kept checkpoint reveals a later truncation or rewrite of the log. `latest` is the "
    "newest stored checkpoint. Each is signed with Ed25519 over "
    "`geoverify audit checkpoint v1\\n` + the canonical JSON of seq, hash, at and key_id "
    "(see docs/audit.md).",
    params=(
        query("after", "the last seq already seen (0 to start)", "integer", minimum=0),
        query("limit", "page size (≤ 1000)", "integer", minimum=1, maximum=1000),
    ),
    responses={200: ("a page of checkpoints, the next cursor and the latest", "CheckpointPage")},
)
@requires("auditor", "scorer")
def list_checkpoints():
    with get_store().read() as conn:
        return jsonify(checkpoints.page(conn, int_arg("after", 0), int_arg("limit", 100, minimum=1, maximum=1000)))
