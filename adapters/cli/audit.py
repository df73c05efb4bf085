"""`retrain history`, `explain`, `views` and `forget`: the audit trail, its read models, and erasure."""

from __future__ import annotations

import json
import math
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from adapters.cli.common import (
    ActorOption,
    JsonOption,
    app,
    default_actor,
    out,
    print_json,
    state_of,
    time_option,
    views_app,
)
from application.audit import HistoryFilter
from application.validation import describe_gate


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
    audit = state_of(ctx).container().audit
    if as_json:
        sys.stdout.write(audit.history_json(where) + "\n")
        return
    rows = audit.history(where)
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
def explain(
    ctx: typer.Context, version: str, as_json: JsonOption = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The story as it was known at this time.")] = None,
) -> None:
    """Why this version exists and what happened to it."""
    story = state_of(ctx).container().audit.explain(version, time_option("--as-of", as_of))
    if as_json:
        return print_json(story)
    print_story(story)


def print_story(story: dict[str, Any]) -> None:
    """The text form of `retrain explain`: breaches, campaign, dataset, training, gates, rollout, later service."""
    out.print(f"[bold]{story['version']}[/bold] is {story['state']} ({story['architecture']}, "
              f"artifact {story['artifact_sha256'][:12]})" + (f", descending from {story['parent']}." if
                                                              story.get("parent") else "."))
    options = story.get("architecture_options") or {}
    if options:
        kwargs = f" with {json.dumps(options['kwargs'])}" if options.get("kwargs") else ""
        path = f", imported from {options['path']}" if options.get("path") else ""
        out.print(f"Architecture: {story['architecture']}{kwargs}{path}.")
    original = story.get("original_dataset")
    if original:
        sources = original.get("sources") or {}
        sizes = ", ".join(f"{split} {n}" + (f" ({sources[split]})" if split in sources else "")
                          for split, n in original["sizes"].items() if n)
        out.print(f"Original dataset {original['id'][:12]} (of {original['of']}): {sizes}.")
    else:
        out.print("Original dataset: none (attach one with `retrain model datasets`).")
    chapter = None
    for row in story.get("story", []):
        line = describe_event({**row, "version": row.get("version")})
        if line is None:
            continue
        if row["chapter"] != chapter:
            chapter = row["chapter"]
            out.print(f"[bold]{chapter}[/bold]")
        out.print(f"  {row['time'][:16]}  {line}  [dim]({row['actor']})[/dim]")


def describe_event(event: dict[str, Any]) -> str | None:
    """One line of the story per decision worth telling."""
    d, name = event["details"], event["event"]
    version = event.get("version") or d.get("candidate_label") or d.get("label") or "the version"
    if name == "ThresholdBreached":
        segment = f" on {d['segment']} images" if d.get("segment") else ""
        return f"{version}: {d['rule']} breached{segment}: observed {d['observed']} vs threshold {d['threshold']}"
    if name == "ThresholdRecovered":
        segment = f" on {d['segment']} images" if d.get("segment") else ""
        return f"{version}: {d['rule']}{segment} recovered ({d['observed']})"
    if name == "Opened":
        return f"campaign {d['number']} opened on {version}"
    if name == "DatasetCurated":
        excluded = ", ".join(f"{k} {v}" for k, v in d["excluded"].items() if v)
        return (f"dataset curated: {d['included']} items ({d['train_items']} train, {d['validation_items']} "
                f"validation), {len(d['awaiting_review'])} to review; excluded: {excluded or 'none'}")
    if name == "ReviewDecided":
        relabel = f" as {d['label']!r}" if d.get("label") else ""
        return f"item {d['item']} {d['decision']}{relabel}"
    if name == "ReviewCompleted":
        return f"review completed: {d['approved']} approved, {d['rejected']} rejected"
    if name == "DatasetAmended":
        if not (d["dataset_id"] or d["final_id"]):
            return f"curation report re-written ({d['reason']}); the dataset was already used for training"
        return f"dataset re-written ({d['reason']}): {d['removed']} item(s) removed, {d['included']} left"
    if name == "TrainingStarted":
        c = d["config"]
        plateau = f" (x{c['plateau_factor']:g} after an epoch without progress)" if c.get("plateau_factor") else ""
        return (f"training attempt {d['attempt']} ({d['strategy']}): learning rate {c.get('learning_rate')}"
                f"{plateau}, at most "
                f"{c.get('max_epochs')} epochs, patience {c.get('patience')}, batch {c.get('batch_size')}, seed "
                f"{d['seed']}")
    if name == "StrategyChosen":
        return f"strategy: {d['strategy']} ({'; '.join(d['reasons'])})"
    if name == "CandidateTrained":
        m = d["metrics"]
        items = (f", {m['train_items']} training items of which {m['curated_train_items']} curated"
                 if "train_items" in m and "curated_train_items" in m else "")
        test = (f"test accuracy {m['test_accuracy']:.1%}" if isinstance(m.get("test_accuracy"), int | float)
                else "no test accuracy: no original test set")
        return (f"{d['candidate_label']} trained in {m.get('seconds')} s (best epoch {m.get('best_epoch')} of "
                f"{m.get('epochs_run')}{items}, {test})")
    if name in ("CandidateValidated", "CandidateRejected"):
        verdict = "validated" if name == "CandidateValidated" else f"rejected ({', '.join(d['failed_gates'])})"
        gates = "; ".join(describe_gate(g) for g in d.get("gates", []))
        on = d.get("figures", {}).get("measured_on", {})
        sizes = ", ".join(f"{figure} on {m['items']} items" if "items" in m else f"{figure} over {m['calls']} calls"
                          for figure, m in on.items())
        simulated = on.get("latency_ms", {})
        if simulated.get("simulated"):  # the demo's simulated users: what this process measured, beside it
            sizes += "; latency simulated, measured here " + ", ".join(
                f"{label} {_figure(ms)} ms" for label, ms in simulated.get("measured_ms", {}).items())
        segments = d.get("figures", {}).get("per_image_type", {})
        by_type = "; ".join(
            f"{segment} " + " vs ".join(f"{label} {_figure(acc)}" for label, acc in figures.items() if label != "items")
            + f" on {figures.get('items')} items" for segment, figures in sorted(segments.items()))
        return f"{version} {verdict} against its parent: {gates or 'no gate figures recorded'}" + (
            f" (measured {sizes})" if sizes else "") + (f"; accuracy per image type: {by_type}" if by_type else "")
    if name == "TrafficShifted":
        return f"rollout: {version} {d['from_percent']:g}% -> {d['to_percent']:g}% ({d['reason']}){_health(d)}"
    if name in ("PhaseExtended", "Paused", "Resumed"):
        return f"rollout of {version}: {name} {d.get('reason', '')}".rstrip()
    if name == "RolledBack" and event["aggregate"] == "Rollout":
        return f"rollout of {version} rolled back: {d['reason']}{_health(d)}"
    if name == "Promoted" and d.get("rollout_id"):
        return f"{version} promoted to production"
    if name == "Superseded":
        return f"{version} superseded by {d['by_version']} (kept for rollback)"
    return None


