"""Errors and warnings raised by geoverify."""


class GeoverifyError(Exception):
    """Base class of every error geoverify raises on purpose."""


class InputError(GeoverifyError, ValueError):
    """An input file or value cannot be read; the message names the file, line or feature."""

    def __init__(
        self, message: str, *, source: str | None = None, line: int | None = None, feature: int | str | None = None
    ):
        where = []
        if source is not None:
            where.append(str(source))
        if line is not None:
            where.append(f"line {line}")
        if feature is not None:
            where.append(f"feature {feature}")
        self.source, self.line, self.feature = source, line, feature
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class JsonTooDeep(InputError):
    """A JSON document nests arrays and objects deeper than :data:`geoverify.settings.MAX_JSON_DEPTH`."""


class HeatmapTooFine(InputError):
    """A heat map cell so small that a side of the grid's box would hold more than
    :data:`geoverify.measures.heatmap.MAX_CELLS_PER_SIDE` cells; ``smallest_cell_m`` is the smallest that fits."""

    def __init__(self, message: str, *, smallest_cell_m: float):
        super().__init__(message)
        self.smallest_cell_m = smallest_cell_m


class AuditKeyError(InputError):
    """An audit key file is missing, unreadable, not an Ed25519 key, or readable by other users."""


class GridGeometryError(InputError):
    """A grid polygon is missing, empty or cannot be repaired without changing its area."""


class RulesError(GeoverifyError, ValueError):
    """A rules file or rule value is invalid; the message names the key and allowed values."""


class GeoverifyWarning(UserWarning):
    """Something was accepted but changed or assumed; the message says what and where."""


# The store and service (geoverify.store); each maps to one HTTP status in geoverify/api/problems.py.
class StoreError(GeoverifyError):
    """Base class of the store's errors."""


class NotFound(StoreError):
    """The object does not exist, or is outside the caller's scope."""


class Forbidden(StoreError):
    """The caller's role or scope does not allow this change."""


class IdempotencyConflict(StoreError):
    """An Idempotency-Key was reused with a different request."""


class UploadInProgress(StoreError):
    """The upload repeats (or needs fixes of) an upload whose parts are still being stored.

    ``upload_id`` names that upload; the service answers 409 with ``Retry-After``: once it is
    stored the same request answers its result (or, when it died meanwhile, stores this one).
    """

    def __init__(self, message: str, upload_id: int | None = None):
        super().__init__(message)
        self.upload_id = upload_id


class UploadAbandoned(StoreError):
    """An upload stored in parts stalled past its lease and was discarded as dead; send it again."""


class UploadTooLarge(StoreError):
    """An upload holds more fixes than the store accepts in one request."""


class InvalidRequest(StoreError):
    """A request parameter or body field is missing or has a value the store cannot use."""


class ReviewConflict(StoreError):
    """A flag already has a review and the new one does not say it overturns it.

    ``previous`` holds that review (``review_id``, ``decision``, ``reviewer``, ``created_at``,
    ``note``); the service answers it beside the detail.
    """

    def __init__(self, message: str, previous: dict | None = None):
        super().__init__(message)
        self.previous = previous


class TokenRefused(Exception):
    """A token that exists but may no longer be used (expired, or a secret replaced by rotation);
    ``detail`` says which and what to do."""

    def __init__(self, name: str, detail: str):
        super().__init__(detail)
        self.name, self.detail = name, detail


class TokenError(StoreError):
    """A token cannot be created or revoked as asked."""


# The service (geoverify.api).
class ListenError(Exception):
    """The service cannot listen where it was asked to (port in use, no permission, no such address)."""
