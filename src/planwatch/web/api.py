"""The REST API under ``/api`` (read side): plans and targets, observations, evaluations by year, the
findings register and the quota ledger. Every route calls the service layer
(:mod:`planwatch.services`) and returns its ``to_records()``: the same JSON the CLI prints with
``--format json``. A service's refusal is a 400 (or 422 for a usage mistake) with its message."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from planwatch.services import Forbidden, ServiceError, frame_records
from planwatch.web.cache import Recent, data_state


class LoginBody(BaseModel):
    """An account's name and password (POST /api/login)."""

    name: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)


class Throttle:
    """Failed logins per (name, address): after :attr:`limit` failures within :attr:`window` seconds,
    further attempts are refused until the window has passed (in this server process)."""

    def __init__(self, limit: int = 5, window: float = 900.0):
        self.limit, self.window = limit, window
        self.failures: dict[tuple[str, str], list[float]] = {}

    def _recent(self, key, now: float) -> list[float]:
        kept = [t for t in self.failures.get(key, []) if now - t < self.window]
        self.failures[key] = kept
        return kept

    def blocked(self, key, now: float) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        recent = self._recent(key, now)
        return 0.0 if len(recent) < self.limit else self.window - (now - recent[0])

    def failed(self, key, now: float) -> None:
        self._recent(key, now).append(now)

    def succeeded(self, key) -> None:
        self.failures.pop(key, None)


class ResolveBody(BaseModel):
    """A reservation's commit (all, or ``amount`` of it) or cancel (POST /api/ledger/commit|cancel)."""

    project: str = Field(min_length=1, max_length=120)
    quota: str | None = Field(None, max_length=20, description="floor_area or land, when the project holds both")
    amount: str | None = Field(None, max_length=40, description="commit only this much (m²)")
    key: str | None = Field(None, max_length=200, description="idempotency key")
    memo: str = Field("", max_length=500)


class ReserveBody(BaseModel):
    """A reservation of quota for a project (POST /api/ledger/reserve)."""

    project: str = Field(min_length=1, max_length=120)
    pool: str = Field(min_length=1, max_length=80, description="QUOTA:DISTRICT, e.g. floor_area:顺义区")
    amount: str = Field(min_length=1, max_length=40, description="m², at most 2 decimals")
    expires: str | None = Field(None, max_length=10, description="YYYY-MM-DD")
    key: str | None = Field(None, max_length=200, description="idempotency key")
    memo: str = Field("", max_length=500)


class Problem(BaseModel):
    """A refusal: what is wrong and what to do, in one message."""

    detail: str


# The refusals every route may answer with (documented, so the OpenAPI document says what a client gets).
ERRORS = {code: {"model": Problem, "description": what} for code, what in (
    (400, "refused: the message says why; nothing was written"), (401, "no valid API token"),
    (403, "the account may not do this"), (404, "no such plan, finding or action"),
    (413, "the upload is too large"), (429, "too many failed logins"))}


INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL's SQLSTATE, raised by a row-level security policy


