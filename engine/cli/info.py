"""`assetgen` commands that look and tell: sql, status, templates, catalog, watch, standin, models.

Every command resolves its data directory the same way (--data-dir, then ASSETGEN_DATA_DIR, then ./data)
and does its work through engine modules, so what the CLI can do, tests and the console can do too.
"""
from __future__ import annotations

import json
import sys

import click

from engine.cli.context import Context, cli, pass_ctx
from engine.store.database import StoreBusy
from engine.vocabulary import DEFAULT_PROVIDER, PROVIDERS
@cli.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@pass_ctx
def sql(ctx: Context, query: str, fmt: str):
    """Run a read-only SQL QUERY against the studio database.

    Works while the engine runs: the file is attached read-only for this one
    query and released at once.

    \b
    Examples:
      assetgen sql "select type, count(*) from events group by 1 order by 2 desc"
      assetgen sql "select * from sessions order by created_at desc limit 5" --format json
    """
    from engine.read.sessions import run_readonly_sql  # noqa: PLC0415 (keeps `assetgen --help` fast)

    try:
        frame = run_readonly_sql(ctx.store, query, allowed_dir=ctx.settings.data_dir)
    except StoreBusy as exc:
        raise click.ClickException(str(exc))
    except Exception as exc:  # DuckDB's own message says what is wrong with the query
        raise click.ClickException(str(exc).splitlines()[0])
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso"))
    else:
        click.echo(frame.to_string(index=False, na_rep="NULL") if len(frame) else "(no rows)")


@cli.command()
@pass_ctx
def status(ctx: Context):
    """Show recent sessions, pending approvals and queued jobs."""
    from engine.read.sessions import status_summary  # noqa: PLC0415

    try:
        summary = status_summary(ctx.store)
    except StoreBusy as exc:
        raise click.ClickException(str(exc))
    click.echo(summary)




# Commands defined in other modules register themselves below this line.


# --- doctor (engine/process/doctor.py) -------------------------------------------------------------------
@cli.command()
@click.option("--port", type=int, help="Console port to check. Default 4500 (or ASSETGEN_CONSOLE_PORT).")
@click.option("--ws-port", type=int, help="Engine websockets port to check. Default 4501 (or ASSETGEN_WS_PORT).")
@click.option("--provider", type=click.Choice(PROVIDERS), default=DEFAULT_PROVIDER, show_default=True,
              help="openrouter: also check that OPENROUTER_API_KEY reaches OpenRouter (needs the network).")
@click.option("--chromium", "chromium_path", default="/usr/bin/chromium", show_default=True,
              type=click.Path(dir_okay=False), help="The chromium the browser tests drive.")
@pass_ctx
def doctor(ctx: Context, port, ws_port, provider, chromium_path):
    """Check this machine can run the studio, and say what to do about each problem.

    Python version, the project venv, chromium, ports 4500/4501 (and who holds
    them), the data dir, the database's lock holder, the OpenRouter key (never
    printed) and the price snapshot's age. Exits 1 when something blocks a run.

    \b
    Examples:
      assetgen doctor
      assetgen doctor --provider openrouter     # also asks OpenRouter whether the key works
      assetgen doctor --port 4600 --ws-port 4601
    """
    from engine.process.doctor import exit_code, format_report, run_checks  # noqa: PLC0415

    settings = ctx.settings.with_(console_port=ctx.settings.console_port if port is None else port,
                                  ws_port=ctx.settings.ws_port if ws_port is None else ws_port)
    checks = run_checks(settings, provider=provider, chromium_path=chromium_path)
    click.echo(format_report(checks))
    sys.exit(exit_code(checks))


# --- prompt templates and the asset catalog (engine/templates.py, engine/catalog.py) -----------
@cli.group()
def templates():
    """List, show, activate and save prompt template versions.

    \b
    Examples:
      assetgen templates list
      assetgen templates show 3 --diff 2
      assetgen templates save edited.json --comment "warmer palette" --activate
    """


def _template_call(fn, *args, **kwargs):
    from engine.templates.brief import TemplateError  # noqa: PLC0415

    try:
        return fn(*args, **kwargs)
    except (TemplateError, StoreBusy) as exc:
        raise click.ClickException(str(exc))


