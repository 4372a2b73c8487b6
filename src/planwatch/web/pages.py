"""The dashboard: seven views with stable URLs, Chinese first (``?lang=en`` for English, kept in a
cookie), rendered from the service layer with Jinja2 (autoescaped). The pages' scripts, ECharts and
MapLibre are served from ``/static``; nothing comes from outside this server.

- ``/`` the overview board; ``/indicators/{id}`` one target; ``/map`` the one map;
  ``/review`` project review; ``/ledger`` the quota ledger; ``/findings`` (and ``/findings/{id}``)
  the findings register; ``/entry`` data entry for district editors.
- ``/login`` and ``/logout``: a browser session is an API token in an HttpOnly cookie; every write
  the pages make goes through ``/api`` with the CSRF token (see :mod:`planwatch.web.session`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from planwatch.web import session
from planwatch.web.cache import Recent, data_state, layers_state
from planwatch.web.i18n import LEVEL_COLOURS, lang_of, translator

HERE = Path(__file__).parent
VIEWS = ("board", "indicators", "map", "review", "ledger", "findings", "entry")
LEVELS = ("green", "yellow", "red")
RANK = {"green": 0, "yellow": 1, "red": 2}


def _environment():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.filters["tojson_attr"] = lambda v: json.dumps(v, ensure_ascii=False, default=str)
    return env


def _num(value, digits: int = 2) -> str:
    """A figure as a planner reads it: thousands separated, trailing zeros dropped."""
    if value is None or value == "":
        return "—"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if x != x:  # NaN
        return "—"
    text = f"{x:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def router(open_store: Callable, plan, *, throttle, checkups: Recent, tiles: str = "", public: bool = True) -> APIRouter:
    """The dashboard's pages over the store ``open_store()`` opens, for ``plan``."""
    from planwatch.services import ServiceError, evaluation, findings, ledger, observations, users

    r = APIRouter(include_in_schema=False)
    env = _environment()
    spatial_cache = Recent(4)
    districts = list(plan.meta.districts)
    city = ("", plan.meta.whole_area)  # how a city-wide record names its geo

    def citywide(x: dict) -> bool:
        return (x.get("geo") or "") in city
    names = {lt.id: lt.name for lt in (plan.spatial.layer_types if plan.spatial else [])}

    def account(request: Request):
        token = request.cookies.get(session.SESSION_COOKIE, "")
        return users.user_for_token(open_store, token) if token else None

    def render(request: Request, view: str, template: str, **context) -> HTMLResponse:
        lang = lang_of(request.query_params.get("lang") or request.cookies.get(session.LANG_COOKIE))
        t = translator(lang)
        user = account(request)
        page = env.get_template(template).render(
            t=t, lang=lang, view=view, views=VIEWS, user=user, role_zh=users.ROLE_ZH, plan=plan,
            csrf=request.state.csrf, path=request.url.path, query=str(request.url.query),
            colours=LEVEL_COLOURS, public=public, **context)
        response = HTMLResponse(page)
        if request.query_params.get("lang") in ("zh", "en"):
            response.set_cookie(session.LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", httponly=True)
        return response

    def years() -> list[int]:
        obs = open_store().observations()
        start, end = plan.meta.period
        seen = sorted({int(y) for y in obs["year"]} & set(range(start, end + 1))) if len(obs) else []
        return seen or [start]

    def checkup(year: int) -> list[dict]:
        store = open_store()

        def compute():
            try:
                return evaluation.checkup(store, plan, year).to_records()
            except ServiceError:
                return []
        return checkups.get((year, data_state(store)), compute)

    def pick_year(year: int | None) -> tuple[int, list[int]]:
        ys = years()
        if year is None or not (plan.meta.period[0] - 1 <= year <= plan.meta.period[1]):
            year = ys[-1]
        return year, ys

    # ------------------------------------------------------------------ 1. the overview board
    @r.get("/", response_class=HTMLResponse)
    def board(request: Request, year: int | None = Query(None)):
        year, ys = pick_year(year)
        now, before = checkup(year), checkup(year - 1)
        categories = list(plan.meta.categories)
        by_cat = {c: dict.fromkeys(LEVELS, 0) for c in categories}
        by_district = {d: dict.fromkeys(LEVELS, 0) for d in districts}
        counts = dict.fromkeys(LEVELS, 0)
        for x in now:
            level = x.get("level")
            if level not in LEVELS:
                continue
            geo = x.get("geo") or ""
            if geo in by_district:
                by_district[geo][level] += 1
            else:
                counts[level] += 1
                by_cat.setdefault(x.get("category") or _category(plan, x["id"]), dict.fromkeys(LEVELS, 0))[level] += 1
        last = {(x["id"], x.get("geo") or ""): x.get("level") for x in before if x.get("level") in LEVELS}
        changes = []
        for x in now:
            level = x.get("level")
            if level not in LEVELS:
                continue
            was = last.get((x["id"], x.get("geo") or ""))
            how = "new" if was is None else ("unchanged" if was == level else
                                              "improved" if RANK[level] < RANK[was] else "worsened")
            changes.append({**x, "was": was, "how": how})
        changes.sort(key=lambda x: ({"worsened": 0, "new": 2, "improved": 1, "unchanged": 3}[x["how"]], x["id"]))
        chart = {"categories": categories, "series": {lv: [by_cat[c][lv] for c in categories] for lv in LEVELS},
                 "colours": {lv: LEVEL_COLOURS[lv] for lv in LEVELS}}
        return render(request, "board", "board.html", year=year, years=ys, counts=counts, by_cat=by_cat,
                      by_district=by_district, has_district=any(sum(v.values()) for v in by_district.values()),
                      changes=changes, chart=chart, graded=sum(counts.values()))

    # ------------------------------------------------------------------ 2. one indicator
    @r.get("/indicators", response_class=HTMLResponse)
    def indicator_list(request: Request, year: int | None = Query(None)):
        year, ys = pick_year(year)
        levels = {x["id"]: x.get("level") for x in checkup(year) if citywide(x)}
        rows = [{"id": tg.id, "name": tg.name, "unit": tg.unit, "category": tg.category,
                 "level": levels.get(tg.id)} for tg in plan.targets]
        return render(request, "indicators", "indicators.html", year=year, years=ys, rows=rows)

    @r.get("/indicators/{target_id}", response_class=HTMLResponse)
    def indicator(request: Request, target_id: str, year: int | None = Query(None)):
        target = next((tg for tg in plan.targets if tg.id == target_id), None)
        if target is None:
            raise HTTPException(404, f"no target {target_id!r} in plan {plan.meta.id}")
        year, ys = pick_year(year)
        record = next((x for x in checkup(year) if x["id"] == target_id and citywide(x)), None)
        obs = open_store().observations()
        obs = obs[obs["indicator"] == target_id].sort_values(["geo", "year", "scope"])
        observations = obs.to_dict("records")
        open_ones = findings.list_findings(open_store, plan, state="open").to_records()
        open_ones = [f for f in open_ones if f.get("source") == target_id]
        graded = [o for o in observations if citywide(o) and not o.get("scope") and not o.get("synthetic")]
        path = ([[target.baseline.year, target.baseline.value]] if target.baseline and target.baseline.value is not None
                else []) + [[g.year, g.value] for g in target.targets if g.value is not None and g.year <= plan.meta.period[1]]
        forecast = []
        if record and record.get("forecast") and record["forecast"].get(str(plan.meta.period[1])):
            f = record["forecast"][str(plan.meta.period[1])]
            last = graded[-1] if graded else None
            if last is not None and f.get("linear") is not None:
                forecast = [[int(last["year"]), float(last["value"])], [plan.meta.period[1], float(f["linear"])]]
        chart = {"name": target.name, "unit": target.unit,
                 "observed": [[int(o["year"]), float(o["value"])] for o in graded],
                 "path": path, "forecast": forecast,
                 "forecast_points": (record or {}).get("forecast", {}).get("n_points") if record else None}
        methods = _methods(record)
        return render(request, "indicators", "indicator.html", target=target, year=year, years=ys, record=record,
                      observations=observations, related=(record or {}).get("related") or [], chart=chart,
                      methods=methods, open_findings=open_ones)

    # ------------------------------------------------------------------ 3. the one map
    def layer_rows() -> list[dict]:
        rows = open_store().layers()
        return [{"id": x["layer_type"], "name": names.get(x["layer_type"], x["layer_type"]),
                 "synthetic": bool(x["synthetic"]), "version": int(x["version"])}
                for x in rows.to_dict("records")]

    @r.get("/map", response_class=HTMLResponse)
    def one_map(request: Request, year: int | None = Query(None)):
        year, ys = pick_year(year)
        return render(request, "map", "map.html", layers=layer_rows(), tiles=tiles, year=year,
                      choropleth=choropleth_options(year))

    def district_figures() -> dict:
        """Spatial indicators by district from the one map's current layers (computed once per
        layer versions): indicator → {name, unit, synthetic, values {district: value}}."""
        from planwatch.services import indicators

        store = open_store()

        def compute():
            try:
                run = indicators.compute(store, plan, plan.meta.period[0]).to_records()
            except ServiceError:
                return {}
            out: dict = {}
            for x in run["results"]:
                if x.get("level") != "区" or x.get("value") is None:
                    continue
                item = out.setdefault(x["indicator"], {"name": x["name"], "unit": x["unit"], "synthetic": False,
                                                       "origin": "computed", "values": {}})
                item["values"][x["geo"]] = x["value"]
                item["synthetic"] = item["synthetic"] or bool(x.get("synthetic"))
            return out
        return spatial_cache.get(layers_state(store), compute)

    def stored_figures(year: int) -> dict:
        obs = open_store().observations()
        obs = obs[obs["geo"].isin(districts) & (obs["year"] == year) & (obs["scope"] == "")]
        out: dict = {}
        by_id = {tg.id: tg for tg in plan.targets}
        for o in obs.to_dict("records"):
            tg = by_id.get(o["indicator"])
            item = out.setdefault(o["indicator"], {"name": tg.name if tg else o["indicator"], "unit": o["unit"],
                                                   "synthetic": False, "origin": "observed", "values": {}})
            item["values"][o["geo"]] = o["value"]
            item["synthetic"] = item["synthetic"] or bool(o["synthetic"])
        return out

    def choropleth_options(year: int) -> list[dict]:
        opts = [{"key": f"obs:{k}", "id": k, **{x: v[x] for x in ("name", "unit", "synthetic", "origin")}}
                for k, v in sorted(stored_figures(year).items())]
        opts += [{"key": f"map:{k}", "id": k, **{x: v[x] for x in ("name", "unit", "synthetic", "origin")}}
                 for k, v in sorted(district_figures().items())]
        return opts

    @r.get("/map/districts.json")
    def district_values(key: str = Query(..., max_length=60), year: int | None = Query(None)):
        year, _ = pick_year(year)
        kind, _, indicator = key.partition(":")
        figures = stored_figures(year) if kind == "obs" else district_figures() if kind == "map" else {}
        if indicator not in figures:
            raise HTTPException(404, f"no district figures of {key!r}")
        return figures[indicator]

    # ------------------------------------------------------------------ 4. project review
    @r.get("/review", response_class=HTMLResponse)
    def review(request: Request):
        user = account(request)
        pools = [p["pool"] for p in ledger.accounts(open_store, plan).to_records()["pools"]]
        if user is not None and user.role == "district_editor":
            pools = [p for p in pools if p.endswith(":" + user.district)]
        may_reserve = user is not None and user.role in ("admin", "district_editor")
        return render(request, "review", "review.html", layers=layer_rows(), tiles=tiles, pools=pools,
                      may_reserve=may_reserve)

    # ------------------------------------------------------------------ 5. the ledger
    @r.get("/ledger", response_class=HTMLResponse)
    def ledger_view(request: Request, pool: str | None = Query(None, max_length=80)):
        accounts = ledger.accounts(open_store, plan).to_records()
        try:
            history = ledger.history(open_store, plan, pool=pool or None).to_records()
        except ServiceError as e:
            raise HTTPException(400, str(e)) from None
        pools = accounts["pools"]
        chart = {"pools": [p["pool"].replace("floor_area:", "建筑规模·").replace("land:", "用地·") for p in pools],
                 "available": [p["available"] for p in pools], "reserved": [p["reserved"] for p in pools],
                 "committed": [p["committed"] for p in pools]}
        illustrative = any(h.get("illustrative") for h in history)
        return render(request, "ledger", "ledger.html", accounts=accounts, history=history[-300:][::-1],
                      total=len(history), pool=pool or "", chart=chart, illustrative=illustrative)

    # ------------------------------------------------------------------ 6. the findings register
    @r.get("/findings", response_class=HTMLResponse)
    def findings_view(request: Request, state: str | None = Query(None, max_length=20),
                      district: str | None = Query(None, max_length=20), overdue: bool = False):
        try:
            rows = findings.list_findings(open_store, plan, state=state or None, district=district or None,
                                          overdue=overdue).to_records()
        except ServiceError as e:
            raise HTTPException(400, str(e)) from None
        return render(request, "findings", "findings.html", rows=rows, state=state or "", district=district or "",
                      overdue=overdue, states=findings.states(), districts=districts)

    @r.get("/findings/{finding_id}", response_class=HTMLResponse)
    def finding_view(request: Request, finding_id: int):
        try:
            detail = findings.show_finding(open_store, finding_id).to_records()
        except ServiceError as e:
            raise HTTPException(404, str(e)) from None
        user = account(request)
        responsible = detail["finding"].get("responsible") or ""
        actions = []
        for a in detail.get("next_actions") or []:
            name = a if isinstance(a, str) else a.get("action", "")
            allowed = user is not None and (user.role == "admin" or (
                name in ("update", "submit") and user.may("answer_finding", district=responsible, unit=responsible)))
            actions.append({"action": name, "allowed": allowed,
                            "label": ACTION_NAMES.get(name, (name, name))[0 if lang_of(
                                request.query_params.get("lang") or request.cookies.get(session.LANG_COOKIE)) == "zh" else 1]})
        state_names = {k: v.get("zh", k) for k, v in findings.states().items()}
        return render(request, "findings", "finding.html", detail=detail, f=detail["finding"], actions=actions,
                      state_names=state_names, action_names=ACTION_NAMES)

    # ------------------------------------------------------------------ 7. data entry
    @r.get("/entry", response_class=HTMLResponse)
    def entry(request: Request):
        user = account(request)
        may = user is not None and user.role in ("admin", "district_editor")
        return render(request, "entry", "entry.html", may=may)

    @r.get("/entry/template.xlsx")
    def template(request: Request):
        user = account(request)
        district = user.district if user is not None and user.role == "district_editor" else ""
        content = observations.template_xlsx(plan, district)
        from urllib.parse import quote

        name = f"观测数据填报模板-{district or plan.meta.whole_area}.xlsx"
        return Response(content, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": "attachment; filename=\"planwatch-template.xlsx\"; "
                                                        f"filename*=UTF-8''{quote(name)}"})

    # ------------------------------------------------------------------ sessions
    @r.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = Query("/", max_length=300)):  # noqa: A002
        return render(request, "", "login.html", next=_local(next), error="")

    @r.post("/login", response_class=HTMLResponse)
    def login(request: Request, name: str = Form(..., max_length=80), password: str = Form(..., max_length=200),
              csrf: str = Form("", max_length=100), next: str = Form("/", max_length=300)):  # noqa: A002
        import time

        session.require_form_csrf(request, csrf)
        address = request.client.host if request.client else ""
        key, now = (name, address), time.monotonic()
        wait = throttle.blocked(key, now)
        if wait > 0:
            response = render(request, "", "login.html", next=_local(next),
                              error=f"登录失败次数过多，请 {int(wait // 60) + 1} 分钟后再试 / too many failed logins")
            response.status_code = 429
            return response
        who = users.check_password(open_store, name, password)
        if who is None:
            throttle.failed(key, now)
            response = render(request, "", "login.html", next=_local(next), error="用户名或密码错误 / wrong name or password")
            response.status_code = 401
            return response
        throttle.succeeded(key)
        token, _ = users.issue_token(open_store, who.name, days=1, label="browser", by=who.name, address=address)
        response = RedirectResponse(_local(next), status_code=303)
        response.set_cookie(session.SESSION_COOKIE, token, max_age=86400, httponly=True, samesite="strict", path="/")
        return response

    @r.post("/logout")
    def logout(request: Request, csrf: str = Form("", max_length=100)):
        session.require_form_csrf(request, csrf)
        who = account(request)
        if who is not None:  # the session's token ends now, not at its expiry
            users.revoke_token(open_store, request.cookies.get(session.SESSION_COOKIE, ""), by=who.name,
                               address=request.client.host if request.client else "")
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(session.SESSION_COOKIE, path="/")
        return response

    return r


