"""Where things live: the data directory, the database file, the websockets address.

Every process (engine, console, CLI) resolves its settings here, so the same
environment variables mean the same thing everywhere.
"""
from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["Settings", "load_settings", "ensure_ws_token", "DEFAULT_WS_PORT", "DEFAULT_CONSOLE_PORT", "REPO_ROOT",
           "BUNDLED_DATA", "safe_name"]

# The checkout (app.py, the console) and the catalogs, templates and price snapshot shipped with it.
REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DATA = REPO_ROOT / "data"

_UNSAFE_IN_NAMES = re.compile(r"[^A-Za-z0-9._-]+")

DEFAULT_WS_HOST = "127.0.0.1"
DEFAULT_WS_PORT = 4501
DEFAULT_CONSOLE_PORT = 4500
DEFAULT_TICK_SECONDS = 0.25


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    db_path: Path
    ws_host: str = DEFAULT_WS_HOST
    ws_port: int = DEFAULT_WS_PORT
    console_port: int = DEFAULT_CONSOLE_PORT
    tick_seconds: float = DEFAULT_TICK_SECONDS
    content_credentials: bool = True  # sign every saved image (engine/credentials); off: XMP and chunks only
    extra: dict = field(default_factory=dict)

    @property
    def assets_dir(self) -> Path:
        return self.data_dir / "assets"

    @property
    def journal_dir(self) -> Path:
        """The write-ahead event journal (engine/live/journal.py): segments the ticker has not drained yet."""
        return self.data_dir / "journal"

    @property
    def token_path(self) -> Path:
        return self.data_dir / ".ws-token"

    @property
    def engine_lock_path(self) -> Path:
        # beside the database file, not in the data dir: two data dirs may share one --db
        return self.db_path.with_name(self.db_path.name + ".engine.lock")

    @property
    def ws_url(self) -> str:
        return f"ws://{self.ws_host}:{self.ws_port}"

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    def as_env(self) -> dict[str, str]:
        """The ASSETGEN_* variables that make a child process (engine, console) resolve these same settings."""
        return {"ASSETGEN_DATA_DIR": str(self.data_dir), "ASSETGEN_DB": str(self.db_path),
                "ASSETGEN_WS_HOST": self.ws_host, "ASSETGEN_WS_PORT": str(self.ws_port),
                "ASSETGEN_CONSOLE_PORT": str(self.console_port)}


def safe_name(text: str) -> str:
    """A file or folder name made from an id: only letters, digits, dot, dash and underscore."""
    cleaned = _UNSAFE_IN_NAMES.sub("-", text).strip(".-")
    return cleaned[:120] or "asset"


def load_settings(
    *,
    data_dir: str | os.PathLike | None = None,
    db: str | os.PathLike | None = None,
    ws_host: str | None = None,
    ws_port: int | None = None,
    tick_seconds: float | None = None,
    content_credentials: bool | None = None,
) -> Settings:
    """Explicit arguments win, then ASSETGEN_* environment variables, then defaults."""
    env = os.environ
    data = Path(data_dir or env.get("ASSETGEN_DATA_DIR") or "data").expanduser().resolve()
    db_path = Path(db or env.get("ASSETGEN_DB") or data / "studio.duckdb").expanduser().resolve()
    return Settings(
        data_dir=data,
        db_path=db_path,
        ws_host=ws_host or env.get("ASSETGEN_WS_HOST") or DEFAULT_WS_HOST,
        ws_port=int(ws_port if ws_port is not None else env.get("ASSETGEN_WS_PORT") or DEFAULT_WS_PORT),
        console_port=int(env.get("ASSETGEN_CONSOLE_PORT") or DEFAULT_CONSOLE_PORT),
        tick_seconds=float(tick_seconds or env.get("ASSETGEN_TICK_SECONDS") or DEFAULT_TICK_SECONDS),
        content_credentials=(content_credentials if content_credentials is not None else
                             env.get("ASSETGEN_CONTENT_CREDENTIALS", "on").strip().lower() not in ("0", "off", "false", "no")),
    )


def ensure_ws_token(settings: Settings) -> str:
    """Read the websockets token, creating it (mode 0600) on first start."""
    path = settings.token_path
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its token
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token
