"""Rows handed to DuckDB as Python lists, one per column: no Arrow, no pandas in the engine.

The ticker writes each tick's events and projected rows as ``INSERT … SELECT unnest($1), unnest($2), …``
with one list parameter per column. Building a pyarrow table for the same rows imported pyarrow and,
through its pandas check on every ``pa.array(list)``, pandas: about 80 MB resident in the engine before
any work, plus the pool pyarrow's allocator keeps (issue 14: bench/scale.py, peak RSS). DuckDB turns
the lists into its own vectors; the speed is the same (a tick of 1,500 events: ~80–110 ms either way
on the shared machine).
"""
from __future__ import annotations

import json
from typing import Any, Iterable

import duckdb

__all__ = ["Columns", "insert_columns", "ROWS_PER_INSERT"]

ROWS_PER_INSERT = 5_000


class Columns:
    """Equal-length columns by name (what ``insert_columns`` writes)."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, list]):
        self.data = {name: _uniform(values) for name, values in data.items()}

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]], *, json_columns: Iterable[str] = ()) -> "Columns":
        """Columns from row dicts (a key a row lacks is NULL); values of ``json_columns`` are encoded as JSON text."""
        encoded = set(json_columns)
        names = sorted({name for row in rows for name in row})
        return cls({
            name: [_json(row.get(name)) if name in encoded else row.get(name) for row in rows] for name in names
        })

    @property
    def column_names(self) -> list[str]:
        return list(self.data)

    def __len__(self) -> int:
        return len(next(iter(self.data.values()), ()))

    def to_pylist(self) -> list[dict[str, Any]]:
        names = self.column_names
        return [dict(zip(names, values)) for values in zip(*self.data.values())]


def insert_columns(con: duckdb.DuckDBPyConnection, table: str, columns: Columns, *, replace: bool = False,
                   expressions: dict[str, str] | None = None) -> None:
    """One INSERT of every row; ``expressions`` maps a column to SQL around ``{}`` (its unnested value),
    e.g. ``{"payload": "{}::JSON"}``."""
    names = columns.column_names
    if not names or not len(columns):
        return
    expressions = expressions or {}
    selected = ", ".join(expressions.get(name, "{}").format(f"unnest(${n})") for n, name in enumerate(names, 1))
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    quoted = ", ".join(f'"{name}"' for name in names)
    sql = f"{verb} INTO {table} ({quoted}) SELECT {selected}"
    values = list(columns.data.values())
    # in slices: DuckDB holds a converted copy of every parameter while a statement runs, and the first
    # tick of a 50,000-item session writes 50,000 pending item rows at once
    for start in range(0, len(columns), ROWS_PER_INSERT):
        con.execute(sql, [column[start:start + ROWS_PER_INSERT] for column in values])


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _uniform(values: list) -> list:
    """One Python type per column, so DuckDB can type the list: numbers of mixed kinds become floats,
    anything else mixed becomes text (the column's type then casts it, as a pandas fallback did)."""
    kinds = {value.__class__ for value in values if value is not None}
    if len(kinds) <= 1:
        return values
    if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values if value is not None):
        return [None if value is None else float(value) for value in values]
    return [value if value is None or isinstance(value, str) else str(value) for value in values]
