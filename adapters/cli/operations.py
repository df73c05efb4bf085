"""`retrain init`, `ingest`, `monitor`, `tick`: the first model, the traffic, and the time-driven steps."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapters.cli.common import (
    EXIT_REFUSED,
    ActorOption,
    JsonOption,
    NowOption,
    app,
    default_actor,
    out,
    print_json,
    state_of,
)
from application.ingestion_batch import BatchRejected
from application.monitoring import VersionReport
from domain.errors import InvalidInput


@app.command()
def init(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(
        "--dataset", help="`digits` (bundled) or an ImageFolder directory.")] = "digits",
    epochs: Annotated[int | None, typer.Option("--epochs", help="At most this many epochs (early stopping).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (recorded).")] = None,
    baseline_ms: Annotated[float | None, typer.Option("--baseline-ms", help="Latency baseline; else measured.")] = None,
    arch: Annotated[str | None, typer.Option("--arch", help="Architecture (default by dataset).")] = None,
    input_size: Annotated[str | None, typer.Option(
        "--input-size", help="N or HxW pixels the model takes (default: inferred from the folder's images).")] = None,
    channels: Annotated[int | None, typer.Option(
        "--channels", help="1 (grey) or 3 (colour) (default: inferred from the folder's images).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Make v1 production even below 1.5 x chance.")] = False,
    actor: ActorOption = "",
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train the first model and register it as production v1."""
    if dataset != "digits" and not Path(dataset).is_dir():
        raise InvalidInput(f"--dataset must be `digits` or an ImageFolder directory; {dataset} is neither")
    if channels is not None and channels not in (1, 3):
        raise InvalidInput("--channels must be 1 (grey) or 3 (colour)")
    size = _input_size(input_size) if input_size is not None else None
    container = state_of(ctx).container(now)
    version = container.first_model.init(source=dataset, epochs=epochs, seed=seed, baseline_ms=baseline_ms,
                                           actor=actor or default_actor(), architecture=arch, input_size=size,
                                           channels=channels, force=force)
    if as_json:
        return print_json(container.ledger.read.find("version", version.label))
    metrics = version.training_metrics
    spec = version.input_spec
    height, width = spec.get("size", [0, 0])
    test = metrics.get("test_accuracy")  # absent when the dataset's test split is empty: no figure over 0 items
    out.print(f"Trained {version.label} ({version.architecture}, {height}x{width} "
              f"{'grey' if spec.get('mode') == 'L' else 'colour'}) on {dataset}: "
              f"{f'test accuracy {test:.2%}' if test is not None else 'no test accuracy (empty test split)'}, "
              f"best epoch {metrics.get('best_epoch')} of "
              f"{metrics.get('epochs_run')}, {metrics.get('seconds')} s on {metrics.get('device')}.")
    out.print(f"{version.label} is in production.")


