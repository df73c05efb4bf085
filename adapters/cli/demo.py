"""`retrain demo` (SPEC section 8): the whole procedure on simulated users, a drifting phone camera and simulated days.

Everything real runs: the torch trainer, evaluator and predictor, the SQLite stores, the event store, ingestion,
the monitor, curation, the review (decided by a scripted reviewer who knows the truth), the strategy, the gates and
the rollout. Only the users and the calendar are simulated.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import torch
from PIL import Image

from adapters.cli.audit import describe_event
from adapters.clock import SimulatedClock
from adapters.torch.datasets import digits_images
from adapters.torch.drift import phone_camera_drift, png_bytes
from application.first_model import FirstModel
from application.models import model_ref
from application.ports import Comparison, Evaluator, ModelRef
from application.retrain import Retrain

STEP = timedelta(hours=6)
DRIFT_DAY = 3
REVIEWER = "user:demo-reviewer"


@dataclass
class Request:
    """One simulated request: what the user sent, what the truth is, and what the user will answer."""

    prediction_id: str
    user_ref: str
    image_type: str
    truth: str
    image: bytes


@dataclass
class DemoOutcome:
    """What the demo shows at the end, and whether the loop really closed."""

    production: str
    candidate: str | None
    accuracy: dict[str, dict[str, float]] = field(default_factory=dict)
    satisfaction: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        """The retrained version serves production and beats v1 on the drifted images."""
        if self.candidate is None or self.production != self.candidate:
            return False
        return self.accuracy[self.candidate]["drifted"] > self.accuracy["v1"]["drifted"]

    def gains(self) -> tuple[float, float]:
        """Points gained on drifted images and on clean ones, candidate against v1 (SPEC 10: +10 and -1 at most)."""
        if self.candidate is None:
            return 0.0, 0.0
        after, before = self.accuracy[self.candidate], self.accuracy["v1"]
        return 100 * (after["drifted"] - before["drifted"]), 100 * (after["clean"] - before["clean"])


class SimulatedLatency:
    """The demo's evaluator: the real side-by-side run for accuracy, and for latency the simulated users' serving
    latency (drawn from the seed, the same for every version of the architecture), so that the same seed gives the
    same verdicts on a quiet or a loaded machine. The latency this process measured is reported beside it
    (`measured_on.latency_ms.measured_ms`)."""

    def __init__(self, inner: Evaluator, seed: int, draws: int = 200) -> None:
        self.inner, self.seed, self.draws = inner, seed, draws

    def compare(self, parent: ModelRef, candidate: ModelRef, dataset_id: str,
                original_dataset_id: str | None = None) -> Comparison:
        measured = self.inner.compare(parent, candidate, dataset_id, original_dataset_id)
        if measured.parent.latency_ms is None or measured.candidate.latency_ms is None:
            return measured  # nothing was timed (no validation image): nothing to simulate either
        rng = random.Random(f"{self.seed}:{parent.label}:{candidate.label}")
        simulated = [round(sum(max(0.5, rng.gauss(4.0, 0.4)) for _ in range(self.draws)) / self.draws, 6)
                     for _ in range(2)]
        latency = {**measured.measured_on.get("latency_ms", {}), "simulated": True,
                   "measured_ms": {parent.label: measured.parent.latency_ms,
                                   candidate.label: measured.candidate.latency_ms}}
        return replace(measured, parent=replace(measured.parent, latency_ms=simulated[0]),
                       candidate=replace(measured.candidate, latency_ms=simulated[1]),
                       measured_on={**measured.measured_on, "latency_ms": latency})


class Demo:
    """Simulated days of traffic from `scan` (clean) and `phone` users; on day 3 the phone camera drifts."""

    def __init__(self, *, retrain: Retrain, first_model: FirstModel, clock: SimulatedClock, seed: int,
                 say: Callable[[str], None], requests_per_step: int = 240, max_days: int = 14) -> None:
        self.retrain = retrain
        self.first_model = first_model
        self.clock = clock
        self.rng = random.Random(seed)
        self.latency = random.Random(seed + 1)  # simulated users' latency: the same on a quiet or a loaded machine
        self.noise = torch.Generator().manual_seed(seed)
        self.seed = seed
        self.say = say
        self.requests_per_step = requests_per_step
        self.max_days = max_days
        self.images, labels = digits_images()
        self.labels = [str(int(label)) for label in labels]
        self.truth: dict[str, str] = {}
        self.rated_after_drift: dict[tuple[str, str], list[bool]] = {}
        self.serial = 0
        self.seen_events = 0
        self.left_for_people: set[str] = set()
        self.start = clock.now()

    # -- the story ----------------------------------------------------------------------------------
    def run(self) -> DemoOutcome:
        self.say(f"Day 0: training v1 on the bundled digits (seed {self.seed})...")
        v1 = self.first_model.init(source="digits", epochs=None, seed=self.seed, baseline_ms=None,
                                   actor="user:demo")
        self.say(f"  v1 is in production: test accuracy {v1.training_metrics.get('test_accuracy', 0):.1%}.")
        self.tell()
        while self.clock.now() < self.start + timedelta(days=self.max_days):
            self.step()
            if self.settled():
                break
        return self.outcome()

    def day(self) -> float:
        return (self.clock.now() - self.start) / timedelta(days=1)

    def step(self) -> None:
        """Six simulated hours of traffic and feedback, then a tick, and the reviewer's decisions."""
        if int(self.day()) == DRIFT_DAY and (self.clock.now() - self.start) % timedelta(days=1) == timedelta(0):
            self.say(f"Day {DRIFT_DAY}: the phone camera changes (blur, low light, noise); phone users start "
                     f"answering 0 with comments such as \"image floue, c'est un 7\".")
        lines = [json.dumps(record) for record in self.traffic()]
        self.clock.advance(STEP)
        report = self.retrain.ingestion.ingest(lines)
        if report.rejected:
            self.say(f"  ingestion rejected {report.rejected} record(s): {report.errors[0]}")
        self.retrain.tick()
        self.tell()  # what the tick decided, then the reviewer
        self.review()
        self.tell()

    def settled(self) -> bool:
        """Stop a day after a retrained version reaches production, so the monitor's verdict on it shows."""
        completed = [r for r in self.retrain.ledger.rollouts() if r.state == "completed"]
        return bool(completed) and self.clock.now() >= completed[0].modified_on + timedelta(days=1)

    # -- simulated users -------------------------------------------------------------------------------
    def traffic(self) -> list[dict[str, Any]]:
        records = []
        moment = self.clock.now()
        for index in range(self.requests_per_step):
            request = self.request()
            served_at = moment + STEP * index / self.requests_per_step
            version = self.retrain.router.table().version_for(request.user_ref, request.prediction_id)
            [prediction] = self.retrain.predictor.predict(version, [request.image])
            record: dict[str, Any] = {
                "prediction_id": request.prediction_id, "timestamp": served_at.isoformat(),
                "model_version": version.label, "predicted_label": prediction.label,
                "confidence": prediction.confidence, "inference_ms": self.inference_ms(),
                "image_type": request.image_type, "user_ref": request.user_ref,
                "image": base64.b64encode(self.logged_image(request)).decode(),
            }
            answer = self.answer(request, prediction.label, served_at)
            if answer and self.day() >= DRIFT_DAY:
                key = (version.label, request.image_type)
                self.rated_after_drift.setdefault(key, []).append(bool(answer["user_feedback"]))
            record.update(answer)
            records.append(record)
        return records

    def request(self) -> Request:
        self.serial += 1
        index = self.rng.randrange(len(self.labels))
        image_type = "phone" if self.rng.random() < 0.5 else "scan"
        picture = Image.fromarray(self.images[index], mode="L")
        if image_type == "phone" and self.day() >= DRIFT_DAY:
            picture = phone_camera_drift(picture, self.noise)
        pid = f"demo-{self.serial:06d}"
        self.truth[pid] = self.labels[index]
        return Request(pid, f"user-{self.rng.randrange(400):03d}", image_type, self.labels[index], png_bytes(picture))

    def inference_ms(self) -> float:
        """A simulated serving latency (about 4 ms, the same for every version of the architecture). The wall-clock
        time of this process's inference moved with the machine's load and, through the latency trigger and the
        rollout's health check, rolled v2 back on a loaded machine."""
        return round(max(0.5, self.latency.gauss(4.0, 0.4)), 3)

    def logged_image(self, request: Request) -> bytes:
        """A few phone uploads are blank frames (curation excludes them as corrupted; a truncated file would be
        refused at ingest, with its whole batch)."""
        if request.image_type == "phone" and self.rng.random() < 0.01:
            return png_bytes(Image.new("L", (8, 8), color=0))
        return request.image

    def answer(self, request: Request, predicted: str, at: datetime) -> dict[str, Any]:
        """Most users rate; unhappy ones often say what the digit is — in French or English, or not at all."""
        if self.rng.random() > 0.7:
            return {}
        satisfied = predicted == request.truth
        answer: dict[str, Any] = {"user_feedback": int(satisfied), "gdpr_consent": self.rng.random() < 0.85,
                                  "feedback_at": (at + timedelta(minutes=self.rng.randrange(1, 90))).isoformat()}
        if satisfied:
            return answer
        roll, truth = self.rng.random(), request.truth
        if roll < 0.25:
            answer["corrected_label"] = truth
        elif roll < 0.75:
            template = self.rng.choice(["image floue, c'est un {}", "mauvais, devrait être {}",
                                        "wrong, it's a {}", "C'était un {} !", "blurry, should be {}"])
            answer["comment"] = template.format(truth)
        elif roll < 0.9:
            answer["comment"] = self.rng.choice(["trop flou", "mauvais", "incorrect", "bad photo"])
        else:
            answer["comment"] = f"c'est un {(int(truth) + 1) % 10}"  # a user who got it wrong too
        return answer

    # -- the scripted reviewer ---------------------------------------------------------------------------
    def review(self) -> None:
        """Decide the critical items of each campaign opened before a retrained version reached production; a
        campaign opened after that is left to a person, in the web console (`retrain serve --home HOME`)."""
        closed = any(r.state == "completed" for r in self.retrain.ledger.rollouts())
        for campaign in self.retrain.ledger.campaigns():
            if campaign.state != "awaiting_review" or str(campaign.id) in self.left_for_people:
                continue
            if closed:
                self.left_for_people.add(str(campaign.id))
                self.say(f"  campaign {campaign.number} awaits a human reviewer ({len(campaign.pending_review)} "
                         f"critical item(s)): retrain serve, then /ui/campaigns/{campaign.number}/review")
                continue
            items = [i for i in self.retrain.review.items(str(campaign.id)) if i["decision"] is None]
            approved = relabelled = rejected = 0
            for item in items:
                truth = self.truth.get(item["prediction_id"])
                if truth is None:
                    approve, label = False, None
                elif item["label"] == truth:
                    approve, label = True, None
                else:
                    approve, label = True, truth
                self.retrain.review.decide(str(campaign.id), item["item"], approve=approve, label=label,
                                           actor=REVIEWER)
                approved += approve and label is None
                relabelled += label is not None
                rejected += not approve
            self.say(f"  the reviewer decided {len(items)} critical item(s): {approved} approved, "
                     f"{relabelled} approved with the right label, {rejected} rejected.")
            self.retrain.tick()

    # -- telling what happened ---------------------------------------------------------------------------
    def tell(self) -> None:
        events = self.retrain.audit.history()
        for event in events[self.seen_events:]:
            line = describe_event(event)
            if line:
                self.say(f"Day {self.day():4.1f}  {line}")
        self.seen_events = len(events)

    # -- the before/after table --------------------------------------------------------------------------
    def outcome(self) -> DemoOutcome:
        ledger = self.retrain.ledger
        production = ledger.production()
        promoted = [ledger.version(r.candidate_id) for r in ledger.rollouts() if r.state == "completed"]
        trained = promoted or [v for v in ledger.versions() if v.parent_id]
        outcome = DemoOutcome(production.label if production else "-", trained[0].label if trained else None)
        clean, drifted, truths = self.test_images()
        for version in [ledger.version("v1"), *trained[:1]]:
            ref = model_ref(version)
            outcome.accuracy[version.label] = {
                "clean": _accuracy(self.retrain.predictor.predict(ref, clean), truths),
                "drifted": _accuracy(self.retrain.predictor.predict(ref, drifted), truths),
            }
            outcome.satisfaction[version.label] = {
                image_type: sum(rows) / len(rows)
                for (label, image_type), rows in self.rated_after_drift.items() if label == version.label and rows
            }
        return outcome

    def test_images(self) -> tuple[list[bytes], list[bytes], list[str]]:
        """The original test split, clean and through the drifted phone camera."""
        manifest = json.loads(self.retrain.blobs.get(self.retrain.ledger.version("v1").dataset_id or ""))
        noise = torch.Generator().manual_seed(10_000 + self.seed)
        clean, drifted, truths = [], [], []
        for index in manifest["splits"]["test"]:
            picture = Image.fromarray(self.images[index], mode="L")
            clean.append(png_bytes(picture))
            drifted.append(png_bytes(phone_camera_drift(picture, noise)))
            truths.append(self.labels[index])
        return clean, drifted, truths


def _accuracy(predictions: list[Any], truths: list[str]) -> float:
    return sum(p.label == t for p, t in zip(predictions, truths, strict=True)) / len(truths)