def _figure(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _health(details: dict[str, Any]) -> str:
    """A phase's health evidence, one figure per check: what the traffic shift was decided on. A comparison shows
    both arms, the difference and its always-valid interval; older events show the candidate's figure alone."""
    evidence = details.get("evidence") or {}
    checks = [_check_line(check, e) for check, e in evidence.items()
              if isinstance(e, dict) and "observed" in e and e.get("state") != "insufficient"]
    return f"; health: {'; '.join(checks)}" if checks else ""


def _check_line(check: str, e: dict[str, Any]) -> str:
    state = "" if e.get("state") == "ok" else f" {str(e.get('state')).upper()}"
    if e.get("difference") is None:
        floor = f" ({e['rule']})" if str(e.get("rule", "")).startswith("floor set aside") else ""
        return (f"{check}{state} {_figure(e.get('observed'))} vs {_figure(e.get('threshold'))} over "
                f"{e.get('samples')}{floor}")
    bounds = f"always-valid bounds (each one-sided {100 * (1 - float(e.get('alpha') or 0)):.4g}%)"
    if check == "latency":  # compared as log(candidate / stable): shown as the ratio
        found = (f"ratio x{math.exp(e['difference']):.2f}, {bounds} "
                 f"x{math.exp(e['low']):.2f}..x{math.exp(e['high']):.2f} (limit x{e['threshold']:g})")
    else:
        found = f"difference {e['difference']:+.3f}, {bounds} {e['low']:+.3f}..{e['high']:+.3f}"
    return (f"{check}{state} {_figure(e.get('observed'))} vs stable {_figure(e.get('stable'))} over "
            f"{e.get('samples')}/{e.get('stable_samples')}: {found}")


@views_app.command("status")
def views_status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """How far the read models have read the event log (every read catches them up first)."""
    ledger = state_of(ctx).container().ledger
    status = {"position": ledger.read.store.position(), "log": ledger.recorder.max_notification_id() or 0}
    if as_json:
        return print_json(status)
    behind = status["log"] - status["position"]
    out.print(f"The read models reflect the event log up to position {status['position']} of {status['log']}"
              + (f" ({behind} events behind: the next read catches up)." if behind > 0 else "."))


@views_app.command("rebuild")
def views_rebuild(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Empty the read models and rebuild them from every event in the log."""
    ledger = state_of(ctx).container().ledger
    position = ledger.read.rebuild()
    if as_json:
        return print_json({"position": position})
    out.print(f"Rebuilt the read models from the event log: {position} events.")


@app.command()
def forget(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="The user's reference, as sent with their predictions.")],
    actor: ActorOption = "",
    as_json: JsonOption = False,
) -> None:
    """Erase a user's personal data (predictions, feedback, comments, images) and report what had already been
    used for training (SPEC section 7). Running it again changes nothing."""
    report = state_of(ctx).container().retrain.forget.forget(user, actor=actor or default_actor())
    if as_json:
        return print_json(report)
    deleted = report["deleted"]
    out.print(f"Deleted {deleted['predictions']} prediction(s), {deleted['feedback']} feedback record(s), "
              f"{deleted['images']} image(s) and {deleted['review_items']} review item(s).")
    for amended in report["datasets_amended"]:
        out.print(f"Campaign {amended['campaign']}: its dataset, not yet used for training, was re-written without "
                  f"{amended['removed']} item(s): now {amended['dataset_id'][:12]}.")
    consumed = report["consumed_by"]
    if consumed["datasets"]:
        out.print(f"Already used for training: dataset(s) {', '.join(d[:12] for d in consumed['datasets'])}, by "
                  f"version(s) {', '.join(consumed['versions']) or 'none registered'}. Those models keep what they "
                  f"learnt; retrain without the user's data if that is required.")
    elif not deleted["predictions"]:
        out.print("Nothing of this user is stored.")