def _input_size(text: str) -> tuple[int, int]:
    """`28` or `32x48` (height x width) as (height, width)."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise InvalidInput(f"--input-size must be N or HxW in pixels, such as 28 or 224x224; got {text!r}")
    height, width = (int(parts[0]), int(parts[-1]))
    if max(height, width) > 4096:
        raise InvalidInput("--input-size must be at most 4096 pixels a side")
    return height, width


class _Progress:
    """What the CLI does after each block: the progress bar, and now and then a collection of the few cycles the
    writes leave (the automatic collector is off during an ingest, see `ingest`)."""

    def __init__(self, bar: Progress | None, task: Any) -> None:
        self.bar, self.task, self.blocks = bar, task, 0

    def __call__(self, size: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=size)
        self.blocks += 1
        if self.blocks % COLLECT_EVERY == 0:
            gc.collect(1)


COLLECT_EVERY = 20  # blocks of about 1 MB; about 50 objects in cycles per block, and a collection takes milliseconds


@app.command()
def ingest(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(
        help="A JSON Lines file of prediction and feedback records, or - for stdin.")],
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Write the valid records, report the rest.")] = False,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Write rejected lines to this file.")] = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Re-write predictions stored with other content, unless a curated dataset "
                          "uses them.")] = False,
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import prediction and feedback records (atomic by default), then evaluate the triggers."""
    if source != "-" and not Path(source).is_file():
        raise InvalidInput(f"{source} is not a file")
    retrain = state_of(ctx).container(now).retrain
    # The automatic cyclic collector is off for this short-lived process: an ingest makes millions of objects and
    # almost no cycles, and scanning them was a third of its time; _Progress collects what cycles there are now and
    # then, so memory stays bounded. What the process built before is frozen, so the forked parsing workers do not
    # touch those pages either.
    gc.freeze()
    gc.disable()
    # Read as bytes in blocks of whole lines, which the parsing workers split and decode (bytes that are not UTF-8
    # are kept, so that their line is refused, never silently altered).
    handle = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115
    show = source != "-" and sys.stderr.isatty() and not as_json
    progress = Progress(TextColumn("ingesting"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                        transient=True) if show else None
    try:
        if progress is not None:
            progress.start()
        task = progress.add_task("ingest", total=Path(source).stat().st_size) if progress is not None else None
        with _RejectsFile(rejects) as write_reject:
            report = retrain.ingestion.ingest_stream(handle, skip_invalid=skip_invalid, rejects=write_reject,
                                                     progress=_Progress(progress, task), replace=replace)
    except BatchRejected as rejected:
        if as_json:
            print_json(rejected.report.as_json() | {"written": False})
        for error in rejected.report.errors[:100]:
            sys.stderr.write(f"{error}\n")
        raise
    finally:
        if progress is not None:
            progress.stop()
        if handle is not sys.stdin.buffer:
            handle.close()
    reports = retrain.monitoring.evaluate()
    if as_json:
        return print_json(report.as_json() | {"written": True, "monitor": [r.as_json() for r in reports]})
    replaced = f"; {report.replaced} replaced" if replace else ""
    out.print(f"Accepted {report.predictions} predictions and {report.feedback} feedback; "
              f"{report.duplicates} duplicates; {report.rejected} rejected{replaced}.")
    for error in report.errors[:100]:
        sys.stderr.write(f"{error}\n")
    _print_breaches(reports)


class _RejectsFile:
    """Rejected lines written as they come (bounded memory); the file exists only if a line was rejected."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.handle: IO[str] | None = None

    def write(self, line: str) -> None:
        if self.path is None:
            return
        if self.handle is None:
            self.handle = self.path.open("w", encoding="utf-8", errors="surrogateescape")  # the lines as they came
        self.handle.write(line if line.endswith("\n") else line + "\n")

    def __enter__(self) -> Callable[[str], None]:
        return self.write

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


def _print_breaches(reports: list[VersionReport]) -> None:
    for report in reports:
        for verdict in report.verdicts:
            if verdict.state == "breached":
                segment = f" ({verdict.segment})" if verdict.segment else ""
                out.print(f"{report.version}: {verdict.rule}{segment} breached: observed {verdict.observed} "
                          f"vs threshold {verdict.threshold}")


def _monitor_json(reports: list[VersionReport], evaluated_at: str) -> dict[str, Any]:
    return {"evaluated_at": evaluated_at, "versions": [r.as_json() for r in reports]}


def _monitor_table(reports: list[VersionReport]) -> None:
    if not reports:
        out.print("No version is serving.")
        return
    table = Table("version", "rule", "segment", "state", "observed", "threshold", "window")
    for report in reports:
        for v in report.verdicts:
            table.add_row(report.version, v.rule, v.segment or "-", v.state,
                          "-" if v.observed is None else f"{v.observed:g}", f"{v.threshold:g}", str(v.window))
    out.print(table)


@app.command()
def monitor(ctx: typer.Context, now: NowOption = None, as_json: JsonOption = False) -> None:
    """Evaluate the triggers now: the state of each rule, and any breach (recorded once per episode)."""
    retrain = state_of(ctx).container(now).retrain
    reports = retrain.monitoring.evaluate()
    if as_json:
        return print_json(_monitor_json(reports, retrain.clock.now().isoformat()))
    _monitor_table(reports)


@app.command()
def tick(ctx: typer.Context, now: NowOption = None, as_json: JsonOption = False) -> None:
    """One pass of everything time-driven: monitor, campaign steps, rollout phases; one line per decision taken."""
    retrain = state_of(ctx).container(now).retrain
    report = retrain.tick()
    rollout = retrain.rollouts.status()
    if as_json:
        return print_json({"monitor": _monitor_json(report.monitor, retrain.clock.now().isoformat()),
                           "rollout": rollout, "decisions": [d.as_json() for d in report.decisions]})
    _monitor_table(report.monitor)
    for decision in report.decisions:
        out.print(f"{decision.subject}: {decision.summary}", markup=False, highlight=False)
    if not report.decisions:
        out.print("No decision taken.")
    if rollout:
        out.print(f"Rollout {rollout['number']}: {rollout['candidate']} at {rollout['percent']:g}% "
                  f"(phase {rollout['phase']}, {rollout['state']}) against {rollout['stable']}.")


@app.command()
def demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated users, the drift and the training.")] = 0,
    days: Annotated[int, typer.Option("--days", help="At most this many simulated days.")] = 14,
) -> None:
    """The whole procedure end to end on a fresh home: simulated users, a drifting camera, simulated days."""
    from datetime import UTC, datetime

    from adapters.cli.audit import print_story
    from adapters.cli.demo import Demo, SimulatedLatency
    from adapters.clock import SimulatedClock
    from bootstrap import Container

    state = state_of(ctx)
    home = state.home or Path(f"retrain-demo-{datetime.now(UTC):%Y%m%d-%H%M%S}")
    settings = state.settings(home)  # a home that cannot be one is refused before anything else
    if home.is_dir() and any(home.iterdir()):
        raise InvalidInput(f"retrain demo needs a fresh home, and {home} is not empty: pass --home NEW_DIR")
    clock = SimulatedClock(datetime(2026, 1, 5, tzinfo=UTC))
    container = Container(settings, clock)
    container.evaluator = SimulatedLatency(container.evaluator, seed)  # before the use cases are built from it
    out.print(f"retrain demo — home {home} (inspect it afterwards with `retrain --home {home} history`)")
    outcome = Demo(retrain=container.retrain, first_model=container.first_model, clock=clock, seed=seed,
                   say=out.print, max_days=days).run()
    if outcome.candidate:
        out.print()
        print_story(container.audit.explain(outcome.candidate))
    table = Table("version", "clean test accuracy", "drifted test accuracy", "satisfaction scan*",
                  "satisfaction phone*", caption="* rated predictions it served after the phone camera changed")
    for label, accuracy in outcome.accuracy.items():
        satisfaction = outcome.satisfaction.get(label, {})
        table.add_row(label, f"{accuracy['clean']:.1%}", f"{accuracy['drifted']:.1%}",
                      _percent(satisfaction.get("scan")), _percent(satisfaction.get("phone")))
    out.print(table)
    if not outcome.closed:
        out.print(f"The loop did not close: production is {outcome.production}.")
        raise typer.Exit(EXIT_REFUSED)
    drifted, clean = outcome.gains()
    out.print(f"The loop closed: {outcome.production} is in production; against v1 it gains {drifted:+.1f} points on "
              f"drifted images and {clean:+.1f} on clean ones.")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
