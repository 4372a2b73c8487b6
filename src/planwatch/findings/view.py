"""The register as people read it: one row per finding with its Chinese labels, where it stands, who
committed to what, when it closed, its evidence, and whether it is overdue on the check date.

Overdue is computed here, from the due date and the check date, each time the register is read; it
is never stored. Pure: takes the store's frames (findings, events, evidence) and returns a DataFrame.
"""

from __future__ import annotations

import json
from datetime import date

import pandas as pd

from planwatch.findings.machine import CLOSED, STATES, days_overdue

SEVERITIES: dict[str, str] = {"high": "高", "medium": "中", "low": "低"}
SEVERITY_ORDER = {s: i for i, s in enumerate(SEVERITIES)}
KINDS: dict[str, str] = {"target": "指标预警", "rule": "空间规则", "review": "合规审查冲突", "no_data": "数据缺失"}
LEVELS_ZH = {"red": "红灯", "yellow": "黄灯", "green": "绿灯", "grey": "灰灯", "": ""}
# Events a person makes (the system's own are identify, seen_again, observed_again, not_observed).
SYSTEM_ACTIONS = frozenset({"identify", "seen_again", "observed_again", "not_observed"})
# The text of these actions is the responsible unit's commitment or report (对策建议 shows the latest).
COMMITMENT_ACTIONS = ("assign", "update", "submit", "deadline")

REGISTER_COLUMNS = [
    "finding_id", "code", "year", "kind", "kind_zh", "source", "geo", "article", "title", "level", "level_zh",
    "value", "value_unit", "reason", "recommendation", "severity", "severity_zh", "suggested_unit", "state",
    "state_zh", "responsible", "due", "overdue", "days_overdue", "observed", "last_seen_year", "synthetic",
    "illustrative", "commitment", "submitted_by", "closed_at", "closed_by", "closed_how", "evidence_files", "version",
    "created_at", "touched",
]  # fmt: skip


def finding_code(year: int, finding_id: int) -> str:
    """The number a finding is cited by in a 问题清单: 问题 + check-up year + its id, e.g. 2022-007."""
    return f"{int(year)}-{int(finding_id):03d}"


def parse_date(text: str) -> date | None:
    """A stored date (YYYY-MM-DD, or an ISO time) as a date; None when empty."""
    return date.fromisoformat(str(text)[:10]) if text else None


def register_view(findings: pd.DataFrame, events: pd.DataFrame, evidence: pd.DataFrame, check_date: date) -> pd.DataFrame:
    """One row per finding (columns :data:`REGISTER_COLUMNS`), in the order stored.

    ``overdue`` / ``days_overdue`` are as of ``check_date``; ``commitment`` is the text of the latest
    assignment, progress report, submission or deadline change; ``closed_at`` / ``closed_by`` /
    ``closed_how`` the date, actor and action that closed a closed finding; ``evidence_files`` the
    files given, "name（sha256 first 8 hex）" joined with 、; ``illustrative`` any event or file a demo
    wrote; ``touched`` whether a person has acted on it."""
    ev_by: dict[int, list[dict]] = {}
    for e in events.to_dict("records"):
        ev_by.setdefault(int(e["finding_id"]), []).append(e)
    files_by: dict[int, list[dict]] = {}
    for f in evidence.to_dict("records"):
        files_by.setdefault(int(f["finding_id"]), []).append(f)
    rows = []
    for f in findings.to_dict("records"):
        fid = int(f["finding_id"])
        evs = ev_by.get(fid, [])
        human = [e for e in evs if e["action"] not in SYSTEM_ACTIONS]
        said = [e for e in human if e["action"] in COMMITMENT_ACTIONS and str(e["text"]).strip()]
        submits = [e for e in human if e["action"] == "submit"]
        closing = next((e for e in reversed(evs) if e["to_state"] in CLOSED and e["from_state"] not in CLOSED), None)
        files = files_by.get(fid, [])
        due = parse_date(f["due"])
        rows.append({
            **{c: f[c] for c in ("finding_id", "year", "kind", "source", "geo", "article", "title", "level", "value",
                                 "value_unit", "reason", "recommendation", "severity", "suggested_unit", "state",
                                 "responsible", "due", "observed", "last_seen_year", "synthetic", "version",
                                 "created_at")},
            "code": finding_code(f["year"], fid),
            "kind_zh": KINDS.get(f["kind"], f["kind"]),
            "level_zh": LEVELS_ZH.get(f["level"], f["level"]),
            "severity_zh": SEVERITIES.get(f["severity"], f["severity"]),
            "state_zh": STATES.get(f["state"], f["state"]),
            "overdue": days_overdue(f["state"], due, check_date) > 0,
            "days_overdue": days_overdue(f["state"], due, check_date),
            "illustrative": any(bool(e["illustrative"]) for e in evs) or any(bool(x["illustrative"]) for x in files),
            "commitment": str(said[-1]["text"]) if said else "",
            "submitted_by": str(submits[-1]["actor"]) if submits else "",
            "closed_at": str(closing["at"])[:10] if closing is not None and f["state"] in CLOSED else "",
            "closed_by": str(closing["actor"]) if closing is not None and f["state"] in CLOSED else "",
            "closed_how": str(closing["action"]) if closing is not None and f["state"] in CLOSED else "",
            "evidence_files": "、".join(f"{x['file_name']}（sha256 {str(x['sha256'])[:8]}）" for x in files),
            "touched": bool(human),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=REGISTER_COLUMNS)


def open_findings(view: pd.DataFrame) -> pd.DataFrame:
    """The findings still open, overdue first, then by severity (high first), unit, and id: the order
    of a 问题清单."""
    live = view[~view["state"].isin(CLOSED)].copy()
    live["_sev"] = live["severity"].map(SEVERITY_ORDER).fillna(len(SEVERITY_ORDER))
    live["_unit"] = live["responsible"].where(live["responsible"] != "", live["suggested_unit"])
    live = live.sort_values(["overdue", "_sev", "_unit", "finding_id"], ascending=[False, True, True, True], kind="stable")
    return live.drop(columns=["_sev", "_unit"]).reset_index(drop=True)


def evidence_detail(text: str) -> dict:
    """A finding's frozen evidence (the JSON in its ``evidence`` column) as a dict."""
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


__all__ = ["KINDS", "REGISTER_COLUMNS", "SEVERITIES", "evidence_detail", "finding_code", "open_findings", "parse_date",
           "register_view"]
