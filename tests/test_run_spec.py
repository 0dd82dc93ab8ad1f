"""One run spec: the CLI's flags and the console's New run form build equal specs from equal inputs."""
import click
import pytest

from engine.cli import cli
from engine.intents.console import build_job_spec
from engine.session.spec import RUN_OPTIONS, RunSpec


def cli_spec(*args: str) -> dict:
    """The spec `assetgen submit …` would queue, from its parsed flags (no database is touched)."""
    command = cli.commands["submit"]
    with click.Context(command) as ctx:
        params = command.make_context("submit", list(args), parent=ctx).params
    params.pop("requested_by", None)
    from engine.cli.run import spec_from_options

    return spec_from_options(params).to_dict()


CASES = [
    ((), {}),
    (("--type", "icons", "--type", "heroes", "--limit", "12", "--speed", "fast", "--budget", "2.5"),
     {"types": ["icons", "heroes"], "limit": 12, "speed": "fast", "budget_usd": 2.5}),
    (("--no-approval", "--concurrency", "8", "--latency-scale", "0", "--faults", "429=0.1"),
     {"approval": False, "concurrency": 8, "latency_scale": 0.0, "faults": "429=0.1"}),
    (("--test", "--test-type", "icons", "--approval-threshold", "3", "--approval-timeout", "60",
      "--approval-cost-threshold", "0.5", "--batch-size", "4", "--provider", "standin"),
     {"test": True, "test_type": "icons", "approval_threshold": 3, "approval_timeout_s": 60.0,
      "approval_cost_threshold_usd": 0.5, "batch_size": 4, "provider": "standin"}),
]


@pytest.mark.parametrize("flags, form", CASES)
def test_the_cli_and_the_console_build_equal_specs_for_equal_inputs(flags, form):
    assert cli_spec(*flags) == build_job_spec(**form)


def test_every_run_option_is_a_cli_flag_with_the_specs_default():
    submit = {p.name: p for p in cli.commands["submit"].params}
    for option in RUN_OPTIONS:
        assert option.name in submit, f"{option.flag} missing from the CLI"
        param = submit[option.name]
        assert option.flag in param.opts
        if option.kind not in (bool, list):
            assert param.default == option.default, option.name


def test_defaults_agree_everywhere():
    """The console's empty form, the CLI with no flags and RunSpec() are the same run (gate on, $1 threshold)."""
    assert build_job_spec() == cli_spec() == RunSpec().to_dict()
    assert RunSpec().approval.enabled is True
