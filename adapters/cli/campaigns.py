"""`retrain campaigns`, `retrain campaign ...` and `retrain review ...`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from adapters.cli.campaign_text import campaign_lines
from adapters.cli.common import (
    ActorOption,
    AsOfOption,
    JsonOption,
    ReasonOption,
    app,
    campaign_app,
    default_actor,
    out,
    print_json,
    review_app,
    state_of,
    time_option,
)
from application.documents import campaign_summary
from domain.errors import InvalidInput


@app.command()
def campaigns(ctx: typer.Context, as_json: JsonOption = False, as_of: AsOfOption = None) -> None:
    """Every campaign with its state, breaches, dataset, strategy and candidate (with --as-of, as they were then)."""
    rows = state_of(ctx).container().ledger.read.campaigns(time_option("--as-of", as_of))
    if as_json:
        return print_json(rows)
    if not rows:
        out.print("No campaign yet.")
        return
    table = Table("#", "version", "state", "opened", "breaches", "dataset", "strategy", "candidate")
    for row in rows:
        breaches = ", ".join(f"{b['rule']}{'/' + b['segment'] if b['segment'] else ''}" for b in row["breaches"])
        dataset = row["dataset"]
        state = f"{row['state']} ({row['outcome']})" if row.get("outcome") else row["state"]
        table.add_row(str(row["number"]), row["version"], state, row["opened_at"][:19],
                      breaches or row["reason"] or "-",
                      f"{dataset['included']} items, {dataset['awaiting_review']} to review" if dataset else "-",
                      row["strategy"] or "-", row["candidate"] or "-")
    out.print(table)


ItemsOption = Annotated[bool, typer.Option("--items", help="Also list every feedback item: used, or why not.")]


@campaign_app.command("show")
def show(ctx: typer.Context, campaign: str, items: ItemsOption = False, as_json: JsonOption = False) -> None:
    """One campaign in full: state, breaches, dataset, strategy, candidate and its gates; with --items (always in
    --json), each feedback item's curation outcome."""
    container = state_of(ctx).container()
    row = container.ledger.read.find("campaign", campaign)
    outcomes = None
    if items or as_json:
        outcomes = container.retrain.campaigns.curation_items(row["id"])
    if as_json:
        return print_json({**row, "items": outcomes})
    candidate = container.ledger.read.find("version", row["candidate"]) if row.get("candidate") else None
    for line in campaign_lines(row, candidate):
        out.print(line, markup=False, highlight=False)
    if items:
        _print_items(outcomes)


def _print_items(outcomes: list[dict[str, Any]] | None) -> None:
    if outcomes is None:
        out.print("No per-item curation report: the campaign is not curated yet, or was curated before reports.")
        return
    table = Table("prediction", "outcome", "reason", "label", "source", "split", "review", "critical")
    for item in outcomes:
        table.add_row(item["prediction_id"], item["outcome"], item["reason"] or "-", item["label"] or "-",
                      item["label_source"] or "-", item["split"] or "-", item["review"] or "-",
                      ", ".join(item["critical"]) or "-")
    out.print(table)


@campaign_app.command("open")
def open_campaign(ctx: typer.Context, reason: ReasonOption, actor: ActorOption = "",
                  as_json: JsonOption = False) -> None:
    """Open a campaign on the production version by hand."""
    campaign = state_of(ctx).container().retrain.campaigns.open(reason=reason, actor=actor or default_actor())
    if as_json:
        return print_json(campaign_summary(campaign))
    out.print(f"Opened campaign {campaign.number} on {campaign.version_label}.")


@campaign_app.command("abandon")
def abandon(ctx: typer.Context, campaign: str, reason: ReasonOption, actor: ActorOption = "") -> None:
    """Abandon a campaign (recorded with the reason)."""
    done = state_of(ctx).container().retrain.campaigns.abandon(campaign, reason=reason, actor=actor or default_actor())
    out.print(f"Campaign {done.number} abandoned.")


StrategyOption = Annotated[str | None, typer.Option("--strategy", help="Force fine_tune or full (recorded).")]


@campaign_app.command("retry")
def retry(ctx: typer.Context, campaign: str, strategy: StrategyOption = None,
          actor: ActorOption = "", as_json: JsonOption = False) -> None:
    """Start a failed or interrupted training again, optionally forcing the strategy."""
    done = state_of(ctx).container().retrain.campaigns.retry(campaign, actor=actor or default_actor(),
                                                              forced=strategy)
    if as_json:
        return print_json(campaign_summary(done))
    out.print(f"Campaign {done.number} is {done.state}{f' ({done.outcome})' if done.outcome else ''}.")


@campaign_app.command("strategy")
def force_strategy(ctx: typer.Context, campaign: str,
                   strategy: Annotated[str, typer.Argument(help="fine_tune or full")],
                   actor: ActorOption = "", as_json: JsonOption = False) -> None:
    """Force fine-tuning or full retraining for a curated campaign (recorded with the reasons that held)."""
    done = state_of(ctx).container().retrain.training.force_strategy(campaign, strategy,
                                                                     actor=actor or default_actor())
    if as_json:
        return print_json(campaign_summary(done))
    out.print(f"Campaign {done.number} will use {done.strategy}: {'; '.join(done.strategy_reasons)}.")


@review_app.command("list")
def review_list(ctx: typer.Context, campaign: str, as_json: JsonOption = False) -> None:
    """The campaign's critical items and their decisions."""
    items = state_of(ctx).container().retrain.review.items(campaign)
    if as_json:
        return print_json(items)
    table = Table("item", "prediction", "label", "source", "reasons", "decision")
    for item in items:
        table.add_row(item["item"], item["prediction_id"], item["label"], item["label_source"],
                      ", ".join(item["reasons"]), item["decision"] or "pending")
    out.print(table)


@review_app.command("decide")
def review_decide(
    ctx: typer.Context,
    campaign: str,
    item: str,
    approve: Annotated[bool, typer.Option("--approve", help="Accept the item.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Leave the item out.")] = False,
    label: Annotated[str | None, typer.Option("--label", help="With --approve: the right label.")] = None,
    actor: ActorOption = "",
) -> None:
    """Approve (optionally with another label) or reject one critical item."""
    if approve == reject:
        raise InvalidInput("give exactly one of --approve or --reject")
    done = state_of(ctx).container().retrain.review.decide(campaign, item, approve=approve, label=label,
                                                           actor=actor or default_actor())
    left = len(done.pending_review)
    out.print(f"Item {item} {'approved' if approve else 'rejected'}; {left} item(s) left to review in campaign "
              f"{done.number}.")
