"""What every `retrain` command shares: the Typer apps, global options, JSON and time helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from adapters.logs import configure_logging
from application.settings import HomeUnusable, Settings, load_settings
from bootstrap import Container, build_clock, parse_time
from domain.errors import InvalidInput

EXIT_REFUSED, EXIT_INVALID, EXIT_NOT_FOUND = 1, 2, 3

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Keep a production image classifier healthy from its users' feedback.")
models_app = typer.Typer(add_completion=False, help="Model versions: list, show, verify.")
model_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Register an existing model.")
campaign_app = typer.Typer(no_args_is_help=True, add_completion=False, help="One campaign: show, open, abandon, retry.")
review_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Human review of critical items.")
rollout_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Rollout control.")
views_app = typer.Typer(no_args_is_help=True, add_completion=False,
                        help="The read models: how far they have read the event log; rebuild them from it.")
app.add_typer(models_app, name="models")
app.add_typer(views_app, name="views")
app.add_typer(model_app, name="model")
app.add_typer(campaign_app, name="campaign")
app.add_typer(review_app, name="review")
app.add_typer(rollout_app, name="rollout")
out = Console(width=None if sys.stdout.isatty() else 10_000)  # a pipe gets whole rows, never truncated

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
NowOption = Annotated[str | None, typer.Option("--now", help="Simulated time, RFC 3339 with offset.")]
AsOfOption = Annotated[str | None, typer.Option("--as-of", help="The state as it was known at this time (RFC 3339).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded in the event).")]
ActorOption = Annotated[str, typer.Option("--actor", help="Who acts, e.g. user:alice (default: user:<login>).")]


class State:
    def __init__(self, home: Path | None, config: Path | None, debug: bool,
                 on_close: Callable[[Callable[[], None]], Any] | None = None, home_from: str = "--home") -> None:
        self.home, self.config, self.debug = home, config, debug
        self.on_close = on_close
        self.home_from = home_from  # what set the home: --home or RETRAIN_HOME, named when it cannot be used

    def settings(self, home: Path | None = None) -> Settings:
        """The settings, with the home checked before anything is created in it."""
        home = home or self.home
        try:
            return load_settings(self.config, home=home)
        except HomeUnusable as unusable:  # named as the user gave it; from retrain.toml or a default, `home`
            given = self.home is not None and home == self.home
            raise InvalidInput(f"{self.home_from if given else 'home'} {unusable.problem}") from None

    def container(self, now: str | None = None, *, server: bool = False) -> Container:
        """The command's stores, released when the command ends: SQLite folds its write-ahead log into the database
        as the last connection closes, rather than leaving a log as large as the writes for the next command to
        read through (a 12,000,000-record ingest left 5.6 GB)."""
        container = Container(self.settings(), build_clock(now), server=server)
        if self.on_close is not None:
            self.on_close(container.close)
        return container


def product_version() -> str:
    """The installed package's version, or pyproject's when running from a checkout that is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("retrain")
    except PackageNotFoundError:
        import tomllib

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"retrain {product_version()}\n")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option("--home", envvar="RETRAIN_HOME", help="Data directory.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    configure_logging(verbose=debug)
    # Typer carries its own copy of click: its ParameterSource is known by name
    from_env = getattr(ctx.get_parameter_source("home"), "name", None) == "ENVIRONMENT"
    ctx.obj = State(home, config, debug, ctx.call_on_close, home_from="RETRAIN_HOME" if from_env else "--home")


def state_of(ctx: typer.Context) -> State:
    return ctx.find_root().obj


def print_json(document: Any) -> None:
    """One JSON document: indented for reading, compact when it is a long list (history of a busy store)."""
    indent = None if isinstance(document, list) and len(document) > 1000 else 2
    sys.stdout.write(json.dumps(document, indent=indent, default=str) + "\n")


def json_option(name: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{name} is not valid JSON: {error.msg}") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} must be a JSON object")
    return value


def default_actor() -> str:
    import getpass

    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):
        return "user:unknown"


def time_option(name: str, text: str | None) -> datetime | None:
    return None if text is None else parse_time(name, text)
