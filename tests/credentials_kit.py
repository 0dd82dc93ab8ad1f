"""A signed test session shared by the credentials tests, and small readers for what they check."""
from __future__ import annotations

import asyncio
import io
import json

import c2pa
from click.testing import CliRunner

from engine.cli import cli
from engine.config import load_settings
from engine.credentials.authority import read_anchors
from engine.process.runtime import Engine
from engine.session.spec import RunSpec


def run_signed_session(data_dir, *, session_id: str = "s-cred", content_credentials: bool = True):
    """Three icons on the stand-in with signing on; returns (settings, run)."""
    settings = load_settings(data_dir=data_dir, tick_seconds=0.05, content_credentials=content_credentials)

    async def main():
        async with Engine(settings, serve_websockets=False) as engine:
            return await engine.run_session(RunSpec(test=True, test_type="icons", latency_scale=0),
                                            session_id=session_id)
    return settings, asyncio.run(main())


def c2pa_read(data: bytes, mime: str, anchors_pem: str | None):
    """What a third party's reader sees: (manifest store as JSON, validation state, validation results)."""
    settings = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if anchors_pem:
        settings["trust"] = {"trust_anchors": anchors_pem}
    with c2pa.Reader(mime, io.BytesIO(data), context=c2pa.Context.from_dict(settings)) as reader:
        return json.loads(reader.json()), reader.get_validation_state(), reader.get_validation_results()


def anchors(settings) -> str:
    return read_anchors(settings.data_dir)


def assetgen(settings, *args):
    """Run the CLI in-process against this data directory."""
    return CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), *args], catch_exceptions=False)
