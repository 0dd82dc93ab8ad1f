"""CLI commands that run or steer generation: run, serve, up, submit, control, speed, approve, reject, estimate."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time

import click

from engine.cli.context import Context, cli, pass_ctx
from engine.intents.requests import CommandError, request_control, request_decision, submit_job
from engine.session.spec import RUN_OPTIONS, RunOption, RunSpec, SpecError
from engine.config import REPO_ROOT
from engine.vocabulary import OPERATOR_CONTROLS, SPEEDS

log = logging.getLogger(__name__)


def _click_option(option: RunOption):
    """A click option for one run option: its flag, type, limits, default and help all come from the spec."""
    if option.kind is bool:
        return click.option(option.flag, option.name, is_flag=True, flag_value=not option.negate,
                            default=None, help=option.help)
    if option.kind is list:
        many = option.flag == "--type"  # repeatable; the others take a comma-separated list
        return click.option(option.flag, option.name, multiple=many, help=option.help)
    if option.choices:
        kind = click.Choice(list(option.choices))
    elif option.kind is int:
        kind = click.IntRange(min=option.minimum, max=option.maximum, min_open=option.minimum_open)
    elif option.kind is float:
        kind = click.FloatRange(min=option.minimum, max=option.maximum, min_open=option.minimum_open)
    else:
        kind = click.STRING
    default = option.default
    return click.option(option.flag, option.name, type=kind, default=default,
                        show_default=default is not None, help=option.help)


def run_options(fn):
    """The selection and run options shared by run, submit and estimate: every one from RUN_OPTIONS."""
    for option in reversed(RUN_OPTIONS):
        fn = _click_option(option)(fn)
    return fn


def spec_from_options(options: dict) -> RunSpec:
    values = {name: value for name, value in options.items() if value not in ((), None)}
    try:
        return RunSpec.from_options(values)
    except SpecError as exc:
        raise click.UsageError(str(exc))


@cli.command()
@run_options
@click.option("--resume", "resume_id", metavar="SESSION", help="Continue an interrupted or aborted session without paying twice.")
@click.option("--ws-port", type=int, help="Websockets port for `assetgen watch` (default 4501; skipped if busy).")
@pass_ctx
def run(ctx: Context, resume_id, ws_port, **options):
    """Run one generation session in this process and show its progress.

    Prints the session id, then a live progress bar; exits 0 when the session
    completes, 4 when it completed with failed items, 1 if it failed, 3 if it was
    aborted (docs/operations.md, exit codes). When a daemon (`assetgen
    serve` / `up`) already runs on the data dir, the run is queued there and
    followed from here.

    \b
    Examples:
      assetgen run --test --test-type icons              # 3 icons, offline, simulated cost
      assetgen run --type icons --limit 12 --speed fast  # 12 icons: waits for approval (> 10)
      assetgen run --type heroes --budget 0.50           # pauses rather than spend past $0.50
      assetgen run --resume s20261128-101500-ab12        # continue after a crash
    """
    from engine.process.runtime import EngineBusy, engine_lock_holder
    from engine.process.runner import run_in_process
    from engine.process.runner import EXIT_CODES

    spec = spec_from_options(options)
    holder = engine_lock_holder(ctx.settings)
    if holder:  # one engine per data dir: hand the run to it and follow along
        from engine.process.follow import follow_job

        job_spec = {"resume": resume_id} if resume_id else spec.to_dict()
        job_id = submit_job(ctx.store, job_spec, requested_by=os.environ.get("USER") or "cli")
        click.echo(f"an engine (PID {holder}) already runs on {ctx.settings.data_dir}: queued as job {job_id}; "
                   "following it (Ctrl-C stops following, not the session)", err=True)
        try:
            outcome = follow_job(ctx.store, job_id)
        except KeyboardInterrupt:
            sys.exit(130)
        sys.exit({**EXIT_CODES, "cancelled": EXIT_CODES["aborted"]}.get(outcome, 1))
    try:
        code = asyncio.run(run_in_process(ctx.settings, spec, resume_id=resume_id, lock_timeout=ctx.lock_timeout,
                                          ws_port=ws_port))
    except EngineBusy as exc:
        raise click.ClickException(str(exc))
    sys.exit(code)


@cli.command()
@click.option("--max-sessions", type=click.IntRange(min=1), default=1, show_default=True, help="Sessions run at once.")
@click.option("--ws-host", envvar="ASSETGEN_WS_HOST", help="Websockets host (default 127.0.0.1).")
@click.option("--ws-port", envvar="ASSETGEN_WS_PORT", type=int, help="Websockets port (default 4501).")
@pass_ctx
def serve(ctx: Context, max_sessions, ws_host, ws_port):
    """Run the engine daemon: websockets feed, control ticker and the job queue.

    Takes queued jobs (`assetgen submit`, the console's New run) in order and
    resumes sessions a dead engine left running. Stop with Ctrl-C or SIGTERM:
    every event is written before it exits.

    \b
    Example:
      assetgen serve --max-sessions 2
    """
    from engine.process.runner import serve_forever
    from engine.process.runtime import EngineBusy

    settings = ctx.settings.with_(ws_host=ws_host or ctx.settings.ws_host, ws_port=ws_port or ctx.settings.ws_port)
    try:
        asyncio.run(serve_forever(settings, max_sessions=max_sessions, lock_timeout=ctx.lock_timeout))
    except EngineBusy as exc:
        raise click.ClickException(str(exc))


@cli.command()
@click.option("--port", type=int, help="Console port. Default 4500 (or ASSETGEN_CONSOLE_PORT).")
@click.option("--ws-port", type=int, help="Engine websockets port. Default 4501 (or ASSETGEN_WS_PORT).")
@click.option("--demo/--no-demo", default=True, show_default=True, help="Queue a 3-icon demo session when the studio is empty.")
@pass_ctx
def up(ctx: Context, port, ws_port, demo):
    """Start the engine daemon and the console together; Ctrl-C stops both.

    \b
    Console: http://localhost:4500   Websockets: ws://127.0.0.1:4501
    Another pair of ports (e.g. when 4500 is taken; `assetgen doctor` says by whom):
      assetgen up --port 4600 --ws-port 4601
    """
    # One place for the ports: the settings, handed to both children through their environment.
    settings = ctx.settings.with_(console_port=ctx.settings.console_port if port is None else port,
                                  ws_port=ctx.settings.ws_port if ws_port is None else ws_port)
    port = settings.console_port
    from engine.process.doctor import FAIL, check_port

    for check in (check_port(port, role="console", option="--port"),
                  check_port(settings.ws_port, role="engine websockets", option="--ws-port")):
        if check.status == FAIL:  # say who holds it before starting anything, not a child's traceback after
            raise click.ClickException(f"{check.found}.\n  → {check.todo}")
    env = {**os.environ, **settings.as_env()}
    if demo and not ctx.store.query("SELECT count(*) FROM sessions")[0][0] \
            and not ctx.store.query("SELECT count(*) FROM jobs")[0][0]:
        job_id = submit_job(ctx.store, RunSpec(test=True, test_type="icons", speed="slow").to_dict(),
                            requested_by="assetgen up (demo)")
        click.echo(f"Queued a demo session (job {job_id}): 3 icons on the offline stand-in, slow speed.")
    engine = subprocess.Popen([sys.executable, "-m", "engine", "serve"], env=env)
    console = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "app.py"),
                                "--server.port", str(port), "--server.address", "127.0.0.1",
                                "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                               env=env, cwd=REPO_ROOT)
    click.echo(f"Console: http://localhost:{port}   Websockets: {settings.ws_url}   "
               f"(engine PID {engine.pid}, console PID {console.pid}; Ctrl-C stops both)")
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    # SIGINT too, explicitly: started in the background by a script, this process inherits SIGINT
    # ignored, and Ctrl-C or `kill -INT` would then do nothing.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and engine.poll() is None and console.poll() is None:
        time.sleep(0.3)
    for proc in (console, engine):
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in (console, engine):
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    click.echo("stopped engine and console")


@cli.command()
@run_options
@click.option("--requested-by", default=lambda: os.environ.get("USER") or "cli", help="Who asks (recorded on the job row).")
@pass_ctx
def submit(ctx: Context, requested_by, **options):
    """Queue a run for the daemon (`assetgen serve`); prints the job id.

    \b
    Example:
      assetgen submit --type icons --limit 12 --speed fast
    """
    spec = spec_from_options(options)
    job_id = submit_job(ctx.store, spec.to_dict(), requested_by=requested_by)
    click.echo(f"job {job_id} queued")


@cli.command()
@click.argument("command", type=click.Choice(OPERATOR_CONTROLS))
@click.option("--session", "session_id", help="Session id (default: every running session).")
@click.option("--item", "item_id", help="Item for skip (default: the oldest in flight).")
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), help="With resume: raise the budget to USD.")
@click.option("--requested-by", default=lambda: os.environ.get("USER") or "cli")
@pass_ctx
def control(ctx: Context, command, session_id, item_id, budget, requested_by):
    """Pause, resume, skip or abort a running session.

    The engine applies the row on its next tick (≤ 1 s) and records the result.

    \b
    Examples:
      assetgen control pause --session s20261128-101500-ab12
      assetgen control skip --item s20261128-101500-ab12:icon-will
      assetgen control resume --budget 2.50
    """
    arg = f"budget={budget}" if budget and command == "resume" else None
    _control(ctx, command, session_id=session_id, item_id=item_id, arg=arg, requested_by=requested_by)


@cli.command()
@click.argument("speed", type=click.Choice(SPEEDS))
@click.option("--session", "session_id", help="Session id (default: every running session).")
@click.option("--requested-by", default=lambda: os.environ.get("USER") or "cli")
@pass_ctx
def speed(ctx: Context, speed, session_id, requested_by):
    """Change speed: slow (1 in flight), normal (4) or fast (16); applies to work started after the change."""
    _control(ctx, "speed", session_id=session_id, arg=speed, requested_by=requested_by)


def _control(ctx: Context, command: str, **kwargs) -> None:
    try:
        control_id = request_control(ctx.store, command, source="cli", **kwargs)
    except CommandError as exc:
        raise click.UsageError(str(exc))
    click.echo(f"control {control_id} written; waiting for the engine…")
    result = _wait_applied(ctx, "SELECT applied_at, result FROM controls WHERE control_id = ?", control_id)
    click.echo(result or "not applied yet: is an engine running? (`assetgen serve` or `assetgen up`)")


@cli.command()
@click.argument("batch_id")
@click.option("--items", help="Approve only these items (comma-separated item or asset ids); the rest are rejected.")
@click.option("--edit", "edits", multiple=True, metavar="ITEM=PROMPT", help="Approve with an edited prompt (repeatable).")
@click.option("--comment")
@click.option("--budget", "budget_usd", type=float, metavar="USD",
              help="Raise the session's budget to USD with this approval (needed when the estimate passes what is left).")
@click.option("--by", "decided_by", default=lambda: os.environ.get("USER") or "cli")
@pass_ctx
def approve(ctx: Context, batch_id, items, edits, comment, budget_usd, decided_by):
    """Approve a waiting batch: all of it, some items, with edited prompts, or some items with edits
    (`--items a,b --edit a="…"`: one decision carries both). `--budget` raises the budget in the same decision."""
    bad = [e for e in edits if "=" not in e]
    if bad:
        raise click.UsageError(f"--edit takes ITEM=PROMPT, got {bad[0]!r}")
    mods = dict(e.split("=", 1) for e in edits) or None
    common = dict(comment=comment, decided_by=decided_by, budget_usd=budget_usd)
    if items:
        _decide(ctx, "approve_items", batch_id, item_ids=[i.strip() for i in items.split(",") if i.strip()],
                modifications=mods, **common)
    elif mods:
        _decide(ctx, "modify_batch", batch_id, modifications=mods, **common)
    else:
        _decide(ctx, "approve_batch", batch_id, **common)


@cli.command()
@click.argument("batch_id")
@click.option("--comment")
@click.option("--by", "decided_by", default=lambda: os.environ.get("USER") or "cli")
@pass_ctx
def reject(ctx: Context, batch_id, comment, decided_by):
    """Reject a waiting batch: its items end `rejected` and no image is paid for."""
    _decide(ctx, "reject_batch", batch_id, comment=comment, decided_by=decided_by)


def _decide(ctx: Context, action: str, batch_id: str, **kwargs) -> None:
    try:
        decision_id = request_decision(ctx.store, action, batch_id=batch_id, **kwargs)
    except CommandError as exc:
        raise click.UsageError(str(exc))
    click.echo(f"decision {decision_id} written; waiting for the engine…")
    result = _wait_applied(ctx, "SELECT applied_at, result FROM decisions WHERE decision_id = ?", decision_id)
    click.echo(result or "not applied yet: the engine applies it when the batch's session runs")


def _wait_applied(ctx: Context, sql: str, row_id: int, timeout: float = 3.0) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = ctx.store.query(sql, [row_id])
        if row and row[0][0] is not None:
            return row[0][1]
        time.sleep(0.1)
    return None


@cli.command()
@run_options
@pass_ctx
def estimate(ctx: Context, **options):
    """Forecast a selection's cost from the price snapshot, without spending anything.

    \b
    Example:
      assetgen estimate --type icons --type heroes
    """
    from engine.session.estimate import estimate_run

    spec = spec_from_options(options)
    try:
        report = estimate_run(spec)
    except (SpecError, ValueError) as exc:
        raise click.ClickException(str(exc))
    click.echo(report.to_text())
