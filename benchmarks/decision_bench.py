"""SPEC section 10, row "wrong decisions of the rollout" (issue 25): how often the rollout's rules roll a good
candidate back, and how often and how fast they catch a bad one, over seeded simulated rollouts.

Each run is a rollout of the default plan (10% for 24 h, then 50% for 48 h, then 100%): predictions arrive tick by
tick (Poisson, split between candidate and stable by bucket share, image types `scan` 70% / `phone` 30%), errors are
Bernoulli, latencies lognormal, a share of the ok predictions is rated as it is served. On every tick the phase's
counts so far (each phase starts from zero, as the product counts the current phase only) go through a rule's
phase health and decision; the run ends at the first rollback, pause or when it reaches 100%. Both rules see the
same traffic in each run:
- new: the product's own `assess_phase_health` and `decide_phase` with `RolloutPolicy()` defaults;
- today's rule, the baseline: those two functions as they were at commit 5702ff1, before issue 25, copied below
  (the candidate alone: satisfaction >= 0.70 from 30 ratings, errors <= 5% from 50 predictions, mean latency <= 1.5 x
  stable from 50 each; any failed check rolls back at once).
Run: .venv/bin/python -m benchmarks.decision_bench [--runs 10000] [--tick-minutes 60] [--processes 1] [--quick]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from domain.policy import RolloutPolicy
from domain.rules.phase_health import PhaseStats, assess_phase_health
from domain.rules.rollout_decisions import decide_phase
from domain.rules.verdicts import exact

TYPES = {"scan": 0.7, "phone": 0.3}
FIELDS = 7  # per arm and image type: predictions, errors, rated, satisfied, ok, sum and sum of squares of latency
CHUNK = 500  # runs drawn at once
CAUSE = 40  # the width of the column naming what rolled the new rule's runs back


# -- today's rule: domain/rules/phase_health.py and rollout_decisions.py at commit 5702ff1 (before issue 25) -------
@dataclass(frozen=True)
class TodayCheck:
    name: str
    state: Literal["ok", "failed", "insufficient"]
    observed: float | None
    threshold: float
    samples: int


@dataclass(frozen=True)
class TodayHealth:
    checks: list[TodayCheck]

    @property
    def failed(self) -> list[str]:
        """The names of the checks that failed (as the product's PhaseHealth answers)."""
        return [check.name for check in self.checks if check.state == "failed"]

    @property
    def enough_evidence(self) -> bool:
        return all(check.state != "insufficient" for check in self.checks)


def _today_satisfaction(stats: PhaseStats, policy: RolloutPolicy) -> TodayCheck:
    if stats.rated < policy.satisfaction_min_feedback:
        return TodayCheck("satisfaction", "insufficient", None, policy.satisfaction_min, stats.rated)
    ok = Fraction(stats.satisfied, stats.rated) >= exact(policy.satisfaction_min)
    observed = round(stats.satisfied / stats.rated, 6)
    return TodayCheck("satisfaction", "ok" if ok else "failed", observed, policy.satisfaction_min, stats.rated)


def _today_error_rate(stats: PhaseStats, policy: RolloutPolicy) -> TodayCheck:
    if stats.predictions < policy.error_rate_min_predictions:
        return TodayCheck("error_rate", "insufficient", None, policy.error_rate_max, stats.predictions)
    ok = Fraction(stats.errors, stats.predictions) <= exact(policy.error_rate_max)
    observed = round(stats.errors / stats.predictions, 6)
    return TodayCheck("error_rate", "ok" if ok else "failed", observed, policy.error_rate_max, stats.predictions)


def _today_latency(candidate: PhaseStats, stable: PhaseStats, policy: RolloutPolicy) -> TodayCheck:
    samples = min(candidate.ok_predictions, stable.ok_predictions)
    if samples < policy.latency_min_predictions or candidate.mean_latency_ms is None or stable.mean_latency_ms is None:
        return TodayCheck("latency", "insufficient", None, 0.0, samples)
    limit = exact(policy.latency_factor) * exact(stable.mean_latency_ms)
    state: Literal["ok", "failed"] = "ok" if exact(candidate.mean_latency_ms) <= limit else "failed"
    return TodayCheck("latency", state, round(candidate.mean_latency_ms, 6), round(float(limit), 6), samples)


def todays_health(candidate: PhaseStats, stable: PhaseStats, policy: RolloutPolicy) -> TodayHealth:
    """Satisfaction >= 0.70 (from 30 feedback), errors <= 5% (from 50), latency <= 1.5 x stable (from 50 each)."""
    return TodayHealth([_today_satisfaction(candidate, policy), _today_error_rate(candidate, policy),
                        _today_latency(candidate, stable, policy)])


def todays_decision(health: TodayHealth, *, elapsed: timedelta, duration: timedelta, already_extended: bool,
                    pause_after_factor: float) -> str:
    """A failed check rolls back at once; at the phase's end, healthy advances, else extend, then pause at 2x."""
    if health.failed:
        return "roll_back"
    if elapsed < duration:
        return "wait"
    if health.enough_evidence:
        return "advance"
    if elapsed >= duration * pause_after_factor:
        return "pause"
    return "wait" if already_extended else "extend"


RULES: dict[str, tuple[Callable[..., Any], Callable[..., str]]] = {
    "today": (todays_health, todays_decision), "new": (assess_phase_health, decide_phase)}


# -- scenarios -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arm:
    """How one version behaves: satisfaction (per image type where it differs), error rate, mean latency."""

    satisfaction: float
    error_rate: float = 0.02
    latency_ms: float = 5.0
    by_type: tuple[tuple[str, float], ...] = ()

    def satisfaction_of(self, image_type: str) -> float:
        return dict(self.by_type).get(image_type, self.satisfaction)


@dataclass(frozen=True)
class Scenario:
    key: str
    name: str
    stable: Arm
    candidate: Arm
    regression: bool  # a rollback is a catch; otherwise it is wrong
    limit: float  # the share of runs rolled back: at least this for a regression, at most this otherwise
    within_first: bool = False  # counted within the first (10%) phase only, else before 100%
    median_max: int | None = None  # candidate ratings until the rollback, median over the rollbacks

    def target(self, first_percent: float) -> str:
        if not self.regression:
            return "never" if self.limit == 0 else f"wrong <= {self.limit:.0%}"
        window = f"in {first_percent:g}%" if self.within_first else "before 100%"
        return f">= {self.limit:.0%} {window}" + (f", median <= {self.median_max}" if self.median_max else "")


SCENARIOS = (
    Scenario("equal", "equal (both 0.78)", Arm(0.78), Arm(0.78), False, 0.01),
    Scenario("repaired", "repaired drift 0.62 -> 0.74", Arm(0.62), Arm(0.74), False, 0.01),
    Scenario("floor", "below floor, better 0.62 -> 0.66", Arm(0.62), Arm(0.66), False, 0.0),
    Scenario("reg10", "regression 0.85 -> 0.75", Arm(0.85), Arm(0.75), True, 0.90, within_first=True),
    Scenario("reg20", "regression 0.85 -> 0.65", Arm(0.85), Arm(0.65), True, 0.99, within_first=True, median_max=100),
    Scenario("phone", "phone (30%) 0.78 -> 0.63", Arm(0.78), Arm(0.78, by_type=(("phone", 0.63),)), True, 0.80),
    Scenario("latency", "latency +60% (5 -> 8 ms)", Arm(0.78), Arm(0.78, latency_ms=8.0), True, 0.95),
    Scenario("errors", "error rate 2% -> 8%", Arm(0.78), Arm(0.78, error_rate=0.08), True, 0.95),
)


@dataclass(frozen=True)
class Traffic:
    per_hour: float = 500.0
    rating_rate: float = 0.25
    latency_cv: float = 0.5
    tick_minutes: float = 60.0


# -- simulated traffic -----------------------------------------------------------------------------------------------
def latency_sums(rng: np.random.Generator, counts: np.ndarray, mean: float, cv: float) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of `counts`, the sum and the sum of squares of that many lognormal latencies (mean, CV)."""
    sigma2 = math.log(1 + cv * cv)
    draws = rng.lognormal(math.log(mean) - sigma2 / 2, math.sqrt(sigma2), int(counts.sum()))
    cuts = np.concatenate(([0], np.cumsum(counts.ravel())))

    def per_cell(values: np.ndarray) -> np.ndarray:
        return np.diff(np.concatenate(([0.0], np.cumsum(values)))[cuts]).reshape(counts.shape)

    return per_cell(draws), per_cell(draws * draws)


def phase_traffic(rng: np.random.Generator, scenario: Scenario, traffic: Traffic, percent: float, runs: int,
                  ticks: int) -> np.ndarray:
    """Cumulative counts of a phase: [run, tick, arm (candidate, stable), image type, field]."""
    counts = np.zeros((runs, ticks, 2, len(TYPES), FIELDS))
    for a, (arm, share) in enumerate(((scenario.candidate, percent / 100), (scenario.stable, 1 - percent / 100))):
        for t, (image_type, type_share) in enumerate(TYPES.items()):
            served = rng.poisson(traffic.per_hour * traffic.tick_minutes / 60 * share * type_share, (runs, ticks))
            errors = rng.binomial(served, arm.error_rate)
            ok = served - errors
            rated = rng.binomial(ok, traffic.rating_rate)
            satisfied = rng.binomial(rated, arm.satisfaction_of(image_type))
            total, squares = latency_sums(rng, ok, arm.latency_ms, traffic.latency_cv)
            counts[:, :, a, t] = np.stack([served, errors, rated, satisfied, ok, total, squares], axis=-1)
    return np.cumsum(counts, axis=1)


def _stats(predictions: float, errors: float, rated: float, satisfied: float, ok: float, total: float, squares: float,
           segments: dict[str, PhaseStats] | None = None) -> PhaseStats:
    mean = total / ok if ok else None
    variance = max(0.0, (squares - total * total / ok) / (ok - 1)) if ok > 1 else None
    return PhaseStats(predictions=int(predictions), errors=int(errors), rated=int(rated), satisfied=int(satisfied),
                      mean_latency_ms=mean, ok_predictions=int(ok), latency_variance=variance, segments=segments or {})


def arm_stats(cells: Sequence[Sequence[float]]) -> PhaseStats:
    """One arm's PhaseStats, in all and per image type, from its cumulative cells (one per image type)."""
    segments = {image_type: _stats(*cell) for image_type, cell in zip(TYPES, cells, strict=True)}
    return _stats(*(sum(column) for column in zip(*cells, strict=True)), segments=segments)


class RunTraffic:
    """One run's cumulative counts per phase and tick, drawn on for both rules; a phase that runs past its duration
    (extended) draws more ticks of its own, seeded by the run, the phase and the tick."""

    def __init__(self, phases: list[list[Any]], more: Callable[[int, int, list[Any]], list[Any]]) -> None:
        self.phases, self.more = phases, more
        self.seen: dict[tuple[int, int], tuple[PhaseStats, PhaseStats]] = {}

    def at(self, phase: int, tick: int) -> tuple[PhaseStats, PhaseStats]:
        rows = self.phases[phase]
        while tick >= len(rows):
            rows.extend(self.more(phase, len(rows), rows[-1]))
        if (phase, tick) not in self.seen:
            candidate, stable = rows[tick]
            self.seen[phase, tick] = (arm_stats(candidate), arm_stats(stable))
        return self.seen[phase, tick]


# -- following a rule through a run -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    phase: int  # the phase (index in the plan) the run ended in; len(plan) once at 100%
    decision: Literal["roll_back", "pause", "promoted"]
    ratings: int  # candidate ratings since the rollout started, at the decision
    failed: tuple[str, ...] = ()


def follow(rule: str, run: RunTraffic, policy: RolloutPolicy, step: timedelta) -> Outcome:
    """Tick through the plan with one rule until it rolls back, pauses, or reaches 100%."""
    assess, decide = RULES[rule]
    earlier = 0
    for p, phase in enumerate(policy.plan):
        extended, tick = False, 0
        while True:
            candidate, stable = run.at(p, tick)
            health = assess(candidate, stable, policy, phase=p + 1) if rule == "new" else assess(candidate, stable,
                                                                                                 policy)
            decision = decide(health, elapsed=step * (tick + 1), duration=timedelta(hours=phase.hours),
                              already_extended=extended, pause_after_factor=policy.pause_after_factor)
            if decision in ("roll_back", "pause"):
                return Outcome(p, decision, earlier + candidate.rated, tuple(health.failed))
            if decision == "advance":
                earlier += candidate.rated
                break
            extended = extended or decision == "extend"
            tick += 1
    return Outcome(len(policy.plan), "promoted", earlier)


@dataclass
class Tally:
    """One rule's outcomes over the runs of a scenario."""

    runs: int = 0
    rolled_back: Counter[int] = field(default_factory=Counter)  # by phase index
    paused: int = 0
    promoted: int = 0
    ratings: list[int] = field(default_factory=list)  # candidate ratings at each rollback
    checks: Counter[str] = field(default_factory=Counter)  # "phase %: failed checks" of each rollback

    def add(self, outcome: Outcome, plan_percents: Sequence[float]) -> None:
        self.runs += 1
        if outcome.decision == "pause":
            self.paused += 1
        elif outcome.decision == "promoted":
            self.promoted += 1
        elif outcome.decision == "roll_back":
            self.rolled_back[outcome.phase] += 1
            self.ratings.append(outcome.ratings)
            self.checks[f"{plan_percents[outcome.phase]:g}%: {'+'.join(outcome.failed)}"] += 1

    def merge(self, other: Tally) -> None:
        self.runs += other.runs
        self.rolled_back.update(other.rolled_back)
        self.paused += other.paused
        self.promoted += other.promoted
        self.ratings += other.ratings
        self.checks.update(other.checks)

    def share(self, first_only: bool) -> float:
        caught = self.rolled_back[0] if first_only else sum(self.rolled_back.values())
        return caught / self.runs if self.runs else 0.0

    def median(self) -> float | None:
        return statistics.median(self.ratings) if self.ratings else None


def simulate_chunk(key: str, chunk: int, runs: int, seed: int, traffic: Traffic) -> dict[str, Tally]:
    """`runs` seeded runs of one scenario, each followed by both rules on the same traffic."""
    index, scenario = next((i, s) for i, s in enumerate(SCENARIOS) if s.key == key)
    policy = RolloutPolicy()
    step = timedelta(minutes=traffic.tick_minutes)
    ticks = [max(1, math.ceil(phase.hours * 60 / traffic.tick_minutes)) for phase in policy.plan]
    rng = np.random.default_rng([seed, index, chunk])
    phases = [phase_traffic(rng, scenario, traffic, phase.percent, runs, n) for phase, n in zip(policy.plan, ticks,
                                                                                                 strict=True)]
    percents = [phase.percent for phase in policy.plan]
    tallies = {rule: Tally() for rule in RULES}
    for r in range(runs):
        def more(p: int, drawn: int, last: list[Any], r: int = r) -> list[Any]:
            extra = np.random.default_rng([seed, index, chunk, r, p, drawn])
            return (phase_traffic(extra, scenario, traffic, percents[p], 1, ticks[p])[0] + np.asarray(last)).tolist()

        run = RunTraffic([phase[r].tolist() for phase in phases], more)
        for rule, tally in tallies.items():
            tally.add(follow(rule, run, policy, step), percents)
    return tallies


def simulate(key: str, runs: int, seed: int, traffic: Traffic, processes: int = 1) -> dict[str, Tally]:
    """`runs` runs of a scenario in chunks (the same figures whatever the number of processes)."""
    sizes = [min(CHUNK, runs - start) for start in range(0, runs, CHUNK)]
    jobs = [(key, chunk, size, seed, traffic) for chunk, size in enumerate(sizes)]
    if processes > 1:
        with ProcessPoolExecutor(processes) as pool:
            parts = list(pool.map(simulate_chunk, *zip(*jobs, strict=True)))
    else:
        parts = [simulate_chunk(*job) for job in jobs]
    total = {rule: Tally() for rule in RULES}
    for part in parts:
        for rule, tally in part.items():
            total[rule].merge(tally)
    return total


# -- the table ---------------------------------------------------------------------------------------------------
def met(scenario: Scenario, tally: Tally) -> bool:
    share = tally.share(scenario.within_first)
    if not scenario.regression:
        return share <= scenario.limit
    median = tally.median()
    return share >= scenario.limit and (scenario.median_max is None or (median is not None
                                                                         and median <= scenario.median_max))


def cells(tally: Tally) -> str:
    median = tally.median()
    return (f"{tally.share(True):>7.2%} {tally.share(False):>8.2%} {'-' if median is None else f'{median:g}':>7}"
            f" {tally.paused / tally.runs:>6.2%}")


def main_cause(tally: Tally) -> str:
    if not tally.checks:
        return "-"
    cause, count = tally.checks.most_common(1)[0]
    share = f" ({count / sum(tally.checks.values()):.0%})"
    return cause[:CAUSE - len(share)] + share


def print_table(results: dict[str, dict[str, Tally]], runs: int, seed: int, traffic: Traffic, seconds: float) -> None:
    policy = RolloutPolicy()
    plan = ", ".join(f"{phase.percent:g}% {phase.hours:g} h" for phase in policy.plan)
    first = policy.plan[0].percent
    print(f"decision_bench: {runs:,} seeded runs per scenario (seed {seed}); plan {plan}, then 100%; "
          f"{traffic.per_hour:g} predictions/h in all, split by bucket; {traffic.rating_rate:.0%} of ok predictions "
          f"rated; a tick every {traffic.tick_minutes:g} min")
    print("image types scan 70% / phone 30%; errors Bernoulli 2%, latency lognormal 5 ms with CV "
          f"{traffic.latency_cv:g}, both versions, unless the scenario says otherwise")
    print("today = the candidate alone against 0.70 / 5% / 1.5 x stable latency, at commit 5702ff1 (the baseline); "
          f"new = the product's assess_phase_health + decide_phase, alpha {policy.alpha:g} family-wise, "
          f"margin {policy.margin:g}")
    print("rolled back: share of runs in the first phase and before 100%; ratings: candidate ratings until the "
          "rollback (median over rollbacks); paused: share of runs")
    rule_head = f"{'in ' + format(first, 'g') + '%':>7} {'<100%':>8} {'ratings':>7} {'paused':>6}"
    print(f"{'scenario':<33} {'rollback':<8} | today {rule_head} | new   {rule_head} | "
          f"{'new: rolled back mostly by':<{CAUSE}} | target (new rule)")
    for scenario in SCENARIOS:
        if scenario.key not in results:
            continue
        today, new = results[scenario.key]["today"], results[scenario.key]["new"]
        verdict = "met" if met(scenario, new) else "NOT met"
        print(f"{scenario.name:<33} {'catch' if scenario.regression else 'wrong':<8} | {'':5} {cells(today)} | "
              f"{'':5} {cells(new)} | {main_cause(new):<{CAUSE}} | {scenario.target(first)}: {verdict}")
    print(f"{len(results)} scenarios x {runs:,} runs x 2 rules in {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="seeded runs per scenario (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="200 runs per scenario: checks the bench, not figures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tick-minutes", type=float, default=60.0)
    parser.add_argument("--per-hour", type=float, default=500.0, help="predictions per hour, both versions")
    parser.add_argument("--rating-rate", type=float, default=0.25)
    parser.add_argument("--latency-cv", type=float, default=0.5)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--only", nargs="*", choices=[s.key for s in SCENARIOS], help="some scenarios only")
    args = parser.parse_args()
    runs = 200 if args.quick else args.runs
    traffic = Traffic(args.per_hour, args.rating_rate, args.latency_cv, args.tick_minutes)
    started = time.perf_counter()
    results = {}
    for scenario in SCENARIOS:
        if args.only and scenario.key not in args.only:
            continue
        begun = time.perf_counter()
        results[scenario.key] = simulate(scenario.key, runs, args.seed, traffic, args.processes)
        print(f"{scenario.key}: {time.perf_counter() - begun:.1f} s", file=sys.stderr)
        for rule, tally in results[scenario.key].items():
            print(f"  {rule}: rolled back by {dict(tally.checks.most_common())}", file=sys.stderr)
    print_table(results, runs, args.seed, traffic, time.perf_counter() - started)


if __name__ == "__main__":
    main()