@templates.command("list")
@pass_ctx
def templates_list(ctx: Context):
    """Every template version, newest first; * marks the active one."""
    from engine.templates.brief import ensure_default_template, list_template_versions  # noqa: PLC0415

    _template_call(ensure_default_template, ctx.store)
    for v in _template_call(list_template_versions, ctx.store):
        when = v.created_at.strftime("%Y-%m-%d %H:%M") if v.created_at else ""
        activated = (f"  (active since {v.activated_at:%Y-%m-%d %H:%M}, by {v.activated_by or '-'})"
                     if v.active and v.activated_at else "")
        click.echo(f"{'*' if v.active else ' '} v{v.version:<4} {when:16}  {v.author or '-':12}  {v.comment or ''}"
                   f"{activated}")


@templates.command("show")
@click.argument("version", type=int, required=False)
@click.option("--diff", "against", type=int, help="Show a unified diff from version AGAINST instead of the body.")
@pass_ctx
def templates_show(ctx: Context, version: int | None, against: int | None):
    """Print a version's body as JSON (default: the active version)."""
    from engine.templates.brief import active_template, diff_template_versions, get_template_version  # noqa: PLC0415

    shown = (_template_call(get_template_version, ctx.store, version) if version is not None
             else _template_call(active_template, ctx.store))
    if against is not None:
        base = _template_call(get_template_version, ctx.store, against)
        click.echo(diff_template_versions(base, shown) or f"v{against} and v{shown.version} are identical")
    else:
        click.echo(json.dumps(shown.body, indent=2, ensure_ascii=False))


@templates.command("activate")
@click.argument("version", type=int)
@click.option("--by", "activated_by", envvar="USER", default="cli", show_default=True,
              help="Who activates it (recorded on the version).")
@pass_ctx
def templates_activate(ctx: Context, version: int, activated_by: str):
    """Make VERSION the template new briefs use."""
    from engine.templates.brief import activate_template  # noqa: PLC0415

    _template_call(activate_template, ctx.store, version, activated_by=activated_by)
    click.echo(f"template v{version} is active")


@templates.command("save")
@click.argument("body_file", type=click.File("r"))
@click.option("--comment", required=True, help="What this version changes.")
@click.option("--author", envvar="USER", default="cli", show_default=True)
@click.option("--activate", is_flag=True, help="Make the new version active at once.")
@pass_ctx
def templates_save(ctx: Context, body_file, comment: str, author: str, activate: bool):
    """Store the JSON body in BODY_FILE ('-' for stdin) as a new version."""
    from engine.templates.brief import save_template_version  # noqa: PLC0415

    try:
        body = json.load(body_file)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{body_file.name}: not valid JSON: {exc}")
    version = _template_call(save_template_version, ctx.store, body, author=author, comment=comment,
                             activate=activate)
    click.echo(f"saved template v{version}{' (active)' if activate else ''}")


@cli.command("catalog")
@click.option("--path", "catalog_path", type=click.Path(dir_okay=False), help="Catalog TOML (default: the shipped one).")
@click.option("--type", "types", multiple=True, help="Only this asset type (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def catalog_cmd(catalog_path, types, fmt):
    """List the catalog's assets by type (and check the file: errors name asset and field)."""
    from engine.templates.catalog import CatalogError, load_catalog  # noqa: PLC0415

    try:
        catalog = load_catalog(catalog_path)
        assets = catalog.select(types=list(types) or None)
    except CatalogError as exc:
        raise click.ClickException(str(exc))
    if fmt == "json":
        click.echo(json.dumps([a.to_dict() for a in assets], indent=2))
        return
    click.echo(f"{catalog.name} (v{catalog.version}): {len(assets)} of {len(catalog.assets)} assets")
    for type_name in catalog.types:
        chosen = [a for a in assets if a.type == type_name]
        if chosen:
            click.echo(f"\n{type_name} ({len(chosen)})")
            for a in chosen:
                click.echo(f"  {a.id:32} {a.tier:10} {a.aspect_ratio:5} {a.theme:14} {a.title}")


@cli.command()
@click.option("--session", "session_id", help="Show only this session.")
@click.option("--since", "since_seq", type=int, help="Replay events after this seq first.")
@click.option("--events", is_flag=True, help="Also show a tail of events.")
@click.option("--ws-url", help="Engine websockets URL. Default from settings (ws://127.0.0.1:4501).")
@pass_ctx
def watch(ctx: Context, session_id, since_seq, events, ws_url):
    """Live view of running sessions in the terminal (Ctrl-C to quit).

    Reconnects by itself after a disconnect and resumes where it stopped.

    \b
    Examples:
      assetgen watch
      assetgen watch --session s-20260101-abc --events
    """
    from engine.ws.watch import WatchError, run_watch  # noqa: PLC0415

    try:
        run_watch(ctx.settings, session_id=session_id, since_seq=since_seq, events=events, ws_url=ws_url)
    except WatchError as exc:
        raise click.ClickException(str(exc))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=4510, show_default=True, type=int, help="Port (0 = any free port).")
