"""`assetgen`: thin commands over the engine library (`python -m engine` is the same program)."""
from engine.cli import credentials, info, quality, run  # noqa: F401  (each module registers its commands on the group)
from engine.cli.context import cli, main

__all__ = ["cli", "main"]
