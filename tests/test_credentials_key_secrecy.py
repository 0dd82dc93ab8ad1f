"""The signing key stays in its file: no table, event, log line, image or other file holds any of it."""
from __future__ import annotations

import base64
import logging

import duckdb
import pytest
from credentials_kit import run_signed_session
from cryptography.hazmat.primitives import serialization

from engine.credentials.authority import KEY_FILE, credentials_dir

pytestmark = pytest.mark.timeout(90)


def key_fragments(pem: bytes) -> list[bytes]:
    """Pieces of the key a leak would show: each base64 line of the PEM, and the raw private scalar."""
    lines = [line for line in pem.splitlines() if line and not line.startswith(b"-----")]
    key = serialization.load_pem_private_key(pem, password=None)
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    return lines + [base64.b64decode(b"".join(lines)), scalar, scalar.hex().encode()]


def test_the_signing_key_appears_in_no_table_event_log_line_or_image(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG):
        settings, run = run_signed_session(tmp_path / "data", session_id="s-key")
    assert run.counts() == {"saved": 3}
    key_path = credentials_dir(settings.data_dir) / KEY_FILE
    fragments = key_fragments(key_path.read_bytes())

    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        assert "events" in tables
        for table in tables:
            dump = con.execute(f'SELECT * FROM "{table}"').df().to_csv().encode()
            assert not [f for f in fragments if f in dump], f"part of the signing key is in table {table}"
    finally:
        con.close()
    lines = [record.getMessage().encode() for record in caplog.records]
    assert lines, "nothing was logged: the log check would prove nothing"
    assert not [line for line in lines if any(f in line for f in fragments)]
    files = [p for p in settings.data_dir.rglob("*") if p.is_file() and p != key_path]
    assert any(p.suffix == ".png" for p in files)
    for path in files:
        data = path.read_bytes()
        assert not [f for f in fragments if f in data], f"part of the signing key is in {path}"
