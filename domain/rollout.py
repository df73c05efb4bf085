"""Rollout ("déploiement progressif"): a validated candidate takes 10%, then 50%, then all of the traffic."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import IllegalTransition
from domain.payloads import PhaseEvidence

STATES = ("active", "paused", "rolled_back", "completed")


class Rollout(Aggregate):
    """A candidate against the stable production version, phase by phase, with the evidence of each step."""

    TOPIC = "retrain.Rollout"

    class Event(Aggregate.Event):
        actor: str

    class Created(Event, Aggregate.Created):
        TOPIC = "retrain.Rollout.Created"

    class Started(Created):
        TOPIC = "retrain.Rollout.Started"
        number: int
        stable_id: str
        stable_label: str
        candidate_id: str
        candidate_label: str
        campaign_id: str | None
        plan: list[dict[str, float]]

    class TrafficShifted(Event):
        TOPIC = "retrain.Rollout.TrafficShifted"
        from_percent: float
        to_percent: float
        phase: int
        reason: str
        evidence: PhaseEvidence

    class PhaseExtended(Event):
        TOPIC = "retrain.Rollout.PhaseExtended"
        phase: int
        evidence: PhaseEvidence

    class Paused(Event):
        TOPIC = "retrain.Rollout.Paused"
        reason: str

    class Resumed(Event):
        TOPIC = "retrain.Rollout.Resumed"
        reason: str

    class RolledBack(Event):
        TOPIC = "retrain.Rollout.RolledBack"
        reason: str
        evidence: PhaseEvidence

    class Completed(Event):
        TOPIC = "retrain.Rollout.Completed"

    @staticmethod
    def create_id(number: int, **_: Any) -> UUID:
        return uuid5(NAMESPACE_URL, f"retrain/Rollout/{number}")

    @event(Started)
    def __init__(
        self, *, number: int, stable_id: str, stable_label: str, candidate_id: str, candidate_label: str,
        campaign_id: str | None, plan: list[dict[str, float]], actor: str, timestamp: datetime,
    ) -> None:
        if not plan:
            raise IllegalTransition("a rollout needs at least one phase")
        self.number = number
        self.stable_id = stable_id
        self.stable_label = stable_label
        self.candidate_id = candidate_id
        self.candidate_label = candidate_label
        self.campaign_id = campaign_id
        self.plan = [dict(phase) for phase in plan]
        self.percent = 0.0
        self.phase = 0
        self.phase_started_at = timestamp
        self.extended = False
        self.state = "active"

    @property
    def is_active(self) -> bool:
        return self.state in ("active", "paused")

    @property
    def phase_duration(self) -> timedelta:
        return timedelta(hours=self.plan[self.phase - 1]["hours"]) if self.phase else timedelta(0)

    @property
    def next_percent(self) -> float:
        return self.plan[self.phase]["percent"] if self.phase < len(self.plan) else 100.0

    def _require(self, *states: str, action: str) -> None:
        if self.state not in states:
            raise IllegalTransition(f"cannot {action} rollout {self.number}: it is {self.state}")

    def advance(self, *, reason: str, evidence: PhaseEvidence, actor: str, timestamp: datetime) -> None:
        """Shift traffic to the next phase of the plan (100% after the last)."""
        self._require("active", action="shift traffic on")
        self._shifted(from_percent=self.percent, to_percent=self.next_percent, phase=self.phase + 1, reason=reason,
                      evidence=evidence, actor=actor, timestamp=timestamp)

    @event(TrafficShifted)
    def _shifted(self, from_percent: float, to_percent: float, phase: int, reason: str, evidence: PhaseEvidence,
                 actor: str, timestamp: datetime) -> None:
        self.percent = to_percent
        self.phase = phase
        self.phase_started_at = timestamp
        self.extended = False

    def extend_phase(self, *, evidence: PhaseEvidence, actor: str, timestamp: datetime) -> None:
        self._require("active", action="extend")
        if self.extended:
            raise IllegalTransition(f"phase {self.phase} of rollout {self.number} is already extended")
        self._extended(phase=self.phase, evidence=evidence, actor=actor, timestamp=timestamp)

    @event(PhaseExtended)
    def _extended(self, phase: int, evidence: PhaseEvidence, actor: str, timestamp: datetime) -> None:
        self.extended = True

    def pause(self, *, reason: str, actor: str, timestamp: datetime) -> None:
        self._require("active", action="pause")
        self._paused(reason=reason, actor=actor, timestamp=timestamp)

    @event(Paused)
    def _paused(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.state = "paused"

    def resume(self, *, reason: str, actor: str, timestamp: datetime) -> None:
        """Resuming restarts the current phase's clock: its evidence is gathered afresh."""
        self._require("paused", action="resume")
        self._resumed(reason=reason, actor=actor, timestamp=timestamp)

    @event(Resumed)
    def _resumed(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.state = "active"
        self.phase_started_at = timestamp
        self.extended = False

    def roll_back(self, *, reason: str, evidence: PhaseEvidence, actor: str, timestamp: datetime) -> None:
        """Traffic back to 0% for the candidate, then RolledBack with the evidence."""
        self._require("active", "paused", action="roll back")
        if self.percent:
            self._shifted(from_percent=self.percent, to_percent=0.0, phase=self.phase, reason=reason,
                          evidence=evidence, actor=actor, timestamp=timestamp)
        self._rolled_back(reason=reason, evidence=evidence, actor=actor, timestamp=timestamp)

    @event(RolledBack)
    def _rolled_back(self, reason: str, evidence: PhaseEvidence, actor: str, timestamp: datetime) -> None:
        self.state = "rolled_back"

    def complete(self, *, actor: str, timestamp: datetime) -> None:
        self._require("active", action="complete")
        if self.percent < 100:
            raise IllegalTransition(f"rollout {self.number} is at {self.percent:g}%, not 100%")
        self._completed(actor=actor, timestamp=timestamp)

    @event(Completed)
    def _completed(self, actor: str, timestamp: datetime) -> None:
        self.state = "completed"
