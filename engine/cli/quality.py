"""Quality commands: score any PNG, list the review queue, rate an image, judge-vs-human agreement."""
from __future__ import annotations

import json
import os

import click

from engine.cli.context import Context, cli, pass_ctx
from engine.store.database import StoreBusy

__all__ = ["score", "review", "rate", "agreement"]


def _template_body(ctx: Context) -> dict:
    from engine.templates.brief import active_template, default_template  # noqa: PLC0415

    if not ctx.settings.db_path.exists():
        return default_template().body
    return active_template(ctx.store).body


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--asset", "asset_id", help="Catalog asset id to score against (default: from the PNG's provenance or its name).")
@click.option("--catalog", "catalog_path", type=click.Path(dir_okay=False), help="Catalog TOML (default: built-in).")
@click.option("--no-ocr", is_flag=True, help="Skip the copy check's OCR (seconds per social card).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@pass_ctx
def score(ctx: Context, paths, asset_id, catalog_path, no_ocr, as_json):
    """Score PNG files against the catalog and the active template, without a session.

    Prints every check with its value, threshold, pass/fail and note; near-duplicates are
    looked for among the studio's scored images. Nothing is written.

    \b
    Examples:
      assetgen score data/assets/s2026…/icon-will.png
      assetgen score my-card.png --asset social-checklist-tip --json
    """
    from engine.cli.scoring import ScoreError, format_scorecard, score_file  # noqa: PLC0415
    from engine.quality.neardup import LibraryEntry, LibraryIndex  # noqa: PLC0415
    from engine.quality.store import library_entries  # noqa: PLC0415

    try:
        body = _template_body(ctx)
        library = LibraryIndex([LibraryEntry(*row) for row in library_entries(ctx.store)]) \
            if ctx.settings.db_path.exists() else None
    except StoreBusy as exc:
        raise click.ClickException(str(exc))
    for path in paths:
        try:
            asset, card = score_file(path, template_body=body, catalog_path=catalog_path, asset_id=asset_id,
                                     library=library, ocr=not no_ocr)
        except ScoreError as exc:
            raise click.ClickException(str(exc))
        if as_json:
            click.echo(json.dumps({"path": path, "asset_id": asset.id, **card.to_dict()}))
        else:
            click.echo(format_scorecard(path, asset, card))


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def review(ctx: Context, as_json):
    """List images waiting for review: their latest attempt failed the quality gate, no one has rated them since.

    Rate one with `assetgen rate PATH --rating N`.
    """
    from engine.quality.store import review_queue  # noqa: PLC0415

    try:
        rows = review_queue(ctx.store)
    except StoreBusy as exc:
        raise click.ClickException(str(exc))
    if as_json:
        click.echo(json.dumps(rows, default=str))
        return
    if not rows:
        click.echo("(nothing waits for review)")
    for row in rows:
        click.echo(f"{row['item_id']}  attempt {row['attempt']}  failing: {row['failing']}\n    {row['image_path']}")


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--rating", type=click.IntRange(1, 5), required=True, help="1 (unusable) … 5 (excellent).")
@click.option("--tag", help="good | off-brand | wrong subject | missing element | illegible | poor craft | near-duplicate")
@click.option("--comment")
@click.option("--by", "rated_by", default=lambda: os.environ.get("USER") or "cli", help="Who rates (recorded).")
@pass_ctx
def rate(ctx: Context, path, rating, tag, comment, rated_by):
    """Rate an image 1-5 (and tag why): a row in `ratings`, measured against the AI judges by `assetgen agreement`."""
    from engine.quality.store import RatingError, add_rating, image_identity  # noqa: PLC0415

    try:
        identity = image_identity(ctx.store, path)
        rating_id = add_rating(ctx.store, image_path=identity.get("image_path", path), rating=rating, tag=tag,
                               comment=comment, rated_by=rated_by, item_id=identity.get("item_id"),
                               session_id=identity.get("session_id"), asset_id=identity.get("asset_id"),
                               attempt=identity.get("attempt"))
    except RatingError as exc:
        raise click.BadParameter(str(exc))
    except StoreBusy as exc:
        raise click.ClickException(str(exc))
    click.echo(f"rating {rating_id}: {rating}/5{' (' + tag + ')' if tag else ''} by {rated_by}")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def agreement(ctx: Context, as_json):
    """How far each AI judge agrees with operators' ratings: Spearman ρ and Cohen's κ (pass/fail), with counts."""
    from engine.quality.agreement import agreement_table  # noqa: PLC0415

    try:
        table = agreement_table(ctx.store)
    except StoreBusy as exc:
        raise click.ClickException(str(exc))
    if as_json:
        click.echo(json.dumps([a.to_dict() for a in table]))
        return
    if not table:
        click.echo("(no image has both a judge score and a rating yet)")
    for a in table:
        rho = "   -" if a.spearman_rho is None else f"{a.spearman_rho:+.2f}"
        kappa = "   -" if a.cohen_kappa is None else f"{a.cohen_kappa:+.2f}"
        click.echo(f"{a.judge_model:30} {a.criterion:11} n={a.n:<4} ρ {rho}  κ {kappa}"
                   f"{'  advisory only' if a.advisory else ''}")