def _local(target: str) -> str:
    """Where to go after logging in: a path of this server only (never another site)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _category(plan, target_id: str) -> str:
    tg = next((t for t in plan.targets if t.id == target_id), None)
    return tg.category if tg else ""


ACTION_NAMES = {"identify": ("发现", "identify"), "seen_again": ("再次发现", "seen again"),
                "not_observed": ("未再发现", "not observed"), "observed_again": ("重新发现", "observed again"),
                "assign": ("交办", "assign"), "update": ("报告进展", "report progress"),
                "submit": ("提交销号申请（附佐证）", "submit for verification (with evidence)"),
                "verify": ("核验销号", "verify"), "reopen": ("重新打开", "reopen"), "withdraw": ("撤销", "withdraw"),
                "accept_risk": ("接受风险", "accept the risk"), "deadline": ("调整整改时限", "change the deadline")}
METHOD_NAMES = {"time_progress": ("时间进度法", "time progress"), "open_sdg": ("Open SDG 进展评估", "Open SDG progress"),
                "bounds": ("底线约束", "bounds"), "band": ("±5% 区间", "±5% band")}


def _methods(record: dict | None) -> list[dict]:
    """Every method's result for the indicator page: name and its figures as published by the check-up."""
    if not record or not isinstance(record.get("methods"), dict):
        return []
    out = []
    for key, value in record["methods"].items():
        if not isinstance(value, dict):
            continue
        shown = {k: (("是" if v else "否") if isinstance(v, bool) else v) for k, v in value.items()
                 if v is not None and k != "level"}
        out.append({"key": key, "name": METHOD_NAMES.get(key, (key, key)), "level": value.get("level"),
                    "figures": shown})
    return out


__all__ = ["VIEWS", "router"]
