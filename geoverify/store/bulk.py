"""Bulk inserts on each database's fast path: ``COPY`` on PostgreSQL, one ``executemany`` on SQLite.

Rows are handed over column by column (lists of Python values, ``None`` for NULL) and go straight
to the driver, without SQLAlchemy's per-row parameter processing. Both run inside the caller's
transaction (normally :meth:`geoverify.store.db.Store.write`), so a failed upload leaves nothing
behind on either database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, String, Table

from geoverify.errors import InputError


def insert_columns(conn: Connection, table: Table, columns: Mapping[str, Sequence]) -> int:
    """Insert rows given as columns into ``table`` in the current transaction.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection inside a transaction (SQLite or PostgreSQL through psycopg 3).
    table : sqlalchemy.Table
    columns : mapping of str to sequence
        Column name → values, all of one length; ``None`` is NULL. Columns left out take their
        default (NULL, or the next id of an auto-increment key).

    Returns
    -------
    int
        Number of rows inserted.
    """
    names = list(columns)
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise ValueError(f"table {table.name} has no column(s) {', '.join(unknown)}")
    lengths = {len(columns[n]) for n in names}
    if len(lengths) > 1:
        raise ValueError(f"columns of unequal length for table {table.name}: {sorted(lengths)}")
    count = lengths.pop() if lengths else 0
    if not count:
        return 0
    driver: Any = conn.connection.driver_connection  # psycopg's or sqlite3's connection
    quoted = ", ".join(f'"{n}"' for n in names)
    rows = zip(*(columns[n] for n in names))
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        types = [_pg_type(table.c[n].type) for n in names]
        with driver.cursor() as cursor:
            with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN (FORMAT BINARY)') as copy:
                copy.set_types(types)
                write = copy.write_row
                for row in rows:
                    write(row)
    elif conn.dialect.name == "sqlite":
        cursor = driver.cursor()
        try:
            cursor.executemany(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(names))})', rows)
        finally:
            cursor.close()
    else:  # another database: SQLAlchemy's executemany
        from sqlalchemy import insert

        conn.execute(insert(table), [dict(zip(names, row)) for row in rows])
    return count


def check_text(table: Table, columns: Mapping[str, Sequence], what: str = "row", first: int = 1) -> None:
    """Refuse text PostgreSQL would not store, on every database alike.

    SQLite keeps any text; PostgreSQL refuses a value longer than its ``varchar(n)`` and the NUL
    character. Checking first gives one clear error on both, naming the column, the offending value's
    ``source`` and ``line`` when the columns have them (else ``what`` and its position, counted
    from ``first``), and the limit.

    Raises
    ------
    geoverify.errors.InputError
    """
    for name, values in columns.items():
        column = table.c.get(name)
        if column is None or not isinstance(column.type, String):
            continue
        limit = column.type.length
        distinct = {v for v in values if v is not None}
        bad = [v for v in distinct if (limit and len(v) > limit) or "\x00" in v]
        if not bad:
            continue
        index = list(values).index(bad[0])
        source = columns["source"][index] if "source" in columns else None
        line = columns["line"][index] if "line" in columns else None
        problem = (
            f"the NUL character is not allowed in {name}"
            if "\x00" in bad[0]
            else f"{name} {bad[0][:40]!r}… is {len(bad[0])} characters long; at most {limit} are stored"
        )
        raise InputError(
            f"{problem}; shorten or fix the value and upload again",
            source=source,
            line=line if line is not None else None,
            feature=None if line is not None else f"{what} {index + first}",
        )


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict]) -> int:
    """Insert ``rows`` (dicts with the same keys) into ``table``; see :func:`insert_columns`."""
    if not rows:
        return 0
    names = list(rows[0])
    return insert_columns(conn, table, {n: [row.get(n) for row in rows] for n in names})


def _pg_type(sa_type) -> str:
    """The PostgreSQL type name psycopg's binary COPY needs for a column."""
    from sqlalchemy import Boolean, Float, Integer, String

    if isinstance(sa_type, Boolean):
        return "bool"
    if isinstance(sa_type, Float):
        return "float8"
    if isinstance(sa_type, Integer):  # BigInteger is an Integer
        return "int8" if sa_type.__class__.__name__ == "BigInteger" else "int4"
    if isinstance(sa_type, String):
        return "text"
    raise TypeError(f"no COPY type for {sa_type!r}")
