"""The HTTP API (SPEC 5.2), a driving adapter: the same use cases, validation, atomicity and documents as the CLI.

Invalid input answers 422 with every error listed, an unknown id 404, a refused transition 409; a request without
the needed role 401/403, before anything is done."""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import eventsourcing.persistence
import psycopg
import sqlalchemy.exc
import structlog
from eventsourcing.persistence import IntegrityError
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.http.batching import PredictionBatcher
from adapters.http.loop import BackgroundLoop, LoopLock
from adapters.http.metrics import Metrics
from adapters.web_auth import READ_ROLES, Authenticator, Principal
from application.audit import HistoryFilter
from application.documents import campaign_summary
from application.ingestion_batch import MAX_LISTED_ERRORS, BatchRejected, IngestReport
from application.ports import BlobStoreUnavailable, StoreUnavailable
from application.record_validation import FEEDBACK, PREDICTION
from application.retrain import Retrain
from application.serving import PredictRequest
from bootstrap import Container, parse_time
from domain.errors import DomainError, InvalidInput, NotFound

log = structlog.get_logger()
Body = TypeVar("Body", bound=BaseModel)
ROLLOUT_ACTIONS = {"pause": "pause", "resume": "resume", "abort": "abort", "promote-now": "promote_now"}


class PredictBody(BaseModel):
    """One image to classify: base64 PNG or JPEG, the user's pseudonymous reference, the image type."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(description="base64 PNG or JPEG, at most 5 MB decoded")
    user_ref: str | None = Field(None, min_length=1, max_length=128)
    image_type: str = Field("unknown", min_length=1, max_length=64)


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approved", "rejected"]
    label: str | None = Field(None, min_length=1, max_length=256)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=2000)


def role(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that lets the request through only with one of these roles (401/403 otherwise)."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Principal:  # async: no thread hop for a dictionary lookup
        return request.app.state.auth.require(request, allowed)

    return dependency


def json_body(model: type[Body]) -> Callable[[Request], Awaitable[Body]]:
    """A dependency reading the body as `model`. Declared after the role, it runs after the token is checked: a
    request without the role gets 401/403 even when its body is malformed (FastAPI parses a declared body first)."""

    async def dependency(request: Request) -> Body:
        return model.model_validate(await _json_body(request))

    return dependency


def _body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


Ingest = Annotated[Principal, Depends(role("ingest"))]
Reader = Annotated[Principal, Depends(role(*READ_ROLES))]
Reviewer = Annotated[Principal, Depends(role("reviewer"))]
Operator = Annotated[Principal, Depends(role("operator"))]
Review = Annotated[ReviewBody, Depends(json_body(ReviewBody))]
Reason = Annotated[ReasonBody, Depends(json_body(ReasonBody))]
Rollback = Annotated[RollbackBody, Depends(json_body(RollbackBody))]
RFC3339 = {"format": "date-time"}  # documented, so generated clients (and fuzzers) send times; parse_time checks them
AsOf = Annotated[str | None, Query(description="RFC 3339: the state as it was known then", json_schema_extra=RFC3339)]


def _moment(as_of: str | None) -> datetime | None:
    return parse_time("as_of", as_of) if as_of else None


def create_app(container: Container, *, background: bool | Literal["lock"] = True) -> FastAPI:
    """The API over one object graph; with `background`, the server's loop runs while the app is up (with "lock",
    only in the process holding the home's loop lock, so N server processes run one loop)."""
    retrain: Retrain = container.retrain
    auth = Authenticator(container.settings.api.tokens)
    metrics = Metrics(ledger=retrain.ledger, router=retrain.router)
    loop = BackgroundLoop(retrain, interval=container.settings.serve.tick_seconds, monitored=metrics.monitored,
                          checked=metrics.rollout_checked)
    batcher = PredictionBatcher(retrain.serving, max_batch=container.settings.serve.max_batch)
    loop_lock = LoopLock(container.settings.home / "serve-loop.lock")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        retrain.serving.warm_up()  # torch imported, models loaded: healthy means ready to answer fast
        batcher.start()
        runs_loop = background is True or (background == "lock" and loop_lock.acquire())
        if runs_loop:
            loop.start()
        log.info("api_ready", tokens=len(auth.tokens), background=runs_loop)
        try:
            yield
        finally:
            await batcher.close()  # classifies and commits what is pending
            loop.stop()
            loop_lock.release()
            container.close()
            log.info("api_stopped")

    app = FastAPI(title="retrain", version="1", lifespan=lifespan,
                  max_body_size=container.settings.serve.max_body_mb * 1024 * 1024,
                  description="Keeps a production image classifier healthy from its users' feedback.")
    app.state.auth = auth
    _errors(app)

    # -- traffic ------------------------------------------------------------------------------------------
    @app.post("/v1/predict", tags=["traffic"], openapi_extra=_PREDICT_OPENAPI)
    async def predict(request: Request, _: Ingest) -> dict[str, Any]:
        """Route (rule 4.7), classify and log one image; answered once the prediction is committed."""
        served = await batcher.submit(await _predict_request(request))
        metrics.served([served])
        return served.as_json()

    # The bodies are read after the token is checked: a request without the role gets 401/403, even a malformed one.
    @app.post("/v1/predictions", tags=["traffic"], openapi_extra=_records_openapi(many_only=True))
    async def predictions(request: Request, _: Ingest) -> dict[str, Any]:
        """A batch of prediction records (SPEC section 2): all written, or none when one is invalid."""
        records = await _records(request, many_only=True)
        return await run_in_threadpool(_ingest, retrain, metrics, loop, records, kind="prediction")

    @app.post("/v1/feedback", tags=["traffic"], openapi_extra=_records_openapi(many_only=False))
    async def feedback(request: Request, _: Ingest) -> dict[str, Any]:
        """One feedback record or a batch: all written, or none when one is invalid."""
        records = await _records(request, many_only=False)
        return await run_in_threadpool(_ingest, retrain, metrics, loop, records, kind="feedback")

    # -- reads --------------------------------------------------------------------------------------------
    @app.get("/v1/models", tags=["models"])
    def models(_: Reader, as_of: AsOf = None) -> list[dict[str, Any]]:
        return retrain.ledger.read.versions(_moment(as_of))

    @app.get("/v1/models/{version}", tags=["models"])
    def model(version: str, _: Reader) -> dict[str, Any]:
        return retrain.ledger.read.find("version", version)

    @app.get("/v1/models/{version}/explain", tags=["models"])
    def explain(version: str, _: Reader, as_of: AsOf = None) -> dict[str, Any]:
        return retrain.audit.explain(version, _moment(as_of))

    @app.get("/v1/campaigns", tags=["campaigns"])
    def campaigns(_: Reader, as_of: AsOf = None) -> list[dict[str, Any]]:
        return retrain.ledger.read.campaigns(_moment(as_of))

    @app.get("/v1/campaigns/{campaign}", tags=["campaigns"])
    def campaign(campaign: str, _: Reader) -> dict[str, Any]:
        found = retrain.ledger.read.find("campaign", campaign)
        return {**found, "items": retrain.campaigns.curation_items(found["id"])}

    @app.get("/v1/campaigns/{campaign}/review", tags=["review"])
    def review_items(campaign: str, _: Reader) -> list[dict[str, Any]]:
        return retrain.review.items(campaign)

    @app.get("/v1/rollout", tags=["rollout"])
    def rollout(_: Reader, as_of: AsOf = None) -> dict[str, Any] | None:
        return retrain.rollouts.status(_moment(as_of))

    @app.get("/v1/history", tags=["audit"])
    def history(
        _: Reader, version: str | None = None, campaign: str | None = None,
        since: Annotated[str | None, Query(description="RFC 3339", json_schema_extra=RFC3339)] = None,
        as_of: AsOf = None,
    ) -> list[dict[str, Any]]:
        where = HistoryFilter(version, campaign, parse_time("since", since) if since else None, _moment(as_of))
        return retrain.audit.history(where)

    # -- decisions ----------------------------------------------------------------------------------------
    @app.post("/v1/campaigns/{campaign}/review/{item}", tags=["review"], openapi_extra=_body_openapi(ReviewBody))
    def decide(campaign: str, item: str, who: Reviewer, body: Review) -> dict[str, Any]:
        """A reviewer approves (optionally with another label) or rejects one critical item."""
        done = retrain.review.decide(campaign, item, approve=body.decision == "approved", label=body.label,
                                     actor=who.actor)
        return {"item": item, "decision": body.decision, "label": body.label, "campaign": campaign_summary(done)}

    @app.post("/v1/rollout/{action}", tags=["rollout"], openapi_extra=_body_openapi(ReasonBody))
    def operate(action: str, who: Operator, body: Reason) -> dict[str, Any] | None:
        """pause, resume, abort or promote-now, with the reason recorded."""
        if action not in ROLLOUT_ACTIONS:
            raise NotFound(f"no rollout action {action!r}: use pause, resume, abort or promote-now")
        getattr(retrain.rollouts, ROLLOUT_ACTIONS[action])(reason=body.reason, actor=who.actor)
        return retrain.rollouts.status()

    @app.post("/v1/rollback", tags=["rollout"], openapi_extra=_body_openapi(RollbackBody))
    def rollback(who: Operator, body: Rollback) -> dict[str, Any]:
        """Rule 4.8: make a former production version production again, at once."""
        restored = retrain.rollouts.rollback_to(body.to, reason=body.reason, actor=who.actor)
        return retrain.ledger.read.find("version", restored.label)

    @app.delete("/v1/users/{ref}", tags=["privacy"])
    def forget(ref: str, who: Operator) -> dict[str, Any]:
        """SPEC 7: erase a user's predictions, feedback, comments and images; the report names what training had
        already consumed. Repeating it changes nothing."""
        return retrain.forget.forget(ref, actor=who.actor)

    # -- operations ---------------------------------------------------------------------------------------
    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, Any]:
        """The server answers, reaches its stores and reads the event store; the version in production."""
        container.check_stores()  # a lost database is a 503 at once, before the event store's reconnect retries
        table = retrain.router.table()
        return {"status": "ok", "production": table.production.label if table.production else None,
                "events": table.position}

    @app.get("/metrics", tags=["operations"])
    def prometheus(_: Reader) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidInput("body: malformed JSON") from None
    except RecursionError:  # `[[[[...` a few thousand deep: the decoder runs out of stack, not of input
        raise InvalidInput("body: malformed JSON (nested too deeply)") from None


