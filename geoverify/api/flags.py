"""/api/v1/flags: list flags, the auditor's queue, what a review would do, and reviews (auditor)."""

from flask import Blueprint, g, jsonify, request

from geoverify.errors import InvalidRequest
from geoverify.store import queries
from geoverify.store.preview import preview_review
from geoverify.store.reviews import review_flag
from geoverify.store.workbench import review_queue

from .auth import get_store, grid_scope, requires
from .openapi import operation, query
from .params import choice_arg, date_arg, int_arg, json_body

bp = Blueprint("flags", __name__, url_prefix="/api/v1/flags")
# The filters and paging the flag list and the auditor's queue share.
FILTERS = (
    query("code", "flag code, e.g. TELEPORT"),
    query("grid_id", "only this grid"),
    query("member_id", "only this member"),
    query("date_from", "first local date of the flags' patrols, YYYY-MM-DD", format="date"),
    query("date_to", "last local date of the flags' patrols, YYYY-MM-DD", format="date"),
    query("offset", "skip this many", "integer", minimum=0),
    query("limit", "page size (≤ 1000)", "integer", minimum=1, maximum=1000),
)


def _filters() -> dict:
    """The request's :data:`FILTERS` and the caller's grid scope, as keyword arguments."""
    return {
        "code": request.args.get("code") or None,
        "grid_id": request.args.get("grid_id") or None,
        "member_id": request.args.get("member_id") or None,
        "date_from": date_arg("date_from"),
        "date_to": date_arg("date_to"),
        "offset": int_arg("offset", 0),
        "limit": int_arg("limit", 100, minimum=1, maximum=1000),
        "grid_scope": grid_scope(g.principal),
    }


@bp.get("")
@operation(
    "List flags",
    tag="flags",
    params=(query("status", "open, confirmed or dismissed", enum=["open", "confirmed", "dismissed"]), *FILTERS),
)
@requires("supervisor", "auditor")
def list_flags():
    with get_store().read() as conn:
        page = queries.list_flags(conn, status=choice_arg("status", ("open", "confirmed", "dismissed")), **_filters())
    return jsonify(page)


@bp.get("/queue")
@operation(
    "The auditor's queue: open flags, most at stake first",
    tag="flags",
    description="Open flags ordered by what their review decides: flags holding a patrol's credit "
    "first (those whose patrol would then earn points before the others), then flags whose "
    "dismissal would give a 0-point patrol its points, then by the patrol time a dismissal "
    "gives back, severity, date and id. Each flag carries stake {kind: held_credit | "
    "could_earn | time | none, points, seconds} and its patrol's credit.",
    params=FILTERS,
    responses={200: ("{flags, total, offset, next_offset}", "FlagQueue")},
)
@requires("auditor")
def queue():
    store = get_store()
    with store.read() as conn:
        page = review_queue(conn, store.rules, **_filters())
    return jsonify(page)


@bp.get("/<flag_id>/preview")
@operation(
    "What confirming or dismissing a flag would do, before it is done",
    tag="flags",
    description="The flag's member-day verified with every stored review and this decision, from a read "
    "snapshot (nothing is written): the patrol's credit, the reasons for it, its figures and "
    "the ledger entries the review would append. previous_review and overturn_required say "
    "whether a review must send overturn: true.",
    params=(query("decision", "only this decision (default: both)", enum=["confirm", "dismiss"]),),
    responses={200: ("the current credit and, per decision, the outcome", "FlagPreview")},
)
@requires("auditor")
def preview(flag_id: str):
    decision = choice_arg("decision", ("confirm", "dismiss"))
    return jsonify(
        preview_review(get_store(), flag_id, g.principal, (decision,) if decision else ("confirm", "dismiss"))
    )


@bp.post("/<flag_id>/review")
@operation(
    "Confirm or dismiss a flag",
    tag="flags",
    description="The patrol's day is re-verified with every review; the credit change is in the "
    "ledger when this answers. A flag reviewed before answers 409 (previous_review in the "
    'problem) unless the body says "overturn": true; the note then says why.',
    body={"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Review"}}}},
    responses={
        200: ("the review, the flag's new status, the patrol's credit and the ledger entries appended", "Object")
    },
)
@requires("auditor")
def review(flag_id: str):
    body = json_body()
    if not isinstance(body, dict):
        raise InvalidRequest('send a JSON object: {"decision": "confirm" | "dismiss", "note": "why"}')
    decision, note, overturn = body.get("decision"), body.get("note"), body.get("overturn", False)
    if not isinstance(decision, (str, type(None))) or not isinstance(note, (str, type(None))):
        raise InvalidRequest('"decision" must be the string "confirm" or "dismiss", and "note" a string saying why')
    if note is not None and "\x00" in note:
        raise InvalidRequest("the note contains a NUL character (\\u0000); send plain text")
    if not isinstance(overturn, bool):
        raise InvalidRequest('"overturn" must be true or false: true overturns the flag\'s earlier review')
    result = review_flag(get_store(), flag_id, decision, note, g.principal, overturn=overturn)
    return jsonify(result)
