"""`assetgen sql`: an operator's query that can read the studio and change nothing.

A read-only attach alone is not enough: a script can ``USE memory; DETACH db; ATTACH … AS rw``
and write, ``COPY … TO`` a file, or ``read_text('/etc/…')``. So each query runs

- on a connection of its own, thrown away afterwards (nothing it changes outlives it);
- as statements DuckDB's parser types SELECT or EXPLAIN only (SHOW, DESCRIBE, SUMMARIZE and
  ``FROM t`` are SELECTs): no USE, ATTACH, DETACH, COPY, EXPORT, INSERT, SET, PRAGMA, CALL;
- after the file is attached READ_ONLY, with ``enable_external_access = false`` (files are
  readable only under ``allowed_directories``, the data dir) and ``lock_configuration = true``,
  so the query cannot turn either back on.

DuckDB still permits re-attaching a file that was attached before external access was
disabled, which is why the statement check comes first and does not rely on the settings.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from engine.store.database import Store

__all__ = ["ReadOnlyViolation", "run_sandboxed_query", "ALLOWED_STATEMENTS"]

ALLOWED_STATEMENTS = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)


class ReadOnlyViolation(ValueError):
    """The query would change something or reach outside the data dir; the message says which statement."""


def _check_statements(query: str) -> None:
    try:
        statements = duckdb.connect(":memory:").extract_statements(query)
    except duckdb.Error as exc:
        raise ReadOnlyViolation(str(exc).splitlines()[0]) from None
    if not statements:
        raise ReadOnlyViolation("no SQL statement given; e.g. assetgen sql \"select * from sessions limit 5\"")
    for statement in statements:
        if statement.type not in ALLOWED_STATEMENTS:
            kind = statement.type.name
            raise ReadOnlyViolation(
                f"assetgen sql is read-only: a {kind} statement is not allowed "
                f"({statement.query.strip()[:80]!r}); only SELECT (with SHOW, DESCRIBE, SUMMARIZE) and EXPLAIN run "
                "here. Operators change things through `assetgen control|approve|submit` or the documented INSERTs.")


def _sql_text_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + (str(p).rstrip("/") + "/").replace("'", "''") + "'" for p in paths) + "]"


def run_sandboxed_query(store: Store, query: str, *, allowed_dir: Path | None = None) -> pd.DataFrame:
    """Run ``query`` on a read-only, locked-down attach of ``store``'s file; returns its rows."""
    _check_statements(query)
    sandbox = Store(store.path, lock_timeout=store.lock_timeout)  # its own connection, closed below
    try:
        with sandbox.read(migrate=False) as con:
            allowed = [Path(allowed_dir or store.path.parent).resolve()]
            con.execute(f"SET allowed_directories = {_sql_text_list(allowed)}")
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            try:
                return con.execute(query).df()
            except duckdb.PermissionException as exc:
                raise ReadOnlyViolation(
                    f"assetgen sql reads only the studio database and files under {allowed[0]}: "
                    f"{str(exc).splitlines()[0]}") from None
    finally:
        sandbox.close()
