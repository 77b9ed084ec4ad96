"""The geoverify store: uploads, latest patrols and flags, reviews, the credit ledger, the audit
log and API tokens, in one SQL database: SQLite by default, or PostgreSQL with PostGIS (the same
code and answers; the tests run on both). Bulk fixes go in by COPY on PostgreSQL (:mod:`.bulk`).

Library code only: the HTTP service (``geoverify/api/``) and the command line call these functions.
"""

from geoverify.store.db import UNAVAILABLE_ERRORS, Store, configured_database_url, upgrade

__all__ = ["UNAVAILABLE_ERRORS", "Store", "configured_database_url", "upgrade"]
