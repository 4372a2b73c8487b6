"""The findings register's state machine, as data: which action moves a finding from which states to
which, what each action needs, and the checks it must pass (问题清单 → 交办 → 整改 → 销号).

:data:`TRANSITIONS` is the whole machine: one row per action. :func:`plan_move` reads it and nothing
else decides, so the table is what a reader (or a test) checks. A refused move raises
:class:`TransitionRefused`, whose message says why in the user's terms. Pure: no I/O, no clock (the
caller passes today's date).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

# ------------------------------------------------------------------ states

STATES: dict[str, str] = {
    "identified": "已发现",
    "assigned": "已交办",
    "in_rectification": "整改中",
    "submitted": "已提交销号申请",
    "verified": "已销号",
    "reopened": "已重新打开",
    "risk_accepted": "风险接受",
    "withdrawn": "已撤销",
}
# Closed: no work is due on it (a closed finding is never overdue). verified and risk_accepted can be
# reopened; withdrawn is final.
CLOSED = frozenset({"verified", "risk_accepted", "withdrawn"})
OPEN = frozenset(STATES) - CLOSED
# Where a deadline runs: the states in which the responsible unit owes a rectification.
DUE_STATES = frozenset({"assigned", "in_rectification", "reopened"})


class TransitionRefused(ValueError):
    """A move the machine refuses; ``str(e)`` says why, and nothing was written."""


# ------------------------------------------------------------------ inputs and checks


@dataclass(frozen=True)
class MoveInput:
    """What the person asking for a move gives: who (``actor``), and the action's own fields.

    ``today`` is the date the move is checked against (a due date must not lie before it)."""

    actor: str
    today: date
    unit: str = ""
    due: date | None = None
    text: str = ""  # the reason (why), progress note, summary or assignment note, as the action names it
    evidence: tuple[str, ...] = ()  # the sha256 of each evidence file given
    backdate: bool = False  # a due date before today, allowed with a reason (--backdate)
    new_unit: bool = False  # a unit not in the mapping table, allowed (--new-unit)
    known_units: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FindingState:
    """The part of a stored finding the machine reads."""

    finding_id: int
    state: str
    unit: str = ""
    due: date | None = None
    submitted_by: str = ""  # who made the last submission (销号申请), "" if none


# Each check: (the predicate that must hold, the refusal when it does not). Predicates read the
# finding and the input only.
Check = tuple[Callable[[FindingState, MoveInput], bool], Callable[[FindingState, MoveInput], str]]

CHECKS: dict[str, Check] = {
    "actor": (
        lambda f, m: bool(m.actor.strip()),
        lambda f, m: "the person acting is not named: give --by NAME (or set $PLANWATCH_USER)",
    ),
    "unit": (
        lambda f, m: bool(m.unit.strip()),
        lambda f, m: "交办 needs the responsible unit: give --to UNIT",
    ),
    "known_unit": (
        lambda f, m: m.new_unit or m.unit.strip() in m.known_units,
        lambda f, m: (f"unit {m.unit.strip()!r} is not in the plan's table of responsible units nor used before in this "
                      "store; check the spelling (`planwatch findings units` lists them), or give --new-unit to add it"),
    ),
    "due": (
        lambda f, m: m.due is not None,
        lambda f, m: "交办 needs a deadline: give --due YYYY-MM-DD",
    ),
    "due_not_past": (
        lambda f, m: m.due is None or m.due >= m.today or (m.backdate and bool(m.text.strip())),
        lambda f, m: (f"the due date {m.due} lies before today ({m.today}); a deadline is set in the future, unless "
                      "recording one agreed earlier: then give --backdate with the reason in --note/--why"),
    ),
    "due_changes": (
        lambda f, m: m.due is not None and m.due != f.due,
        lambda f, m: f"finding #{f.finding_id} is already due {f.due}: give a different --due",
    ),
    "has_unit": (
        lambda f, m: bool(f.unit),
        lambda f, m: f"finding #{f.finding_id} has no responsible unit yet: assign it first (findings assign)",
    ),
    "text": (
        lambda f, m: bool(m.text.strip()),
        lambda f, m: "this action needs its text: the reason (--why), the progress (--progress) or the summary (--summary)",
    ),
    "evidence": (
        lambda f, m: bool(m.evidence),
        lambda f, m: "整改完成 needs evidence: give at least one file with --evidence FILE",
    ),
    "verifier_not_submitter": (
        lambda f, m: m.actor.strip() != f.submitted_by,
        lambda f, m: (f"{m.actor.strip()} submitted finding #{f.finding_id} for sign-off; 销号 is done by someone else "
                      "(--by another person)"),
    ),
}


# ------------------------------------------------------------------ the machine


@dataclass(frozen=True)
class Transition:
    """One action: the states it leaves from, the state it leads to (None: the finding stays where it
    is, e.g. a deadline change), and the checks (names in :data:`CHECKS`) it must pass."""

    action: str
    zh: str
    sources: frozenset[str]
    target: str | None
    checks: tuple[str, ...] = field(default_factory=tuple)
    text_means: str = "note"  # what the input's text is for this action: note, why, progress or summary


_WORKING = frozenset({"identified", "assigned", "in_rectification", "reopened"})

TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    Transition("assign", "交办", frozenset({"identified", "reopened"}), "assigned",
               ("actor", "unit", "known_unit", "due", "due_not_past")),
    Transition("update", "报告整改进展", frozenset({"assigned", "in_rectification", "reopened"}), "in_rectification",
               ("actor", "has_unit", "text"), "progress"),
    Transition("submit", "整改完成，申请销号", frozenset({"assigned", "in_rectification", "reopened"}), "submitted",
               ("actor", "has_unit", "evidence", "text"), "summary"),
    Transition("verify", "销号", frozenset({"submitted"}), "verified", ("actor", "verifier_not_submitter")),
    Transition("reopen", "重新打开", frozenset({"submitted", "verified", "risk_accepted"}), "reopened",
               ("actor", "text"), "why"),
    Transition("withdraw", "撤销", _WORKING, "withdrawn", ("actor", "text"), "why"),
    Transition("accept_risk", "接受风险", _WORKING, "risk_accepted", ("actor", "text"), "why"),
    Transition("deadline", "调整整改时限", DUE_STATES, None, ("actor", "has_unit", "due", "due_changes", "due_not_past", "text"),
               "why"),
)}


def actions_from(state: str) -> list[str]:
    """The actions the machine allows from ``state``, in table order."""
    return [a for a, t in TRANSITIONS.items() if state in t.sources]


@dataclass(frozen=True)
class Move:
    """A move the machine allows: what to record."""

    action: str
    from_state: str
    to_state: str


def plan_move(action: str, finding: FindingState, given: MoveInput) -> Move:
    """The move ``action`` makes on ``finding`` with ``given``, or :class:`TransitionRefused` saying
    why not: an unknown action, a state the action does not leave from (naming the actions that are
    possible), or the first check that fails."""
    t = TRANSITIONS.get(action)
    if t is None:
        raise TransitionRefused(f"unknown action {action!r}: the actions are {', '.join(TRANSITIONS)}")
    if finding.state not in t.sources:
        possible = actions_from(finding.state)
        then = (f"from {finding.state} the possible actions are {', '.join(possible)}" if possible
                else f"{finding.state} is final")
        raise TransitionRefused(f"finding #{finding.finding_id} is {finding.state} ({STATES[finding.state]}): "
                                f"{action} ({t.zh}) applies only to a finding that is "
                                f"{' or '.join(s for s in STATES if s in t.sources)}; {then}")
    for name in t.checks:
        holds, refusal = CHECKS[name]
        if not holds(finding, given):
            raise TransitionRefused(f"finding #{finding.finding_id}: {refusal(finding, given)}")
    return Move(action, finding.state, t.target or finding.state)


def is_overdue(state: str, due: date | None, check_date: date) -> bool:
    """Overdue, computed when asked and never stored: a deadline runs in ``state`` and passed before
    ``check_date``."""
    return state in DUE_STATES and due is not None and due < check_date


def days_overdue(state: str, due: date | None, check_date: date) -> int:
    """How many days past its deadline a finding is on ``check_date`` (0 when not overdue)."""
    return (check_date - due).days if is_overdue(state, due, check_date) else 0


def state_table() -> Mapping[str, list[str]]:
    """Every state and the actions possible from it: what ``findings states`` prints."""
    return {s: actions_from(s) for s in STATES}


__all__ = [
    "CHECKS", "CLOSED", "DUE_STATES", "OPEN", "STATES", "TRANSITIONS", "FindingState", "Move", "MoveInput", "Transition",
    "TransitionRefused", "actions_from", "days_overdue", "is_overdue", "plan_move", "state_table",
]