async def _records(request: Request, *, many_only: bool) -> list[dict[str, Any]]:
    """A JSON array of records (or, where allowed, one record), every element an object."""
    body = await _json_body(request)
    records = [body] if isinstance(body, dict) and not many_only else body
    if not isinstance(records, list):
        raise InvalidInput("body: a JSON array of records" + ("" if many_only else ", or one record") + " is expected")
    errors = [{"index": i, "field": "", "reason": "a record must be a JSON object"}
              for i, record in enumerate(records) if not isinstance(record, dict)]
    if errors:
        raise _Unprocessable(f"{len(errors)} invalid record(s), nothing was written", errors)
    return records


def _records_openapi(*, many_only: bool) -> dict[str, Any]:
    """The records' schema as ingestion validates them (SPEC section 2); the body is read by hand, after the token."""
    if many_only:
        schema = {"type": "array", "items": PREDICTION.json_schema()}
    else:
        record = FEEDBACK.json_schema()
        schema = {"oneOf": [record, {"type": "array", "items": record}]}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def _predict_request(request: Request) -> PredictRequest:
    """A JSON body `{"image": base64, "user_ref", "image_type"}`, or multipart with an `image` file and fields."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("image: a multipart request needs an `image` file")
        fields = {k: v for k, v in form.items() if k in ("user_ref", "image_type") and isinstance(v, str)}
        body = PredictBody.model_validate({"image": "", **fields})
        return PredictRequest(await upload.read(), body.user_ref, body.image_type)
    body = PredictBody.model_validate(await _json_body(request))
    try:
        image = base64.b64decode(body.image, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("image: image is not valid base64") from None
    return PredictRequest(image, body.user_ref, body.image_type)


def _ingest(retrain: Retrain, metrics: Metrics, loop: BackgroundLoop, records: list[dict[str, Any]],
            *, kind: str) -> dict[str, Any]:
    """Records through the same ingestion as `retrain ingest`; errors name the record's index, field and reason."""
    problems = [{"index": i, "field": "model_version", "reason": reason}
                for i, record in enumerate(records)
                if (reason := _kind_problem(record, kind)) is not None]
    if problems:
        raise _Unprocessable(f"{len(problems)} invalid record(s), nothing was written", problems)
    try:
        report = retrain.ingestion.ingest((json.dumps(record) for record in records), workers=0)
    except BatchRejected as rejected:
        metrics.rejected(rejected.report.rejected)
        raise _Unprocessable(str(rejected), _indexed(rejected.report)) from None
    metrics.ingested(report)
    loop.poke()
    return {"stored": report.predictions + report.feedback, "duplicates": report.duplicates,
            "predictions": report.predictions, "feedback": report.feedback}


