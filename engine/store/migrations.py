"""Schema migrations: an ordered list of named functions, never edited once shipped.

Add a new function at the end of MIGRATIONS to change the schema. Each runs once
per database, inside the transaction that records it in ``_migrations``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

import duckdb

__all__ = ["MIGRATIONS", "apply_migrations"]


def m001_core_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        CREATE TABLE events (
            seq BIGINT NOT NULL,
            ts TIMESTAMPTZ NOT NULL,
            session_id VARCHAR,
            item_id VARCHAR,
            type VARCHAR NOT NULL,
            payload JSON
        )""")
    con.execute("""
        CREATE TABLE sessions (
            session_id VARCHAR PRIMARY KEY,
            status VARCHAR NOT NULL,          -- running | paused | awaiting_approval | completed | aborted | failed | interrupted
            provider VARCHAR,                 -- standin | openrouter
            created_at TIMESTAMPTZ,
            started_at TIMESTAMPTZ,
            finished_at TIMESTAMPTZ,
            items_total INTEGER DEFAULT 0,
            items_done INTEGER DEFAULT 0,
            cost_usd DOUBLE DEFAULT 0,
            budget_usd DOUBLE,
            params JSON,
            pause_reason VARCHAR,             -- operator | budget | credits | approval | config
            speed VARCHAR,
            outcome VARCHAR,
            simulated BOOLEAN DEFAULT false,
            reserved_usd DOUBLE DEFAULT 0,
            engine_pid INTEGER,
            updated_at TIMESTAMPTZ,
            message VARCHAR
        )""")
    con.execute("""
        CREATE TABLE items (
            session_id VARCHAR NOT NULL,
            item_id VARCHAR PRIMARY KEY,      -- '<session_id>:<asset_id>'
            asset_id VARCHAR NOT NULL,
            asset_type VARCHAR,
            tier VARCHAR,
            status VARCHAR NOT NULL,          -- pending | in_progress | awaiting_approval | saved | skipped | rejected | failed | aborted
            stage VARCHAR,                    -- discovery | prompt | model | approval | image | save | done
            winner_model VARCHAR,
            final_prompt VARCHAR,
            image_path VARCHAR,
            cost_usd DOUBLE DEFAULT 0,
            title VARCHAR,
            batch_id VARCHAR,
            template_version INTEGER,
            outcome VARCHAR,
            reason VARCHAR,
            started_at TIMESTAMPTZ,
            finished_at TIMESTAMPTZ,
            updated_at TIMESTAMPTZ
        )""")
    con.execute("""
        CREATE TABLE api_calls (
            call_id VARCHAR PRIMARY KEY,
            session_id VARCHAR,
            item_id VARCHAR,
            purpose VARCHAR,                  -- prompt | image
            model VARCHAR,
            started_at TIMESTAMPTZ,
            latency_ms DOUBLE,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            cost_usd DOUBLE DEFAULT 0,
            status VARCHAR,                   -- in_flight | ok | error | cancelled
            http_status INTEGER,
            error VARCHAR,
            attempt INTEGER,
            generation_id VARCHAR,
            simulated BOOLEAN DEFAULT false,
            finished_at TIMESTAMPTZ
        )""")
    con.execute("""
        CREATE TABLE proposals (
            session_id VARCHAR NOT NULL,
            item_id VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            prompt VARCHAR,
            confidence DOUBLE,
            score DOUBLE,
            is_winner BOOLEAN DEFAULT false,
            reasoning VARCHAR,
            rationale VARCHAR,
            coverage DOUBLE,
            cost_usd DOUBLE,
            latency_ms DOUBLE,
            call_id VARCHAR,
            PRIMARY KEY (item_id, model)
        )""")
    con.execute("""
        CREATE TABLE approvals (
            batch_id VARCHAR PRIMARY KEY,
            session_id VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,            -- approval_request | threshold_approval_request
            status VARCHAR NOT NULL,          -- pending | approved | partially_approved | modified | rejected | timed_out_approved | held
            requested_at TIMESTAMPTZ,
            expires_at TIMESTAMPTZ,
            item_ids JSON,
            estimated_cost_usd DOUBLE,
            decided_by VARCHAR,
            decided_at TIMESTAMPTZ,
            threshold_usd DOUBLE
        )""")
    con.execute("CREATE SEQUENCE decision_ids START 1")
    con.execute("""
        CREATE TABLE decisions (
            decision_id BIGINT PRIMARY KEY DEFAULT nextval('decision_ids'),
            batch_id VARCHAR,
            action VARCHAR,                   -- approve_batch | reject_batch | modify_batch | approve_items
            item_ids JSON,
            modifications JSON,               -- {"<item_id>": "<edited prompt>"}
            comment VARCHAR,
            decided_by VARCHAR,
            created_at TIMESTAMPTZ DEFAULT now(),
            applied_at TIMESTAMPTZ,
            result VARCHAR
        )""")
    con.execute("CREATE SEQUENCE control_ids START 1")
    con.execute("""
        CREATE TABLE controls (
            control_id BIGINT PRIMARY KEY DEFAULT nextval('control_ids'),
            session_id VARCHAR,
            command VARCHAR,                  -- pause | resume | skip | abort | speed
            arg VARCHAR,
            item_id VARCHAR,
            requested_by VARCHAR,
            source VARCHAR,                   -- console | cli | ws | sql
            created_at TIMESTAMPTZ DEFAULT now(),
            applied_at TIMESTAMPTZ,
            result VARCHAR
        )""")
    con.execute("CREATE SEQUENCE job_ids START 1")
    con.execute("""
        CREATE TABLE jobs (
            job_id BIGINT PRIMARY KEY DEFAULT nextval('job_ids'),
            spec JSON,
            requested_by VARCHAR,
            created_at TIMESTAMPTZ DEFAULT now(),
            status VARCHAR DEFAULT 'queued',  -- queued | running | done | failed | cancelled
            session_id VARCHAR,
            error VARCHAR,
            started_at TIMESTAMPTZ,
            finished_at TIMESTAMPTZ
        )""")
    con.execute("""
        CREATE TABLE template_versions (
            version INTEGER PRIMARY KEY,
            body JSON NOT NULL,
            author VARCHAR,
            comment VARCHAR,
            created_at TIMESTAMPTZ DEFAULT now(),
            active BOOLEAN DEFAULT false
        )""")


