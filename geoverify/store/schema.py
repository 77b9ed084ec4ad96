"""The store's tables, stated once with SQLAlchemy Core (SQLite by default, PostgreSQL alike).

Times are stored as UTC: ``*_ns`` columns are integer nanoseconds since 1970 (fixes, events),
``*_at`` columns ISO 8601 text in UTC (bookkeeping). Coordinates are WGS-84 degrees.
Geometries are GeoJSON text, the one source of truth on both databases. On PostgreSQL, migration
0002 adds what PostGIS brings: ``grids.geom``, a geometry column generated from that text, with a
GiST index (:data:`POSTGIS_ONLY` names these objects; they are not part of this metadata). JSON
documents are stored as text (canonical JSON), so hashes and replayed answers are byte-identical
on SQLite and PostgreSQL.

The Alembic migrations in :mod:`geoverify.store.migrations` create exactly these tables; a test
compares them on both databases.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()
# 64-bit on both: SQLite's INTEGER PRIMARY KEY is already 64-bit (and only that spelling auto-increments).
BigId = BigInteger().with_variant(Integer, "sqlite")
# Objects that exist only on PostgreSQL (PostGIS's own table, the generated geometry and its index).
POSTGIS_ONLY = frozenset({"spatial_ref_sys", "geom", "ix_grids_geom"})


def in_metadata(obj, name: str | None, type_: str, reflected: bool, compare_to) -> bool:
    """Alembic ``include_object`` hook: leave the PostgreSQL-only objects of :data:`POSTGIS_ONLY` out
    of schema comparisons."""
    return not (reflected and compare_to is None and name in POSTGIS_ONLY)


uploads = Table(
    "uploads",
    metadata,
    Column("upload_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # grids, tracks, events, sites
    Column("content_sha256", String(64), nullable=False),
    Column("request_sha256", String(64), nullable=False),  # kind + parameters + content
    Column("idempotency_key", String(200), nullable=True),  # unique per actor (the token name)
    Column("actor", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("response", Text, nullable=False),  # the JSON answer, replayed on repeats
    # Migration 0006: a track upload is stored in parts, each in its own short writer transaction
    # (geoverify.store.storing). Until its last part commits it is ``storing`` (``discarding`` while
    # the parts of a dead one are deleted) and every reader ignores its fixes; ``stored`` after.
    # ``storing_by`` names the process storing it (host:pid:random) and ``storing_until_ns`` ends its
    # lease (UTC ns), renewed by every part: past it, or with that process gone, the upload is dead.
    Column("state", String(10), nullable=False, server_default="stored"),
    Column("storing_by", String(100)),
    Column("storing_until_ns", BigInteger),
)
Index("ix_uploads_request", uploads.c.request_sha256)
Index("ix_uploads_actor_key", uploads.c.actor, uploads.c.idempotency_key, unique=True)
Index("ix_uploads_state", uploads.c.state)

grids = Table(
    "grids",
    metadata,
    Column("grid_id", String(100), primary_key=True),
    Column("name", String(200)),
    Column("grid_type", String(100)),
    Column("members", Text, nullable=False),  # JSON list of member ids
    Column("geometry", Text, nullable=False),  # GeoJSON geometry, WGS-84
    Column("properties", Text, nullable=False),  # JSON object of other properties
    Column("upload_id", Integer, ForeignKey("uploads.upload_id"), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

fixes = Table(
    "fixes",
    metadata,
    Column("fix_id", BigId, primary_key=True, autoincrement=True),
    Column("member_id", String(100), nullable=False),
    Column("time_ns", BigInteger, nullable=False),
    Column("lon", Float),
    Column("lat", Float),
    Column("accuracy", Float),
    Column("speed", Float),
    Column("provider", String(20)),
    Column("mock", Boolean),
    Column("device_id", String(100)),
    Column("crs", String(10), nullable=False),  # what the input declared; lon/lat are WGS-84
    Column("source", String(300), nullable=False),
    Column("line", Integer, nullable=False),
    Column("upload_id", Integer, ForeignKey("uploads.upload_id"), nullable=False),
    UniqueConstraint("member_id", "time_ns", name="uq_fixes_member_time"),
)
Index("ix_fixes_time", fixes.c.time_ns)
Index("ix_fixes_upload", fixes.c.upload_id)  # migration 0006: a dead upload's parts are deleted by it

events = Table(
    "events",
    metadata,
    Column("event_id", String(100), primary_key=True),  # an event id is the reporting member's own
    Column("member_id", String(100), primary_key=True),
    Column("time_ns", BigInteger, nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("category", String(100), nullable=False),
    Column("photo_sha256", String(64)),
    Column("description", Text),
    Column("source", String(300), nullable=False),
    Column("line", Integer, nullable=False),
    Column("upload_id", Integer, ForeignKey("uploads.upload_id"), nullable=False),
)
Index("ix_events_time", events.c.time_ns)
Index("ix_events_member", events.c.member_id, events.c.time_ns)

sites = Table(
    "sites",
    metadata,
    Column("site_id", String(100), primary_key=True),
    Column("grid_id", String(100), nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("tier", String(10)),
    Column("name", String(200)),
    Column("upload_id", Integer, ForeignKey("uploads.upload_id"), nullable=False),
)

patrols = Table(
    "patrols",
    metadata,
    Column("patrol_id", String(120), primary_key=True),
    Column("member_id", String(100), nullable=False),
    Column("grid_id", String(100)),
    Column("date", String(10), nullable=False),  # local date, ISO
    Column("verified_s", Float, nullable=False),
    Column("credit_status", String(10), nullable=False),
    Column("points", Float, nullable=False),
    Column("rule_version", String(100), nullable=False),
    Column("document", Text, nullable=False),  # Patrol.to_dict(tz), JSON
    Column("verified_at", String(40), nullable=False),
)
Index("ix_patrols_date", patrols.c.date)
Index("ix_patrols_grid", patrols.c.grid_id)
Index("ix_patrols_member", patrols.c.member_id)

flags = Table(
    "flags",
    metadata,
    Column("flag_id", String(200), primary_key=True),
    Column("patrol_id", String(120)),  # null for an event flag with no patrol
    Column("event_id", String(100)),
    Column("member_id", String(100)),
    Column("grid_id", String(100)),
    Column("date", String(10)),
    Column("code", String(40), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("status", String(10), nullable=False),  # open, confirmed, dismissed
    Column("start", String(40)),
    Column("end", String(40)),
    Column("lon", Float),
    Column("lat", Float),
    Column("evidence", Text, nullable=False),
)
Index("ix_flags_patrol", flags.c.patrol_id)

reviews = Table(
    "reviews",
    metadata,
    Column("review_id", Integer, primary_key=True, autoincrement=True),
    Column("flag_id", String(200), nullable=False),  # not a foreign key: flags are a projection
    Column("decision", String(10), nullable=False),  # confirmed, dismissed
    Column("note", Text, nullable=False),
    Column("reviewer", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
)
Index("ix_reviews_flag", reviews.c.flag_id)

ledger = Table(
    "ledger",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("credit_id", String(40), nullable=False, unique=True),
    Column("kind", String(10), nullable=False),  # grant, reversal
    Column("reverses", String(40)),
    Column("patrol_id", String(120), nullable=False),
    Column("member_id", String(100), nullable=False),
    Column("grid_id", String(100)),
    Column("date", String(10), nullable=False),
    Column("points", Float, nullable=False),
    Column("verified_s", Float, nullable=False),
    Column("rule_version", String(100), nullable=False),
    Column("created_at", String(40), nullable=False),
    # The entry's audit-log entry (credit.grant / credit.reversal): its seq and hash, as the feed shows
    # them (migration 0005; `geoverify audit verify` checks both against the log).
    Column("chain_seq", BigInteger),
    Column("chain_hash", String(64)),
)
Index("ix_ledger_patrol", ledger.c.patrol_id, ledger.c.seq)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(60), nullable=False),
    Column("object_type", String(40), nullable=False),
    Column("object_id", String(200)),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# One row: the newest audit entry, written in the same transaction, so that deleting the tail
# of the log is detected too.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("scopes", Text, nullable=False),  # JSON list of member or grid ids
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", String(40), nullable=False),
    Column("revoked_at", String(40)),
    # Migration 0005: when the token stops working (null: never), and after `token rotate` the
    # replaced secret's hash with the end of its grace period.
    Column("expires_at", String(40)),
    Column("previous_sha256", String(64)),
    Column("previous_until", String(40)),
)
Index("ix_tokens_previous", tokens.c.previous_sha256, unique=True)

# Signed checkpoints of the audit chain's head (geoverify.store.checkpoints, migration 0005): one
# per writer transaction that appended to the log while an audit key is configured.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("at", String(40), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("signature", String(100), nullable=False),  # Ed25519, base64
)

# Verification work: one row per member-day whose stored result is not current (new fixes, a new
# event, a changed grid, a partner's change). ``generation`` grows with every enqueue, so a worker
# that verified an older generation leaves the row for the next claim. A claim is a lease: a
# worker that dies leaves ``claimed_until_ns`` in the past and the row is claimed again.
work = Table(
    "work",
    metadata,
    Column("member_id", String(100), primary_key=True),
    Column("date", String(10), primary_key=True),  # local date, ISO
    Column("generation", Integer, nullable=False),
    Column("enqueued_ns", BigInteger, nullable=False),  # first enqueue since last current (UTC ns)
    Column("claimed_by", String(100)),
    Column("claimed_until_ns", BigInteger),
    Column("attempts", Integer, nullable=False),
)
Index("ix_work_enqueued", work.c.enqueued_ns)

# Each verified member-day's track as DUPLICATE_TRACK compares it (times, WGS-84 positions, device
# ids; geoverify.engines.track_summary.duplicate_summary), so a member-day is compared with other members
# of its day and the member's earlier days without reading or verifying their fixes again.
# ``partners`` lists the members whose two-phones comparison with this day passed (either side).
day_tracks = Table(
    "day_tracks",
    metadata,
    Column("member_id", String(100), primary_key=True),
    Column("date", String(10), primary_key=True),
    Column("summary_sha256", String(64), nullable=False),
    Column("summary", LargeBinary, nullable=False),
    Column("partners", Text, nullable=False),  # JSON list of member ids
)

# The space-time index of day tracks: per member-day, time bucket and 0.01° tile the box meets, the
# lon/lat box of the fixes in the bucket and either side of it (WGS-84 degrees). Two members can be one person with two
# phones only where their boxes meet in a bucket.
track_cells = Table(
    "track_cells",
    metadata,
    Column("member_id", String(100), nullable=False),
    Column("date", String(10), nullable=False),
    Column("bucket", BigInteger, nullable=False),  # UTC seconds // bucket length
    Column("tile", BigInteger, nullable=False),  # a 0.01° tile the box meets (see track_index.tiles)
    Column("min_lon", Float, nullable=False),
    Column("min_lat", Float, nullable=False),
    Column("max_lon", Float, nullable=False),
    Column("max_lat", Float, nullable=False),
)
Index("ix_track_cells_tile", track_cells.c.date, track_cells.c.tile, track_cells.c.bucket)
Index("ix_track_cells_member", track_cells.c.member_id, track_cells.c.date)

# Every change of a day track (stored anew, or deleted), in the order of the writer transactions
# that made it (migration 0007). A worker compares a member-day with its neighbours on its read
# snapshot, outside the writer lock; under the lock it reads the changes made since that snapshot
# (``seq`` above the snapshot's highest) and compares again only when one of them is a neighbour.
# Old rows are pruned (``geoverify.store.track_index.KEEP_CHANGES``).
track_changes = Table(
    "track_changes",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("member_id", String(100), nullable=False),
    Column("date", String(10), nullable=False),
)