def _kind_problem(record: dict[str, Any], kind: str) -> str | None:
    if kind == "prediction" and "model_version" not in record:
        return "a prediction record needs model_version (feedback goes to /v1/feedback)"
    if kind == "feedback" and "model_version" in record:
        return "a feedback record has no model_version (predictions go to /v1/predictions)"
    return None


def _indexed(report: IngestReport) -> list[dict[str, Any]]:
    return [{"index": e.line - 1, "field": e.field, "reason": e.reason} for e in report.errors[:MAX_LISTED_ERRORS]]


class _Unprocessable(Exception):
    def __init__(self, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.errors = errors


def _errors(app: FastAPI) -> None:
    """Every refusal becomes one JSON document with a one-sentence `detail`; never a traceback."""

    def answer(status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> JSONResponse:
        return JSONResponse({"detail": detail, "errors": errors or []}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 400:  # a body FastAPI or Starlette could not parse: not UTF-8, invalid multipart data
            return answer(422, f"body: {error.detail}", [_input_error(f"body: {error.detail}")])
        return await http_exception_handler(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [_validation_error(e) for e in error.errors()]
        return answer(422, f"{len(errors)} invalid field(s)", errors)

    @app.exception_handler(ValidationError)
    async def invalid_body(_: Request, error: ValidationError) -> JSONResponse:
        errors = [_validation_error(dict(e)) for e in error.errors()]
        return answer(422, f"{len(errors)} invalid field(s)", errors)

    @app.exception_handler(_Unprocessable)
    async def unprocessable(_: Request, error: _Unprocessable) -> JSONResponse:
        return answer(422, str(error), error.errors)

    @app.exception_handler(InvalidInput)
    async def invalid(_: Request, error: InvalidInput) -> JSONResponse:
        return answer(422, str(error), [_input_error(str(error))])

    @app.exception_handler(NotFound)
    async def not_found(_: Request, error: NotFound) -> JSONResponse:
        return answer(404, str(error))

    @app.exception_handler(DomainError)
    async def refused(_: Request, error: DomainError) -> JSONResponse:
        return answer(409, str(error))

    @app.exception_handler(IntegrityError)
    async def conflict(_: Request, error: IntegrityError) -> JSONResponse:
        return answer(409, "another process recorded a decision at the same moment; try again")

    @app.exception_handler(BlobStoreUnavailable)
    async def blobs_unavailable(_: Request, error: BlobStoreUnavailable) -> JSONResponse:
        log.warning("blob_store_unavailable", detail=str(error)[:200])
        return JSONResponse({"detail": str(error), "errors": []}, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(sqlite3.OperationalError)
    @app.exception_handler(sqlalchemy.exc.OperationalError)
    @app.exception_handler(eventsourcing.persistence.OperationalError)  # the event store lost its database
    @app.exception_handler(eventsourcing.persistence.InterfaceError)
    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(_: Request, error: Exception) -> JSONResponse:
        busy = "locked" in str(error) or "busy" in str(error)
        log.warning("store_unavailable", error=type(error).__name__, busy=busy)
        detail = ("the store is busy: another process is writing to it; try again" if busy
                  else "the store is unavailable; try again")
        return JSONResponse({"detail": detail, "errors": []}, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.error("request_failed", error=type(error).__name__, detail=str(error)[:200])
        return answer(500, f"unexpected error ({type(error).__name__})")


def _input_error(message: str) -> dict[str, Any]:
    """`[request N: ]field: reason` as the error's index, field and reason."""
    index = 0
    if message.startswith("request ") and ": " in message:
        head, _, rest = message.partition(": ")
        if head.removeprefix("request ").isdigit():
            index, message = int(head.removeprefix("request ")), rest
    field, _, reason = message.partition(": ")
    return {"index": index, "field": field if reason else "", "reason": reason or field}


def _validation_error(error: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's location (`body`, index, field...) as the record's index, the field and the reason."""
    location = [part for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    index = location.pop(0) if location and isinstance(location[0], int) else 0
    return {"index": index, "field": ".".join(str(p) for p in location), "reason": error.get("msg", "invalid")}


_PREDICT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": PredictBody.model_json_schema()},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["image"],
                "properties": {"image": {"type": "string", "format": "binary"}, "user_ref": {"type": "string"},
                               "image_type": {"type": "string"}},
            }},
        },
    },
}
