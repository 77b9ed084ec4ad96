"""/api/v1/credits: the credit ledger, read with a cursor (scorer).

The page is serialised by the database (:func:`geoverify.store.ledger.page_json`) and sent as is;
entries already served are kept serialised in the app's :class:`~geoverify.store.ledger.EntryCache`.
"""

from flask import Blueprint, Response, current_app

from geoverify.store import ledger
from geoverify.store.verification import settle

from .auth import get_store, requires
from .openapi import operation, query
from .params import int_arg

bp = Blueprint("credits", __name__, url_prefix="/api/v1/credits")


@bp.get("")
@operation(
    "Ledger entries after a cursor, in seq order",
    tag="credits",
    description="Store `next` and pass it as `after` on the next call: every entry is seen exactly "
    "once, also while entries are being appended. A day's credit enters the ledger when "
    "the day has settled (by default the next local day at 02:00): one grant per patrol "
    "that earns points. Entries are never changed or deleted; after settlement a change "
    "of a patrol's credit status or points appends a reversal (negative points) and a "
    "new grant.",
    params=(
        query("after", "the last seq already seen (0 to start)", "integer", minimum=0),
        query("limit", "page size (≤ 1000)", "integer", minimum=1, maximum=1000),
    ),
    responses={200: ("a page of entries and the next cursor", "CreditPage")},
)
@requires("scorer")
def list_credits():
    after, limit = int_arg("after", 0), int_arg("limit", 100, minimum=1, maximum=1000)
    cache = current_app.extensions.get("geoverify.ledger_cache")
    if cache is None:
        cache = current_app.extensions.setdefault("geoverify.ledger_cache", ledger.EntryCache())
    store = get_store()
    settle(store)  # days that settled since the last upload or read enter the ledger first
    with store.read() as conn:
        body = ledger.page_json(conn, after, limit, cache)
    return Response(body, mimetype="application/json")