@click.option("--latency-scale", default=1.0, show_default=True, type=float,
              help="Multiply the simulated latencies (0 = answer at once).")
@click.option("--faults", default=None,
              help='Fault rates, e.g. "429=0.1,502=0.05,timeout=0.02,error200=0.03,no_image=0.03"; also malformed, '
                   'no_endpoints (404), no_cost (usage without the cost) and any of 400-403, 408, 500, 503, 524, 529.')
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed + same requests = same answers and faults.")
@click.option("--credits-limit", type=float, help="Answer 402 once this many simulated USD are spent.")
@click.option("--image-size-px", type=int, help="Longest side of generated images (smaller is faster).")
@click.option("--require-key", is_flag=True, help="Answer 401 to requests without a bearer key.")
def standin(host, port, latency_scale, faults, seed, credits_limit, image_size_px, require_key):
    """Serve the offline OpenRouter stand-in over HTTP (Ctrl-C to stop).

    Real model ids, snapshot prices, realistic latency, drawn images; costs are simulated.

    \b
    Point any OpenRouter client at it:
      assetgen standin --port 4510 --faults "429=0.05"
      OPENROUTER_BASE_URL=http://127.0.0.1:4510/api/v1 assetgen run --provider openrouter ...
    """
    import asyncio  # noqa: PLC0415

    from engine.providers.standin.faults import FaultSpec  # noqa: PLC0415
    from engine.providers.standin.server import serve_standin_forever  # noqa: PLC0415

    try:
        fault_spec = FaultSpec.parse(faults)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults")

    def ready(server):
        click.echo(f"OpenRouter stand-in on {server.base_url} (seed {seed}, latency x{latency_scale:g}, "
                   f"faults {fault_spec})\n  export OPENROUTER_BASE_URL={server.base_url}", err=True)

    try:
        asyncio.run(serve_standin_forever(on_ready=ready, host=host, port=port, latency_scale=latency_scale,
                                          faults=fault_spec, seed=seed, credits_limit=credits_limit,
                                          image_size_px=image_size_px, api_key_required=require_key))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


@cli.command()
@click.option("--image", "image_only", is_flag=True, help="Only models that output images.")
@click.option("--online", is_flag=True, help="Ask OPENROUTER_BASE_URL's /models instead of the bundled snapshot.")
@click.option("--refresh", is_flag=True,
              help="GET /models with OPENROUTER_API_KEY and write a new dated snapshot (estimates, capabilities "
                   "and the stand-in's prices follow it).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def models(image_only, online, refresh, fmt):
    """List models with prices in USD per million tokens (snapshot, or --online); --refresh renews the snapshot."""
    from engine.providers.pricing import list_models, refresh_snapshot  # noqa: PLC0415

    if refresh:
        import asyncio  # noqa: PLC0415

        from engine.providers.openrouter import OpenRouterClient, OpenRouterError  # noqa: PLC0415

        async def write():
            async with OpenRouterClient(timeout=30.0) as client:
                return await refresh_snapshot(client)
        try:
            path = asyncio.run(write())
        except (ValueError, OpenRouterError) as exc:
            raise click.ClickException(str(exc))
        click.echo(f"wrote {path}", err=True)
    try:
        rows, source = list_models(image_only=image_only, online=online)
    except Exception as exc:  # the listing says what failed (network, key, file)
        raise click.ClickException(str(exc))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    click.echo(f"# {source}")
    for row in rows:
        def usd(v):
            return "      ?" if v is None else f"{v:7.2f}"
        click.echo(f"{row['id']:34} in {usd(row['prompt_per_m'])}  out {usd(row['completion_per_m'])}  "
                   f"image-out {usd(row['image_output_per_m'])}  {','.join(row['output_modalities'])}")