def m002_template_activation(con: duckdb.DuckDBPyConnection) -> None:
    # Activating a version changes every later brief: who did it, and when, belongs beside who wrote it.
    con.execute("ALTER TABLE template_versions ADD COLUMN activated_by VARCHAR")
    con.execute("ALTER TABLE template_versions ADD COLUMN activated_at TIMESTAMPTZ")


def m003_call_cost_state(con: duckdb.DuckDBPyConnection) -> None:
    # A call whose answer carried no cost holds its estimate until /generation tells the bill:
    # the console must show such a cost as estimated, never as a settled figure (or as $0).
    con.execute("ALTER TABLE api_calls ADD COLUMN cost_estimated BOOLEAN DEFAULT false")


def m004_quality(con: duckdb.DuckDBPyConnection) -> None:
    # Quality scoring (docs/quality.md): one row per check or judge criterion per image attempt,
    # projected from quality_scored events; ratings are operators' own rows.
    con.execute("""
        CREATE TABLE scores (
            score_id VARCHAR PRIMARY KEY,     -- '<item_id>#<attempt>/<kind>/<name>' (+ '/<judge_model>')
            session_id VARCHAR,
            item_id VARCHAR,
            asset_id VARCHAR,
            asset_type VARCHAR,
            attempt INTEGER,                  -- 1 = the first image; 2.. = regenerations
            image_path VARCHAR,
            kind VARCHAR,                     -- check | judge | gate
            name VARCHAR,                     -- palette | contrast | copy | size | aspect | alpha | sharpness | near_duplicate;
                                              -- subject | elements | brand | craft | legibility | overall (judge); verdict (gate)
            judge_model VARCHAR,
            value DOUBLE,
            threshold DOUBLE,
            op VARCHAR,                       -- >= | <=
            passed BOOLEAN,                   -- null: does not apply, or the scorer is unavailable
            note VARCHAR,
            detail JSON,
            version VARCHAR,                  -- the scorer's version
            template_version INTEGER,
            simulated BOOLEAN DEFAULT false,
            scored_at TIMESTAMPTZ
        )""")
    con.execute("CREATE SEQUENCE rating_ids START 1")
    con.execute("""
        CREATE TABLE ratings (
            rating_id BIGINT PRIMARY KEY DEFAULT nextval('rating_ids'),
            session_id VARCHAR,
            item_id VARCHAR,
            asset_id VARCHAR,
            attempt INTEGER,
            image_path VARCHAR NOT NULL,
            rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
            tag VARCHAR,                      -- good | off-brand | wrong subject | illegible | poor craft | near-duplicate
            comment VARCHAR,
            rated_by VARCHAR NOT NULL,
            created_at TIMESTAMPTZ DEFAULT now()
        )""")
    con.execute("ALTER TABLE items ADD COLUMN quality VARCHAR")  # passed | review | regenerating (null: unscored)
    con.execute("ALTER TABLE items ADD COLUMN attempts INTEGER")  # images made for the item (regenerations + 1)


def m005_decision_budget(con: duckdb.DuckDBPyConnection) -> None:
    # Approving more than the budget has left raises the budget in the same decision, applied
    # atomically with it (docs/operations.md, The approval gate): the new budget is part of the row.
    con.execute("ALTER TABLE decisions ADD COLUMN budget_usd DOUBLE")


MIGRATIONS: list[Callable[[duckdb.DuckDBPyConnection], None]] = [
    m001_core_tables,
    m002_template_activation,
    m003_call_cost_state,
    m004_quality,
    m005_decision_budget,
]


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply, in order, every migration not yet recorded; each in its own transaction."""
    con.execute("CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)")
    done = {row[0] for row in con.execute("SELECT name FROM _migrations").fetchall()}
    applied = []
    for migration in MIGRATIONS:
        if migration.__name__ in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            migration(con)
            con.execute(
                "INSERT INTO _migrations VALUES (?, ?)", [migration.__name__, datetime.now(timezone.utc)]
            )
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        applied.append(migration.__name__)
    return applied
