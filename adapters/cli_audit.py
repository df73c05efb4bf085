"""`retrain history` and `retrain explain`: the audit trail."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from adapters.cli_common import JsonOption, app, out, print_json, state_of, time_option
from application.audit import HistoryFilter


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
    where = HistoryFilter(version, campaign, time_option("--since", since), time_option("--as-of", as_of))
    rows = state_of(ctx).container().audit().history(where)
    if as_json:
        return print_json(rows)
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
    story = state_of(ctx).container().audit().explain(version)
    if as_json:
        return print_json(story)
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
