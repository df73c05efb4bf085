"""Rollouts and rollback (rules 4.7 and 4.8): phase by phase on evidence, and back at once on trouble."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog

from application.ledger import Ledger
from application.ports import Clock, TrafficStatistics
from domain.errors import IllegalTransition, InvalidInput
from domain.model_version import ModelVersion
from domain.payloads import PhaseEvidence
from domain.policy import RolloutPolicy
from domain.rollout import Rollout
from domain.rules.phase_health import PhaseHealth, assess_phase_health
from domain.rules.rollout_decisions import decide_phase

log = structlog.get_logger()
SYSTEM = "system:rollout"
TRAJECTORY_POINTS = 16  # moments of a phase shown by the rollout page's interval charts


class Rollouts:
    """Starts, advances, pauses, aborts and completes rollouts; restores former production versions."""

    def __init__(self, *, ledger: Ledger, feedback: TrafficStatistics, clock: Clock, policy: RolloutPolicy) -> None:
        self.ledger = ledger
        self.feedback = feedback
        self.clock = clock
        self.policy = policy

    def start(self, candidate_label: str, *, actor: str) -> Rollout:
        """A validated candidate against the current production version, on the configured plan."""

        def command() -> Rollout:
            if self.ledger.active_rollout() is not None:
                raise IllegalTransition("a rollout is already active")
            stable = self.ledger.production()
            if stable is None:
                raise IllegalTransition("no version is in production to roll out against")
            candidate = self.ledger.version(candidate_label)
            now = self.clock.now()
            rollout = Rollout(
                number=self.ledger.next_rollout_number(), stable_id=str(stable.id), stable_label=stable.label,
                candidate_id=str(candidate.id), candidate_label=candidate.label, campaign_id=candidate.campaign_id,
                plan=[phase.model_dump() for phase in self.policy.plan], actor=actor, timestamp=now,
            )
            candidate.start_canary(rollout_id=str(rollout.id), actor=actor, timestamp=now)
            rollout.advance(reason="rollout started", evidence={}, actor=actor, timestamp=now)
            self.ledger.save(rollout, candidate)
            log.info("rollout_started", rollout=rollout.number, candidate=candidate.label, stable=stable.label)
            return rollout

        return self.ledger.retrying(command)

    def status(self, as_of: datetime | None = None) -> dict[str, Any] | None:
        """The active rollout in the `retrain rollout status --json` shape, or None when none is active; with
        `as_of`, as it was known at that time."""
        return self.ledger.read.rollout_status(as_of)

    # -- time-driven ---------------------------------------------------------------------------------
    def health(self, rollout: Rollout, now: datetime) -> PhaseHealth:
        since = rollout.phase_started_at
        candidate = self.feedback.phase_stats(rollout.candidate_id, since=since, until=now)
        stable = self.feedback.phase_stats(rollout.stable_id, since=since, until=now)
        return assess_phase_health(candidate, stable, self.policy, phase=rollout.phase)

    def trajectory(self, rollout: Rollout, now: datetime, *, points: int = TRAJECTORY_POINTS
                   ) -> list[tuple[datetime, PhaseHealth]]:
        """The phase's health at `points` moments evenly spread from its start to `now`, as each tick saw it then:
        the checks are recomputed from the feedback store's traffic up to each moment (no tick's figures are stored
        beside its decision unless it decided something)."""
        start = rollout.phase_started_at
        span = max(now - start, timedelta(0))
        moments = [start + span * (index / points) for index in range(1, points + 1)] if span else [now]
        return [(moment, self.health(rollout, moment)) for moment in moments]

    def active_health(self) -> tuple[Rollout, PhaseHealth] | None:
        """The active rollout and its phase's health now (every check's evidence), or None when none is active."""
        rollout = self.ledger.active_rollout()
        if rollout is None or rollout.state != "active":
            return None
        return rollout, self.health(rollout, self.clock.now())

    def step(self) -> Rollout | None:
        """One tick of the active rollout: roll back, advance, extend, pause or wait."""
        active = self.ledger.active_rollout()
        if active is None or active.state != "active":
            return active
        return self.ledger.retrying(lambda: self._step(str(active.id)))

    def _step(self, rollout_id: str) -> Rollout:
        rollout = self.ledger.rollout(rollout_id)
        if rollout.state != "active":
            return rollout
        now = self.clock.now()
        health = self.health(rollout, now)
        decision = decide_phase(
            health, elapsed=now - rollout.phase_started_at, duration=rollout.phase_duration,
            already_extended=rollout.extended, pause_after_factor=self.policy.pause_after_factor,
        )
        evidence = health.evidence()
        if decision == "roll_back":
            failed = ", ".join(health.failed)
            return self._roll_back(rollout, f"phase health failed: {failed}", evidence, SYSTEM, now)
        if decision == "advance":
            return self._advance(rollout, f"phase {rollout.phase} healthy", evidence, SYSTEM, now)
        if decision == "extend":
            rollout.extend_phase(evidence=evidence, actor=SYSTEM, timestamp=now)
            self.ledger.save(rollout)
            log.info("phase_extended", rollout=rollout.number, phase=rollout.phase)
        elif decision == "pause":
            rollout.pause(reason="insufficient_evidence", actor=SYSTEM, timestamp=now)
            self.ledger.save(rollout)
            log.warning("rollout_paused", rollout=rollout.number, reason="insufficient_evidence")
        return rollout

    def _advance(self, rollout: Rollout, reason: str, evidence: PhaseEvidence, actor: str, now: datetime) -> Rollout:
        rollout.advance(reason=reason, evidence=evidence, actor=actor, timestamp=now)
        changed: list[Any] = [rollout]
        said: tuple[str, dict[str, Any]] = ("traffic_shifted", {"percent": rollout.percent, "phase": rollout.phase})
        if rollout.percent >= 100:
            candidate = self.ledger.version(rollout.candidate_id)
            stable = self.ledger.version(rollout.stable_id)
            stable.supersede(by_version=candidate.label, reason="rollout completed", actor=actor, timestamp=now)
            candidate.promote(reason="rollout completed", rollout_id=str(rollout.id), actor=actor, timestamp=now)
            rollout.complete(actor=actor, timestamp=now)
            changed += [stable, candidate]
            said = ("candidate_promoted", {"version": candidate.label})
        self.ledger.save(*changed)  # then logged: a save that loses a race is retried and logs only what it saved
        log.info(said[0], rollout=rollout.number, **said[1])
        return rollout

    def _roll_back(self, rollout: Rollout, reason: str, evidence: PhaseEvidence, actor: str,
                   now: datetime) -> Rollout:
        candidate = self.ledger.version(rollout.candidate_id)
        rollout.roll_back(reason=reason, evidence=evidence, actor=actor, timestamp=now)
        candidate.roll_back(reason=reason, evidence=evidence, rollout_id=str(rollout.id), actor=actor, timestamp=now)
        self.ledger.save(rollout, candidate)
        log.warning("rollout_rolled_back", rollout=rollout.number, candidate=candidate.label, reason=reason)
        return rollout

    # -- operators ------------------------------------------------------------------------------------
    def _active(self) -> Rollout:
        rollout = self.ledger.active_rollout()
        if rollout is None:
            raise IllegalTransition("no rollout is active")
        return rollout

    def pause(self, *, reason: str, actor: str) -> Rollout:
        """Hold the rollout where it is: no time-driven step, and the stable version serves every request."""
        reason = _required(reason)

        def command() -> Rollout:
            rollout = self._active()
            rollout.pause(reason=reason, actor=actor, timestamp=self.clock.now())
            self.ledger.save(rollout)
            return rollout

        return self.ledger.retrying(command)

    def resume(self, *, reason: str, actor: str) -> Rollout:
        """Resume the current phase; its clock restarts, so its evidence is gathered afresh."""
        reason = _required(reason)

        def command() -> Rollout:
            rollout = self._active()
            rollout.resume(reason=reason, actor=actor, timestamp=self.clock.now())
            self.ledger.save(rollout)
            return rollout

        return self.ledger.retrying(command)

    def abort(self, *, reason: str, actor: str) -> Rollout:
        """An operator's rollback: traffic back to the stable version, the candidate RolledBack with the reason."""
        reason = _required(reason)

        def command() -> Rollout:
            rollout = self._active()
            now = self.clock.now()
            return self._roll_back(rollout, reason, self.health(rollout, now).evidence(), actor, now)

        return self.ledger.retrying(command)

    def promote_now(self, *, reason: str, actor: str) -> Rollout:
        """Advance one phase now, whatever the clock says; the reason is recorded.

        A paused rollout (e.g. for insufficient evidence) is resumed by the same decision, recorded as Resumed.
        """
        reason = _required(reason)

        def command() -> Rollout:
            rollout = self._active()
            now = self.clock.now()
            if rollout.state == "paused":
                rollout.resume(reason=reason, actor=actor, timestamp=now)
            return self._advance(rollout, reason, self.health(rollout, now).evidence(), actor, now)

        return self.ledger.retrying(command)

    def rollback_to(self, label: str, *, reason: str, actor: str) -> ModelVersion:
        """Rule 4.8: make a former production version production again, at once."""
        reason = _required(reason)

        def command() -> ModelVersion:
            target = self.ledger.version(label)
            now = self.clock.now()
            current = self.ledger.production()
            changed: list[Any] = []
            active = self.ledger.active_rollout()
            if active is not None:  # the rollout ends too, with the health it showed at that moment
                candidate = self.ledger.version(active.candidate_id)
                evidence = self.health(active, now).evidence()
                active.roll_back(reason=reason, evidence=evidence, actor=actor, timestamp=now)
                candidate.roll_back(reason=reason, evidence=evidence, rollout_id=str(active.id), actor=actor,
                                    timestamp=now)
                changed += [active, candidate]
                if candidate.id == target.id:
                    raise IllegalTransition(f"cannot restore {label}: it is the rollout's candidate")
            target.restore(reason=reason, replacing=current.label if current else None, actor=actor, timestamp=now)
            if current is not None and current.id != target.id:
                current.roll_back(reason=reason, evidence={"restored": target.label}, actor=actor, timestamp=now)
                changed.append(current)
            self.ledger.save(*changed, target)
            log.warning("version_restored", version=target.label, replacing=current.label if current else None)
            return target

        return self.ledger.retrying(command)


def _required(reason: str) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("a reason is required")
    return reason.strip()
