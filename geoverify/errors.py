"""Errors and warnings raised by geoverify."""


class GeoverifyError(Exception):
    """Base class of every error geoverify raises on purpose."""


class InputError(GeoverifyError, ValueError):
    """An input file or value cannot be read; the message names the file, line or feature."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 feature: int | str | None = None):
        where = []
        if source is not None:
            where.append(str(source))
        if line is not None:
            where.append(f"line {line}")
        if feature is not None:
            where.append(f"feature {feature}")
        self.source, self.line, self.feature = source, line, feature
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class GridGeometryError(InputError):
    """A grid polygon is missing, empty or cannot be repaired without changing its area."""


class RulesError(GeoverifyError, ValueError):
    """A rules file or rule value is invalid; the message names the key and allowed values."""


class GeoverifyWarning(UserWarning):
    """Something was accepted but changed or assumed; the message says what and where."""
