"""CLI commands about Content Credentials: verify, export-asset."""
from __future__ import annotations

import json
from pathlib import Path

import click

from engine.cli.context import Context, cli, pass_ctx

__all__ = ["verify", "export_asset"]


def _yes(value: bool | None, detail: str = "") -> str:
    word = "not checked" if value is None else ("yes" if value else "NO")
    return f"{word} ({detail})" if detail else word


def _report(v) -> str:
    """One file's checks as aligned lines: what was checked, the answer, and why when it failed."""
    from engine.credentials.verify import CONTENT_FAILURES  # noqa: PLC0415

    lines = [f"{v.path}: {'OK' if v.ok else 'FAILED'}"]
    if v.error:
        lines.append(f"  error              {v.error}")
    lines.append(f"  manifest present   {_yes(v.manifest_present)}")
    if not v.manifest_present:
        return "\n".join(lines)
    changed = [c for c in v.failures if c in CONTENT_FAILURES]
    lines += [f"  signature valid    {_yes(v.signature_valid)}",
              f"  signer trusted     {_yes(v.signer_trusted, v.signer)}",
              f"  content unchanged  {_yes(v.content_unchanged, ', '.join(changed))}"]
    if v.studio is None:
        lines.append("  studio record      not checked (no studio assertion in the manifest)")
    elif v.record_matches is None:
        lines.append("  studio record      not checked (no studio database here)")
    elif v.record_matches:
        decision = v.studio.get("decision") or {}
        lines.append(f"  studio record      matches: session {v.studio.get('session_id')}, cost "
                     f"${v.studio.get('cost_usd') or 0:.6f}, released by {decision.get('decided_by')} "
                     f"({decision.get('action')})")
    else:
        lines.append(f"  studio record      DIFFERS: {'; '.join(v.record_problems)}")
    other = [c for c in v.failures if c not in CONTENT_FAILURES]
    if other:
        lines.append(f"  other failures     {', '.join(other)}")
    return "\n".join(lines)


def _record(ctx: Context):
    """The studio's database when there is one (verify compares each manifest with it), else None."""
    return ctx.store if ctx.settings.db_path.exists() else None


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_ctx
def verify(ctx: Context, images: tuple[Path, ...], fmt: str):
    """Check the Content Credentials of each IMAGE (PNG, WebP, JPEG).

    For each file: is a C2PA manifest present, is its signature valid, is the signer trusted by
    this studio's anchors (<data-dir>/credentials/trust-anchors.pem or ASSETGEN_TRUST_ANCHORS),
    is the content unchanged since signing, and does the studio's own record of the asset
    (session, prompt, cost, decision) match what the manifest says. Exits 1 when any file fails.

    \b
    Examples:
      assetgen verify data/assets/s20260101-120000-ab12/icon-will.png
      assetgen verify data/exports/*/*.webp --format json
    """
    from engine.credentials.authority import read_anchors  # noqa: PLC0415
    from engine.credentials.verify import verify_file  # noqa: PLC0415

    anchors, store = read_anchors(ctx.settings.data_dir), _record(ctx)
    if anchors is None:
        click.echo(f"note: no trust anchors in {ctx.settings.data_dir / 'credentials'}: signers cannot be "
                   "trusted (run the engine once, or set ASSETGEN_TRUST_ANCHORS)", err=True)
    verdicts = [verify_file(path, anchors_pem=anchors, store=store) for path in images]
    if fmt == "json":
        click.echo(json.dumps([v.as_dict() for v in verdicts], indent=1, default=str))
    else:
        for v in verdicts:
            click.echo(_report(v))
    if not all(v.ok for v in verdicts):
        raise SystemExit(1)


@cli.command("export-asset")
@click.argument("asset")
@click.option("--format", "fmt", type=click.Choice(["png", "webp", "jpeg"]), default="webp", show_default=True,
              help="Rendition format.")
@click.option("--width", type=click.IntRange(min=1), help="Width in pixels (height follows). Default: the original's.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for renditions. Default <data-dir>/exports.")
@pass_ctx
def export_asset(ctx: Context, asset: str, fmt: str, width: int | None, out_dir: Path | None):
    """Derive a delivery rendition of a saved ASSET (asset id, or item id <session>:<asset>).

    The rendition keeps the original's XMP and gets its own Content Credentials naming the
    original as ingredient (c2pa.resized / c2pa.transcoded), so the chain survives delivery.

    \b
    Examples:
      assetgen export-asset icon-will --format webp --width 512
      assetgen export-asset s20260101-120000-ab12:hero-family --format jpeg --width 1600
    """
    from engine.credentials import StudioCredentials  # noqa: PLC0415
    from engine.credentials.authority import CredentialsError  # noqa: PLC0415
    from engine.credentials.export import ExportError, export_rendition, find_saved_item, rendition_path  # noqa: PLC0415
    from engine.credentials.sign import SigningFailed  # noqa: PLC0415
    from engine.read.archive import resolve_image_path  # noqa: PLC0415

    settings = ctx.settings
    try:
        item = find_saved_item(ctx.store, asset)
        source = resolve_image_path(item["image_path"], settings.data_dir)
        if source is None:
            raise ExportError(f"the image of {item['item_id']} is missing: {item['image_path']}")
        credentials = StudioCredentials.open(settings.data_dir, signing=settings.content_credentials)
        from PIL import Image  # noqa: PLC0415

        with Image.open(source) as image:
            target_width = width or image.width
        dest = rendition_path(out_dir or settings.data_dir / "exports", item, fmt=fmt, width=target_width)
        rendition = export_rendition(source, dest, fmt=fmt, width=width, credentials=credentials)
    except (ExportError, CredentialsError, SigningFailed) as exc:
        raise click.ClickException(str(exc))
    click.echo(f"{rendition.path}  {rendition.width}x{rendition.height} {rendition.format}, {rendition.bytes} bytes, "
               f"credentials {rendition.credentials}")
