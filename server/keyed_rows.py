"""Rows looked up by a list of keys, with a query plan that does not depend on table statistics.

A push and its reconciliation look up hundreds of rows by key: cards by
card number, redemptions by record id or by card. Written as
"key = ANY(array)" or "key IN (...)", PostgreSQL 15 chose a sequential scan
whenever its statistics estimated the table as small or the matching rows
as few. While pushes fill a new table, the statistics estimate both. In
bench/ingest.py, the lookups of a batch's cards and record ids ran as
sequential scans of 15 to 75 ms each (auto_explain). The check for distant
use was planned on the tap time index, whose histogram ended before the
newest taps, so it read every tap of the last four hours for each chunk of
cards.

On PostgreSQL the keys travel as one parameter (key_array), and a LATERAL
subquery fetches each key's rows on its own. The planner can then only
choose between lookups for one key, and it takes the index on the key
column. A plain LATERAL subquery is not enough, because PostgreSQL merges it
into a join, which it planned as a hash join over every row of the table.
Other databases get a plain IN list.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import ARRAY, ColumnElement, Select, String, bindparam, func, select, true
from sqlalchemy.orm import Session

__all__ = ["select_by_keys", "key_array"]


def select_by_keys(session: Session, key_column, keys: Collection, columns: Iterable,
                   *where: ColumnElement[bool], joins: Iterable[tuple] = ()) -> Select:
    """Return a query of the columns for the rows whose key_column is one of keys.

    where adds conditions on those rows. joins is a list of (table, on
    clause) pairs joined to key_column's table, so that columns may come
    from them too. A key given twice still returns its rows once.
    NOTE: a key with a NUL byte makes PostgreSQL raise psycopg.DataError,
    because its text values cannot hold one, so callers leave such keys out.
    """
    # Repeated keys would repeat the rows of the LATERAL subquery; IN returns them once.
    keys = list(dict.fromkeys(keys))
    columns = list(columns)
    if session.get_bind().dialect.name != "postgresql":
        query = select(*columns)
        for table, on in joins:
            query = query.join(table, on)
        return query.where(key_column.in_(list(keys)), *where)
    lookup = func.unnest(key_array(key_column, keys)).table_valued("key").render_derived(name="lookup")
    inner = select(*(column.label(f"c{index}") for index, column in enumerate(columns)))
    for table, on in joins:
        inner = inner.join(table, on)
    # OFFSET 0 keeps PostgreSQL from merging the subquery into a join with the whole table.
    found = inner.where(key_column == lookup.c.key, *where).offset(0).lateral("found")
    named = (found.c[f"c{index}"].label(_name_of(column)) for index, column in enumerate(columns))
    return select(*named).select_from(lookup).join(found, true())


def key_array(key_column, keys: Collection):
    """Return a PostgreSQL array expression of the keys, of key_column's type.

    Text keys travel as one comma-separated text that string_to_array()
    splits: psycopg 3.3 took 1.8 µs of client CPU per element to send a list
    as an array parameter, and 0.3 µs as one joined text. Keys that contain
    a comma travel as an array.
    """
    keys = list(keys)
    if isinstance(key_column.type, String):
        joined = ",".join(keys)
        # An empty text would split into no keys at all.
        if joined and joined.count(",") == len(keys) - 1:
            return func.string_to_array(bindparam(None, joined, type_=String()), ",", type_=ARRAY(String()))
        # Without a length: casting to varchar(n) cuts a longer key silently, and it would match another row.
        return bindparam(None, keys, type_=ARRAY(String()))
    return bindparam(None, keys, type_=ARRAY(key_column.type))


def _name_of(column) -> str:
    return column.key if getattr(column, "key", None) else column.name