def _call(fn, *args, **kwargs):
    """``fn``'s answer; its refusal as 403 when the account may not (:class:`Forbidden`, or PostGIS's
    row-level security, the second wall, should the service's check ever miss), else 400."""
    try:
        return fn(*args, **kwargs)
    except Forbidden as e:
        raise HTTPException(403, str(e)) from None
    except ServiceError as e:
        raise HTTPException(400, str(e)) from None
    except Exception as e:
        if getattr(e, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise HTTPException(403, f"refused by the database's row-level security ({first}); nothing was written") \
                from None
        raise


def _address(request: Request) -> str:
    """Where a request came from, as the audit log records it."""
    return request.client.host if request.client else ""


def router(open_store: Callable, plan, throttle: Throttle | None = None, checkups: Recent | None = None) -> APIRouter:
    """The routes over the store ``open_store()`` opens, for ``plan``: reads, and the writes of an account
    (its API token; a write without one is 401 here). Its role and scope are checked by the service,
    which records the audit row in the same transaction as the write."""
    from planwatch.services import evaluation, findings, ledger, plans, users

    checkups = checkups if checkups is not None else Recent(8)  # (year, the store's data state) → records

    r = APIRouter(prefix="/api", tags=["planwatch"], responses=ERRORS)

    def account(request: Request):
        """The account of the request's API token (Authorization: Bearer …), or None."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return users.user_for_token(open_store, token.strip())

    def signed_in(user):
        """The account of a write; 401 without a valid token. Its role and scope are the service's to check."""
        if user is None:
            raise HTTPException(401, "this write needs an API token (Authorization: Bearer …; planwatch users token NAME)")
        return user

    @r.get("/plans", summary="The plan this server serves")
    def plans_() -> list[dict]:
        m = plan.meta
        return [{"id": m.id, "title": m.title, "title_en": m.title_en, "period": list(m.period),
                 "base_year": m.base_year, "districts": list(m.districts), "targets": len(plan.targets)}]

    @r.get("/plans/{plan_id}/targets", summary="Every target of the plan")
    def targets(plan_id: str) -> list[dict]:
        _same_plan(plan, plan_id)
        return plans.targets(plan).to_records()

    @r.get("/observations", summary="Observations (the newest revision of each series)")
    def observations(indicator: str | None = Query(None, max_length=40),
                     year: int | None = Query(None, ge=1949, le=2100),
                     geo: str | None = Query(None, max_length=40)) -> list[dict]:
        df = open_store().observations()
        if indicator is not None:
            df = df[df["indicator"] == indicator]
        if year is not None:
            df = df[df["year"] == year]
        if geo is not None:
            df = df[df["geo"] == geo]
        return frame_records(df)

    @r.get("/observations/{indicator}/history", summary="Every revision of an indicator's figures")
    def history(indicator: str, year: int | None = Query(None, ge=1949, le=2100)) -> list[dict]:
        return frame_records(open_store().history(indicator, year))

    def checkup_records(year: int) -> list[dict]:
        """The check-up of ``year``, computed once per state of the store's data (its imports and
        judgements), shared with the dashboard."""
        store = open_store()
        return checkups.get((year, data_state(store)),
                            lambda: _call(evaluation.checkup, store, plan, year).to_records())

    @r.get("/evaluations/{year}", summary="The check-up of a year: every target's verdict, methods, forecast")
    def evaluations(year: int, category: str | None = Query(None, max_length=20),
                    district: str | None = Query(None, max_length=20)) -> list[dict]:
        records = checkup_records(year)
        if category is not None:
            records = [x for x in records if x.get("category") == category]
        if district is not None:
            records = [x for x in records if (x.get("geo") or "") == district]
        return records

    @r.get("/findings", summary="The findings register (问题清单)")
    def findings_(state: str | None = Query(None, max_length=20), district: str | None = Query(None, max_length=20),
                  overdue: bool = False, year: int | None = Query(None, ge=1949, le=2100)):
        return _call(findings.list_findings, open_store, plan, state=state, district=district, overdue=overdue,
                     year=year).to_records()

    @r.get("/findings/{finding_id}", summary="One finding with its whole history")
    def finding(finding_id: int):
        return _call(findings.show_finding, open_store, finding_id).to_records()

    @r.get("/ledger/accounts", summary="The quota ledger: pools, caps and accounts")
    def accounts():
        return _call(ledger.accounts, open_store, plan).to_records()

    @r.get("/ledger/history", summary="The ledger's audit trail")
    def ledger_history(pool: str | None = Query(None, max_length=80), project: str | None = Query(None, max_length=120)):
        return _call(ledger.history, open_store, plan, pool=pool, project=project).to_records()

    throttle = throttle or Throttle()  # shared with the dashboard's login form when given

    @r.post("/login", summary="Exchange a name and password for an API token valid one day (throttled)")
    def login(body: LoginBody, request: Request):
        import time

        address = request.client.host if request.client else ""
        key, now = (body.name, address), time.monotonic()
        wait = throttle.blocked(key, now)
        if wait > 0:
            raise HTTPException(429, f"too many failed logins for {body.name} from {address}: try again in "
                                     f"{int(wait // 60) + 1} minute(s)")
        who = users.check_password(open_store, body.name, body.password)
        if who is None:
            throttle.failed(key, now)
            raise HTTPException(401, "wrong name or password")
        throttle.succeeded(key)
        token, expires = users.issue_token(open_store, who.name, days=1, label="login", by=who.name, address=address)
        return {"token": token, "expires": expires, "account": who.to_records()}

    @r.post("/ledger/reserve", summary="Reserve quota for a project (district editor of the pool's district, or admin)")
    def reserve(body: ReserveBody, request: Request, user=Depends(account)):  # noqa: B008  (FastAPI's idiom)
        return _call(ledger.reserve, open_store, plan, project=body.project, pool=body.pool, amount=body.amount,
                     expires=body.expires, key=body.key, memo=body.memo, user=signed_in(user),
                     address=_address(request)).to_records()

    @r.post("/findings/{finding_id}/{action}",
             summary="Move a finding: update/submit by its responsible unit (department or district editor), any by an admin")
    async def move_finding(finding_id: int, action: str, request: Request, user=Depends(account),  # noqa: B008
                           text: str = Form("", max_length=4000), unit: str = Form("", max_length=80),  # noqa: B008
                           due: str = Form("", max_length=10), if_version: int | None = Form(None),  # noqa: B008
                           evidence: list[UploadFile] = File(default=[])):  # noqa: B008
        from planwatch.services.evaluation import EVIDENCE_MAX_BYTES

        if action not in findings.ACTIONS:
            raise HTTPException(404, f"no action {action!r}: one of {', '.join(findings.ACTIONS)}")
        rows = open_store().findings()
        if not (rows["finding_id"] == finding_id).any():
            raise HTTPException(404, f"no finding #{finding_id}")
        who = signed_in(user)
        uploads = []
        for f in evidence:
            content = await f.read(EVIDENCE_MAX_BYTES + 1)
            uploads.append((f.filename or "", content))
        return _call(findings.move, open_store, plan, finding_id, action, unit=unit, due=due or None, text=text,
                     if_version=if_version, uploads=uploads, user=who, address=_address(request)).to_records()

    def _resolve(op: str, body: ResolveBody, request: Request, user):
        """Commit or cancel a project's reservation (the service checks the account: the district editor of
        its district, or an admin)."""
        who, address = signed_in(user), _address(request)
        if op == "commit":
            done = _call(ledger.commit, open_store, plan, project=body.project, amount=body.amount, quota=body.quota,
                         key=body.key, memo=body.memo, user=who, address=address)
        else:
            done = _call(ledger.cancel, open_store, plan, project=body.project, quota=body.quota, key=body.key,
                         memo=body.memo, user=who, address=address)
        return done.to_records()

    @r.post("/ledger/commit", summary="Commit a project's reservation, all or part (its district's editor, or admin)")
    def commit(body: ResolveBody, request: Request, user=Depends(account)):  # noqa: B008
        return _resolve("commit", body, request, user)

    @r.post("/ledger/cancel", summary="Cancel a project's reservation (its district's editor, or admin)")
    def cancel(body: ResolveBody, request: Request, user=Depends(account)):  # noqa: B008
        return _resolve("cancel", body, request, user)

    @r.post("/reviews", summary="Review GeoJSON polygons against the one map: each feature's conflicts and zones")
    def review(body: dict, engine: str = Query("geopandas", max_length=20)):
        import geopandas as gpd
        from shapely.errors import GEOSException

        from planwatch.services import review as reviews

        features = body.get("features") if isinstance(body, dict) and body.get("type") == "FeatureCollection" else None
        if not isinstance(features, list) or not features or len(features) > REVIEW_MAX_FEATURES:
            raise HTTPException(400, "send a GeoJSON FeatureCollection (WGS 84) of 1 to "
                                     f"{REVIEW_MAX_FEATURES} polygon features")
        try:
            frame = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
        except (ValueError, TypeError, KeyError, AttributeError, GEOSException) as e:
            raise HTTPException(400, f"not GeoJSON features: {' '.join(str(e).split())[:200]}") from None
        return _call(reviews.review_geojson, open_store, plan, frame, engine=engine).to_records()

    @r.get("/reports/{kind}/{year}/report.{fmt}", summary="The check-up (annual) or five-year report of a year",
           responses={200: {"content": {m: {} for m in REPORT_TYPES.values()}, "description": "the report file"}},
           response_class=Response)
    def report(kind: str, year: int, fmt: str):
        import tempfile
        from pathlib import Path

        from planwatch.services import reports

        if kind not in (reports.ANNUAL, reports.FIVE_YEAR) or fmt not in REPORT_TYPES:
            raise HTTPException(404, f"reports are /api/reports/annual|five-year/YEAR/report.{'|'.join(REPORT_TYPES)}")
        with tempfile.TemporaryDirectory(prefix="planwatch-report-") as folder:
            out = Path(folder) / "report"
            built = _call(reports.build_report, open_store, plan, year, out, kind=kind)
            content = Path(built.paths[fmt]).read_bytes()
        name = f"{plan.meta.id}-{kind}-{year}.{fmt}"
        return Response(content, media_type=REPORT_TYPES[fmt],
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def _upload(file: UploadFile):
        """The uploaded table in a temporary file of planwatch's own naming (the upload's name is only
        shown): its suffix must be .csv or .xlsx and it at most :data:`UPLOAD_MAX_BYTES`."""
        import tempfile
        from pathlib import PurePath

        shown = (file.filename or "").replace("\\", "/").split("/")[-1][:200]
        suffix = PurePath(shown).suffix.lower()
        if suffix not in (".csv", ".xlsx"):
            raise HTTPException(400, f"{shown or 'the file'}: a table of observations is a .csv or .xlsx file")
        content = await file.read(UPLOAD_MAX_BYTES + 1)
        if len(content) > UPLOAD_MAX_BYTES:
            raise HTTPException(413, f"{shown}: more than {UPLOAD_MAX_BYTES // 2**20} MB; split the file")
        tmp = tempfile.NamedTemporaryFile(prefix="planwatch-upload-", suffix=suffix, delete=False)
        with tmp:
            tmp.write(content)
        return shown, tmp.name

    def _writer(user):
        """The account of an observations upload, refused (401, 403) before the file is read."""
        from planwatch.services import observations

        who = signed_in(user)
        _call(observations.import_scope, who)
        return who

    @r.post("/observations/preview", summary="Check a file of observations (each row's errors); nothing is written")
    async def preview(request: Request, user=Depends(account), file: UploadFile = File(...)):  # noqa: B008
        import os

        from planwatch.services import observations

        who = _writer(user)
        shown, path = await _upload(file)
        try:
            return _call(observations.preview, plan, path, name=shown, user=who).to_records()
        finally:
            os.unlink(path)

    @r.post("/observations", summary="Import a file of observations, all or nothing (a district editor: its district only)")
    async def upload(request: Request, user=Depends(account), file: UploadFile = File(...)):  # noqa: B008
        import os

        from planwatch.services import observations

        who = _writer(user)
        shown, path = await _upload(file)
        try:
            return _call(observations.import_file, open_store, plan, path, name=shown, user=who,
                         address=_address(request)).to_records()
        finally:
            os.unlink(path)

    return r


REPORT_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf",
                "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
UPLOAD_MAX_BYTES = 20 * 2**20  # a table of observations uploaded through the API
REVIEW_MAX_FEATURES = 1000  # a review through the API (a batch review: planwatch review FILE --out)


def _same_plan(plan, plan_id: str) -> None:
    if plan_id != plan.meta.id:
        raise HTTPException(404, f"this server serves plan {plan.meta.id}, not {plan_id!r}")


__all__ = ["router"]
