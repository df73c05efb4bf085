"""`retrain models` and `retrain model register`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

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


DatasetOption = Annotated[str | None, typer.Option(
    help="ImageFolder directory, or a CSV/JSON Lines manifest of path,label.")]


@model_app.command("register")
def register_model(
    ctx: typer.Context,
    weights: Annotated[Path, typer.Option(
        "--weights", help="State dict, checkpoint dict holding one, or safetensors.")],
    arch: Annotated[str, typer.Option("--arch", help="digits-cnn, small-cnn, a torchvision.models name, or your "
                                                     "package.module:callable returning an nn.Module.")],
    classes: Annotated[str, typer.Option("--classes", help="Class names, comma-separated, in output order.")],
    arch_kwargs: Annotated[str | None, typer.Option("--arch-kwargs", help="JSON object: keyword arguments of the "
                                                                           "callable.")] = None,
    arch_path: Annotated[Path | None, typer.Option("--arch-path", help="Directory to import the callable's package "
                                                                        "from (recorded).")] = None,
    train: Annotated[str | None, typer.Option("--train", help="Original training set: ImageFolder directory or "
                                                              "manifest (CSV/JSONL of path,label).")] = None,
    val: Annotated[str | None, typer.Option("--val", help="Original validation set (same forms).")] = None,
    test: Annotated[str | None, typer.Option("--test", help="Original test set (same forms).")] = None,
    baseline_ms: Annotated[float | None, typer.Option("--baseline-ms", help="Latency baseline.")] = None,
    production: Annotated[bool, typer.Option("--production", help="Make it the production version.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Make it production even below 1.5 x chance.")] = False,
    allow_duplicate: Annotated[bool, typer.Option("--allow-duplicate",
                                                  help="Register weights an existing version already has.")] = False,
    input_spec: Annotated[str | None, typer.Option("--input-spec", help="JSON: mode (L or RGB), size [h, w], mean, "
                                                                         "std; what is left out is inferred.")] = None,
    actor: Annotated[str, typer.Option("--actor", help="Who registers (user:<name>).")] = "",
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register an existing model: your weights, your architecture, your datasets."""
    from application.team_models import TeamModel

    if not weights.is_file():
        raise InvalidInput(f"weights file {weights} does not exist")
    options = _architecture_options(arch, arch_kwargs, arch_path)
    spec = json_option("--input-spec", input_spec) if input_spec else None
    if spec is not None and not isinstance(spec, dict):
        raise InvalidInput("--input-spec must be a JSON object, e.g. '{\"mode\": \"L\", \"size\": [28, 28]}'")
    names = [name.strip() for name in classes.split(",")]
    container = state_of(ctx).container(now)
    intake = container.team_models.register(
        TeamModel(weights.read_bytes(), arch, names, options, spec, _datasets(train, val, test)),
        baseline_ms=baseline_ms, production=production, force=force, allow_duplicate=allow_duplicate,
        actor=actor or default_actor(),
    )
    version = intake.version
    if as_json:
        return print_json({**container.ledger.read.find("version", version.label), "intake": intake.notes,
                           "measured": intake.measured, "warning": intake.warning})
    _print_intake(intake.notes, intake.measured, intake.warning)
    state = "in production" if production else "registered"
    out.print(f"Registered {version.label} ({arch}, {len(names)} classes, input {_spec_text(version.input_spec)}, "
              f"sha256 {version.artifact_sha256[:12]}): {state}.")


@model_app.command("datasets")
def attach_datasets(
    ctx: typer.Context,
    version: str,
    train: DatasetOption = None,
    val: DatasetOption = None,
    test: DatasetOption = None,
    actor: Annotated[str, typer.Option("--actor", help="Who attaches them (user:<name>).")] = "",
    as_json: JsonOption = False,
) -> None:
    """Attach original datasets to a version: rehearsal, original validation set and the no-regression gate."""
    container = state_of(ctx).container()
    intake = container.team_models.attach_datasets(version, _datasets(train, val, test), actor=actor or default_actor())
    attached = intake.version.attached_dataset or {}
    if as_json:
        return print_json({"version": intake.version.label, "dataset_id": attached.get("dataset_id"),
                           "sizes": attached.get("sizes"), "measured": intake.measured, "warning": intake.warning})
    _print_intake([], intake.measured, intake.warning)
    sizes = ", ".join(f"{n} {split}" for split, n in (attached.get("sizes") or {}).items() if n)
    out.print(f"Attached to {intake.version.label}: {sizes} items (dataset {str(attached.get('dataset_id'))[:12]}); "
              "campaigns of its lineage now use them.")


def _architecture_options(arch: str, kwargs: str | None, path: Path | None) -> dict[str, Any]:
    if (kwargs or path) and ":" not in arch:
        raise InvalidInput("--arch-kwargs and --arch-path apply to an architecture given as package.module:callable")
    options: dict[str, Any] = {}
    if kwargs:
        parsed = json_option("--arch-kwargs", kwargs)
        if not isinstance(parsed, dict):
            raise InvalidInput("--arch-kwargs must be a JSON object, e.g. '{\"width\": 64}'")
        options["kwargs"] = parsed
    if path is not None:
        if not path.is_dir():
            raise InvalidInput(f"--arch-path {path} is not a directory")
        options["path"] = str(path.resolve())
    return options


def _datasets(train: str | None, val: str | None, test: str | None) -> dict[str, str]:
    return {split: source for split, source in (("train", train), ("validation", val), ("test", test)) if source}


def _spec_text(spec: dict[str, Any]) -> str:
    size = spec.get("size", [])
    size = [size, size] if isinstance(size, int) else size
    mode = "grey" if spec.get("mode", "L") == "L" else "colour"
    return f"{'x'.join(str(s) for s in size)} {mode}"


def _print_intake(notes: list[str], measured: dict[str, dict[str, Any]], warning: str | None) -> None:
    for note in notes:
        out.print(f"- {note}")
    for split, figures in measured.items():
        if "accuracy" in figures:
            out.print(f"- {split} accuracy {figures['accuracy']:.1%} on {figures['items']} images")
    if warning:
        sys.stderr.write(f"warning: {warning}\n")
