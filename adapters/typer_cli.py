"""The `retrain` command line (SPEC 5.1): Typer commands over the use cases, Rich tables, stable exit codes."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from adapters.structlog_setup import configure_logging
from application.audit import HistoryFilter
from application.models import version_summary
from application.settings import SettingsError, load_settings
from bootstrap import Container, build_clock
from domain.errors import DomainError, InvalidInput, NotFound

EXIT_REFUSED, EXIT_INVALID, EXIT_NOT_FOUND = 1, 2, 3

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Keep a production image classifier healthy from its users' feedback.")
models_app = typer.Typer(add_completion=False, help="Model versions: list, show, verify.")
model_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Register an existing model.")
app.add_typer(models_app, name="models")
app.add_typer(model_app, name="model")
out = Console()

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
NowOption = Annotated[str | None, typer.Option("--now", help="Simulated time, RFC 3339 with offset.")]


class State:
    def __init__(self, home: Path | None, config: Path | None, debug: bool) -> None:
        self.home, self.config, self.debug = home, config, debug

    def container(self, now: str | None = None) -> Container:
        settings = load_settings(self.config, home=self.home)
        return Container(settings, build_clock(now))


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option("--home", envvar="RETRAIN_HOME", help="Data directory.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    configure_logging(verbose=debug)
    ctx.obj = State(home, config, debug)


def _state(ctx: typer.Context) -> State:
    return ctx.find_root().obj


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


# -- models ---------------------------------------------------------------------------------------------
@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List versions with state, lineage and metrics."""
    if ctx.invoked_subcommand is None:
        list_models(ctx, as_json)


