"""The REST API under ``/api`` (read side): plans and targets, observations, evaluations by year, the
findings register and the quota ledger. Every route calls the service layer
(:mod:`planwatch.services`) and returns its ``to_records()``: the same JSON the CLI prints with
``--format json``. A service's refusal is a 400 (or 422 for a usage mistake) with its message."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Query

from planwatch.services import ServiceError, frame_records


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ServiceError as e:
        raise HTTPException(422 if e.usage else 400, str(e)) from None


def router(open_store: Callable, plan) -> APIRouter:
    """The read routes over the store ``open_store()`` opens, for ``plan``."""
    from planwatch.services import evaluation, findings, ledger, plans

    r = APIRouter(prefix="/api", tags=["planwatch"])

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

    @r.get("/evaluations/{year}", summary="The check-up of a year: every target's verdict, methods, forecast")
    def evaluations(year: int, category: str | None = Query(None, max_length=20),
                    district: str | None = Query(None, max_length=20)) -> list[dict]:
        records = _call(evaluation.checkup, open_store, plan, year).to_records()
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

    return r


def _same_plan(plan, plan_id: str) -> None:
    if plan_id != plan.meta.id:
        raise HTTPException(404, f"this server serves plan {plan.meta.id}, not {plan_id!r}")


__all__ = ["router"]
