"""Rows handed to DuckDB as NumPy arrays, one per column: no Arrow, no pandas in the engine.

The ticker writes each tick's events and projected rows as ``INSERT … SELECT … FROM _assetgen_columns``,
a local dict of one NumPy array per column that DuckDB's replacement scan finds and scans in place (integer
and float columns without NULLs as native arrays, the rest as object arrays). Building a pyarrow table for the same rows
imported pyarrow and, through its pandas check on every ``pa.array(list)``, pandas: about 80 MB resident
in the engine before any work (issue 14: bench/scale.py, peak RSS); NumPy is 11 MB and the image
scorer loads it anyway. List parameters (``unnest($1)``) were the other way without Arrow, but DuckDB
converts a Python list element by element: 9–12 µs per event against 2–3 µs for the arrays
(a tick of 15,000 events), the largest single cost on the write path (bench/events.py --profile).
"""
from __future__ import annotations

import json
from typing import Any, Iterable

import duckdb
import numpy as np

__all__ = ["Columns", "insert_columns"]


class Columns:
    """Equal-length columns by name (what ``insert_columns`` writes)."""

    __slots__ = ("data", "kinds")

    def __init__(self, data: dict[str, list]):
        self.data: dict[str, list] = {}
        self.kinds: dict[str, set[type]] = {}  # each column's value classes (NoneType for NULL), scanned once
        for name, values in data.items():
            self.data[name], self.kinds[name] = _uniform(values, {value.__class__ for value in values})

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
    selected = ", ".join(expressions.get(name, "{}").format(f'"{name}"') for name in names)
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    quoted = ", ".join(f'"{name}"' for name in names)
    # found by DuckDB's replacement scan, which looks the name up among this frame's locals (register()
    # would refuse while a reader left a result unfetched on the connection)
    _assetgen_columns = {name: _as_array(values, columns.kinds[name])  # noqa: F841
                         for name, values in columns.data.items()}
    con.execute(f"{verb} INTO {table} ({quoted}) SELECT {selected} FROM _assetgen_columns")


def _as_array(values: list, kinds: set[type]) -> np.ndarray:
    """A column DuckDB scans without converting element by element where it can: int64 or float64 when
    every value is one of those, otherwise an object array (None is NULL)."""
    if kinds == {int}:
        return np.fromiter(values, np.int64, len(values))
    if kinds == {float}:
        return np.fromiter(values, np.float64, len(values))
    return np.fromiter(values, object, len(values))  # fromiter keeps a list-valued cell one element


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _uniform(values: list, kinds: set[type]) -> tuple[list, set[type]]:
    """One Python type per column, so DuckDB can type it: numbers of mixed kinds become floats, anything
    else mixed becomes text (the column's type then casts it, as a pandas fallback did). Returns the
    values and their classes."""
    present = kinds - {type(None)}
    if len(present) <= 1:
        return values, kinds
    nulls = kinds & {type(None)}
    if all(issubclass(kind, (int, float)) and not issubclass(kind, bool) for kind in present):
        return [None if value is None else float(value) for value in values], {float} | nulls
    return [value if value is None or isinstance(value, str) else str(value) for value in values], {str} | nulls