@models_app.command("list")
def list_models(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List versions with state, lineage and metrics."""
    ledger = _state(ctx).container().ledger
    versions = ledger.versions()
    labels = {str(v.id): v.label for v in versions}
    rows = [version_summary(v, labels) for v in versions]
    if as_json:
        return _print_json(rows)
    if not rows:
        out.print("No model version yet: run `retrain init` or `retrain model register`.")
        return
    table = Table("label", "state", "parent", "architecture", "created", "artifact")
    for row in rows:
        table.add_row(row["label"], row["state"], row["parent"] or "-", row["architecture"],
                      row["created_at"][:19], row["artifact_sha256"][:12])
    out.print(table)


@models_app.command("show")
def show_model(ctx: typer.Context, version: str, as_json: JsonOption = False) -> None:
    """One version in full."""
    ledger = _state(ctx).container().ledger
    found = ledger.version(version)
    labels = {str(v.id): v.label for v in ledger.versions()}
    row = version_summary(found, labels)
    if as_json:
        return _print_json(row)
    for key, value in row.items():
        out.print(f"[bold]{key}[/bold]: {json.dumps(value, default=str) if isinstance(value, dict | list) else value}")


@models_app.command("verify")
def verify_models(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Re-hash every version's artifact (nothing is ever deleted)."""
    results = _state(ctx).container().registry().verify()
    if as_json:
        _print_json(results)
    else:
        table = Table("version", "artifact", "state")
        for row in results:
            table.add_row(row["version"], row["artifact_sha256"][:12], row["state"])
        out.print(table)
    if any(row["state"] != "ok" for row in results):
        raise typer.Exit(EXIT_REFUSED)


@model_app.command("register")
def register_model(
    ctx: typer.Context,
    weights: Annotated[Path, typer.Option("--weights", help="State dict saved with torch.save.")],
    arch: Annotated[str, typer.Option("--arch", help="digits-cnn or a torchvision.models name.")],
    classes: Annotated[str, typer.Option("--classes", help="Class names, comma-separated, in output order.")],
    baseline_ms: Annotated[float | None, typer.Option("--baseline-ms", help="Latency baseline.")] = None,
    production: Annotated[bool, typer.Option("--production", help="Make it the production version.")] = False,
    input_spec: Annotated[str | None, typer.Option("--input-spec", help="JSON: mode, size, mean, std.")] = None,
    actor: Annotated[str, typer.Option("--actor", help="Who registers (user:<name>).")] = "",
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register an existing model from a weights file."""
    from adapters.torch_models import default_input_spec

    if not weights.is_file():
        raise InvalidInput(f"weights file {weights} does not exist")
    spec = _json_option("--input-spec", input_spec) if input_spec else default_input_spec(arch)
    names = [name.strip() for name in classes.split(",")]
    container = _state(ctx).container(now)
    version = container.registry().register(
        weights=weights.read_bytes(), architecture=arch, classes=names, input_spec=spec, baseline_ms=baseline_ms,
        production=production, actor=actor or _default_actor(),
    )
    if as_json:
        return _print_json(version_summary(version, {}))
    state = "in production" if production else "registered"
    out.print(f"Registered {version.label} ({arch}, {len(names)} classes, sha256 {version.artifact_sha256[:12]}): {state}.")


def _json_option(name: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{name} is not valid JSON: {error.msg}") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} must be a JSON object")
    return value


def _default_actor() -> str:
    import getpass

    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):
        return "user:unknown"


# -- audit ----------------------------------------------------------------------------------------------
def _time_option(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name} {text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{name} {text!r} needs a UTC offset, e.g. 2026-01-01T00:00:00Z")
    return moment


@app.command()
def history(
    ctx: typer.Context,
    version: Annotated[str | None, typer.Option("--version", help="Only events about this version.")] = None,
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign's events.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Events at or after this time.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The history as it stood at this time.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The audit timeline, oldest first."""
    where = HistoryFilter(version, campaign, _time_option("--since", since), _time_option("--as-of", as_of))
    rows = _state(ctx).container().audit().history(where)
    if as_json:
        return _print_json(rows)
    if not rows:
        out.print("No events.")
        return
    table = Table("time", "aggregate", "version", "event", "actor", "details")
    for row in rows:
        details = {k: v for k, v in row["details"].items() if not isinstance(v, dict | list)}
        table.add_row(row["time"][:19], row["aggregate"], row["version"] or "-", row["event"], row["actor"] or "-",
                      json.dumps(details, default=str)[:120])
    out.print(table)


@app.command()
def explain(ctx: typer.Context, version: str, as_json: JsonOption = False) -> None:
    """Why this version exists and what happened to it."""
    story = _state(ctx).container().audit().explain(version)
    if as_json:
        return _print_json(story)
    out.print(f"[bold]{story['version']}[/bold] is {story['state']} ({story['architecture']}, "
              f"artifact {story['artifact_sha256'][:12]}).")
    if story.get("parent"):
        out.print(f"It descends from {story['parent']}.")
    if story["campaign"]:
        out.print(f"Campaign {story['campaign']['number']}:")
        for row in story["campaign"]["events"]:
            out.print(f"  {row['time'][:19]}  {row['event']:<18} by {row['actor']}")
    out.print("Its own events:")
    for row in story["events"]:
        out.print(f"  {row['time'][:19]}  {row['event']:<18} by {row['actor']}")
    for row in story["rollouts"]:
        out.print(f"  {row['time'][:19]}  Rollout.{row['event']:<10} by {row['actor']}")


# -- entry point -------------------------------------------------------------------------------------
def main() -> None:
    """Run the CLI; domain refusals, bad input and unknown ids become one sentence and an exit code."""
    debug = "--debug" in sys.argv
    try:
        app(standalone_mode=False)
    except typer.Exit as done:
        raise SystemExit(done.exit_code) from None
    except DomainError as error:
        _fail(error, EXIT_REFUSED, debug)
    except (InvalidInput, SettingsError) as error:
        _fail(error, EXIT_INVALID, debug)
    except NotFound as error:
        _fail(error, EXIT_NOT_FOUND, debug)
    except Exception as error:  # noqa: BLE001 - the user sees one sentence, never a traceback
        import click

        if isinstance(error, click.exceptions.Abort):
            _fail(RuntimeError("aborted"), 130, debug)
        if isinstance(error, click.ClickException):
            error.show()
            raise SystemExit(EXIT_INVALID) from None
        _fail(error, EXIT_REFUSED, debug, prefix=f"unexpected error ({type(error).__name__}): ")


def _fail(error: BaseException, code: int, debug: bool, prefix: str = "") -> None:
    if debug:
        import traceback

        traceback.print_exception(error)
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    sys.stderr.write(f"retrain: {prefix}{message}\n")
    raise SystemExit(code)
