"""`retrain rollout ...` and `retrain rollback`."""

from __future__ import annotations

from typing import Annotated

import typer

from adapters.cli.common import (
    ActorOption,
    AsOfOption,
    JsonOption,
    ReasonOption,
    app,
    default_actor,
    out,
    print_json,
    rollout_app,
    state_of,
    time_option,
)


@rollout_app.command("status")
def status(ctx: typer.Context, as_json: JsonOption = False, as_of: AsOfOption = None) -> None:
    """The active rollout, or none (with --as-of, the one active then)."""
    current = state_of(ctx).container().retrain.rollouts.status(time_option("--as-of", as_of))
    if as_json:
        return print_json(current)
    if current is None:
        out.print("No rollout is active.")
        return
    out.print(f"Rollout {current['number']}: {current['candidate']} at {current['percent']:g}% against "
              f"{current['stable']} (phase {current['phase']}, {current['state']} since "
              f"{current['phase_started_at']}).")


def _operate(ctx: typer.Context, action: str, reason: str, actor: str, as_json: bool) -> None:
    rollouts = state_of(ctx).container().retrain.rollouts
    rollout = getattr(rollouts, action)(reason=reason, actor=actor or default_actor())
    current = rollouts.status()
    if as_json:
        return print_json(current)
    out.print(f"Rollout {rollout.number} is {rollout.state} at {rollout.percent:g}%.")


@rollout_app.command("pause")
def pause(ctx: typer.Context, reason: ReasonOption, actor: ActorOption = "",
          as_json: JsonOption = False) -> None:
    """Pause the active rollout."""
    _operate(ctx, "pause", reason, actor, as_json)


@rollout_app.command("resume")
def resume(ctx: typer.Context, reason: ReasonOption, actor: ActorOption = "",
           as_json: JsonOption = False) -> None:
    """Resume a paused rollout (the phase's clock restarts)."""
    _operate(ctx, "resume", reason, actor, as_json)


@rollout_app.command("abort")
def abort(ctx: typer.Context, reason: ReasonOption, actor: ActorOption = "",
          as_json: JsonOption = False) -> None:
    """Roll the candidate back now."""
    _operate(ctx, "abort", reason, actor, as_json)


@rollout_app.command("promote-now")
def promote_now(ctx: typer.Context, reason: ReasonOption, actor: ActorOption = "",
                as_json: JsonOption = False) -> None:
    """Advance one phase now."""
    _operate(ctx, "promote_now", reason, actor, as_json)


@app.command()
def rollback(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="The former production version to restore.")],
    reason: ReasonOption,
    actor: ActorOption = "",
) -> None:
    """Make a former production version production again, at once."""
    restored = state_of(ctx).container().retrain.rollouts.rollback_to(to, reason=reason, actor=actor or default_actor())
    out.print(f"{restored.label} is production again.")
