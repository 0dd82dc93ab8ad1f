"""The `assetgen` group, its shared options and the Context every command receives.

Every command resolves its data directory the same way (--data-dir, then
ASSETGEN_DATA_DIR, then ./data) and does its work through engine modules, so
what the CLI can do, tests and the console can do too.
"""
from __future__ import annotations

import logging
import sys

import click

from engine.config import Settings, load_settings
from engine.store.database import Store

__all__ = ["Context", "cli", "pass_ctx", "main"]


class Context:
    def __init__(self, settings: Settings, lock_timeout: float):
        self.settings = settings
        self.lock_timeout = lock_timeout
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings.db_path, lock_timeout=self.lock_timeout)
        return self._store


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--data-dir", envvar="ASSETGEN_DATA_DIR", type=click.Path(file_okay=False),
              help="Data directory (database, assets, websockets token). Default ./data.")
@click.option("--db", envvar="ASSETGEN_DB", type=click.Path(dir_okay=False),
              help="Database file. Default <data-dir>/studio.duckdb.")
@click.option("--lock-timeout", default=10.0, show_default=True, type=float,
              help="Seconds to wait for another process to release the database file.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
@click.version_option(package_name="assetgen")
@click.pass_context
def cli(ctx: click.Context, data_dir, db, lock_timeout, verbose):
    """AI brand-asset studio: generate, watch, steer and approve.

    \b
    Start everything (engine + console on http://localhost:4500):
      assetgen up
    Make three icons on the offline stand-in:
      assetgen run --test --test-type icons
    Ask the database anything, even while the engine writes:
      assetgen sql "select type, count(*) from events group by 1"
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not verbose:  # per-request lines from libraries drown the progress display
        for noisy in ("httpx", "httpcore", "websockets", "websockets.server"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.obj = Context(load_settings(data_dir=data_dir, db=db), lock_timeout)

def main(argv=None):
    try:
        cli.main(args=argv, prog_name="assetgen", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
