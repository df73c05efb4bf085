"""`retrain models` and `retrain model register`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from adapters.cli.common import (
    EXIT_REFUSED,
    AsOfOption,
    JsonOption,
    NowOption,
    default_actor,
    json_option,
    model_app,
    models_app,
    out,
    print_json,
    state_of,
    time_option,
)
from domain.errors import InvalidInput


@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context, as_json: JsonOption = False, as_of: AsOfOption = None) -> None:
    """List versions with state, lineage and metrics."""
    if ctx.invoked_subcommand is None:
        list_models(ctx, as_json, as_of)


@models_app.command("list")
def list_models(ctx: typer.Context, as_json: JsonOption = False, as_of: AsOfOption = None) -> None:
    """List versions with state, lineage and metrics (with --as-of, as they were then)."""
    rows = state_of(ctx).container().ledger.read.versions(time_option("--as-of", as_of))
    if as_json:
        return print_json(rows)
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
    row = state_of(ctx).container().ledger.read.find("version", version)
    if as_json:
        return print_json(row)
    for key, value in row.items():
        out.print(f"[bold]{key}[/bold]: {json.dumps(value, default=str) if isinstance(value, dict | list) else value}")


@models_app.command("verify")
def verify_models(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Re-hash every version's artifact (nothing is ever deleted)."""
    results = state_of(ctx).container().models.verify()
    if as_json:
        print_json(results)
    else:
        table = Table("version", "artifact", "state")
        for row in results:
            table.add_row(row["version"], row["artifact_sha256"][:12], row["state"])
        out.print(table)
    broken = [f"{row['version']} ({row['state']})" for row in results if row["state"] != "ok"]
    if broken:
        sys.stderr.write(f"artifacts that do not verify: {', '.join(broken)}\n")
        raise typer.Exit(EXIT_REFUSED)


@model_app.command("register")
def register_model(
    ctx: typer.Context,
    weights: Annotated[Path, typer.Option("--weights", help="State dict saved with torch.save.")],
    arch: Annotated[str, typer.Option("--arch", help="digits-cnn, small-cnn or a torchvision.models name.")],
    classes: Annotated[str, typer.Option("--classes", help="Class names, comma-separated, in output order.")],
    baseline_ms: Annotated[float | None, typer.Option("--baseline-ms", help="Latency baseline.")] = None,
    production: Annotated[bool, typer.Option("--production", help="Make it the production version.")] = False,
    input_spec: Annotated[str | None, typer.Option("--input-spec", help="JSON: mode, size, mean, std.")] = None,
    actor: Annotated[str, typer.Option("--actor", help="Who registers (user:<name>).")] = "",
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register an existing model from a weights file."""
    from adapters.torch.models import default_input_spec

    if not weights.is_file():
        raise InvalidInput(f"weights file {weights} does not exist")
    spec = json_option("--input-spec", input_spec) if input_spec else default_input_spec(arch)
    names = [name.strip() for name in classes.split(",")]
    container = state_of(ctx).container(now)
    version = container.models.register(
        weights=weights.read_bytes(), architecture=arch, classes=names, input_spec=spec, baseline_ms=baseline_ms,
        production=production, actor=actor or default_actor(),
    )
    if as_json:
        return print_json(container.ledger.read.find("version", version.label))
    state = "in production" if production else "registered"
    out.print(f"Registered {version.label} ({arch}, {len(names)} classes, sha256 {version.artifact_sha256[:12]}): {state}.")
