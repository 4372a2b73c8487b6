"""The findings register's state machine (问题清单 → 交办 → 整改 → 销号), pair by pair and check by check.

Every (state, action) pair of the table is its own test: a well-formed request either makes the move
the table says, or is refused with a message that names where the finding stands and what can be
done from there. Then each check a move must pass is tried with the one input that fails it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

import pytest

from planwatch.findings.machine import (
    CHECKS,
    CLOSED,
    DUE_STATES,
    OPEN,
    STATES,
    TRANSITIONS,
    FindingState,
    Move,
    MoveInput,
    TransitionRefused,
    actions_from,
    days_overdue,
    is_overdue,
    plan_move,
    state_table,
)

TODAY = date(2024, 3, 15)
OLD_DUE = TODAY + timedelta(days=10)  # the deadline the finding already has
NEW_DUE = TODAY + timedelta(days=30)  # a deadline in the future, different from the old one
UNITS = frozenset({"市生态环境局", "市水务局", "朝阳区"})

SUBMITTER = "王芳"  # the responsible unit's person who asked for sign-off (销号申请)
VERIFIER = "李明"  # the planning bureau's person who signs off


def finding(state: str, **changes) -> FindingState:
    """Finding #7, assigned to 市生态环境局 and due in ten days, last submitted by 王芳."""
    return replace(FindingState(7, state, unit="市生态环境局", due=OLD_DUE, submitted_by=SUBMITTER), **changes)


def request(**changes) -> MoveInput:
    """A well-formed request by 李明: a known unit, a future deadline, a text and one evidence file."""
    base = MoveInput(actor=VERIFIER, today=TODAY, unit="市水务局", due=NEW_DUE, text="PM2.5 治理方案已报市政府",
                     evidence=("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",),
                     known_units=UNITS)
    return replace(base, **changes)


def refusal(action: str, state: str, given: MoveInput, **finding_changes) -> str:
    with pytest.raises(TransitionRefused) as e:
        plan_move(action, finding(state, **finding_changes), given)
    return str(e.value)


# ------------------------------------------------------------------ the table itself


def test_the_table_only_names_states_and_checks_that_exist():
    for t in TRANSITIONS.values():
        assert t.sources <= set(STATES), t.action
        assert t.target is None or t.target in STATES, t.action
        assert set(t.checks) <= set(CHECKS), t.action
        assert t.checks[0] == "actor", f"{t.action}: the person acting is checked first"


def test_every_check_is_used_by_some_action():
    used = {c for t in TRANSITIONS.values() for c in t.checks}
    assert used == set(CHECKS)


def test_open_and_closed_split_the_states_and_deadlines_run_only_in_open_ones():
    assert OPEN | CLOSED == set(STATES) and not OPEN & CLOSED
    assert DUE_STATES <= OPEN


def test_only_a_withdrawn_finding_is_final():
    finals = [s for s in STATES if not actions_from(s)]
    assert finals == ["withdrawn"]


def test_the_state_table_lists_every_state_with_its_actions_in_table_order():
    table = state_table()
    assert list(table) == list(STATES)
    order = list(TRANSITIONS)
    for state, actions in table.items():
        assert actions == sorted(actions, key=order.index)
        assert set(actions) == {a for a, t in TRANSITIONS.items() if state in t.sources}


# ------------------------------------------------------------------ every (state, action) pair

PAIRS = [(s, a) for s in STATES for a in TRANSITIONS]


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{a}-from-{s}" for s, a in PAIRS])
def test_an_action_moves_a_finding_from_the_states_it_leaves_from_and_is_refused_elsewhere(state, action):
    t = TRANSITIONS[action]
    if state in t.sources:
        assert plan_move(action, finding(state), request()) == Move(action, state, t.target or state)
        return
    message = refusal(action, state, request())
    assert f"finding #7 is {state} ({STATES[state]})" in message
    assert f"{action} ({t.zh}) applies only to a finding that is" in message
    for source in t.sources:
        assert re.search(rf"\b{source}\b", message), f"the states {action} leaves from are named: {source}"
    possible = actions_from(state)
    if possible:
        assert f"from {state} the possible actions are {', '.join(possible)}" in message
    else:
        assert f"{state} is final" in message


def test_a_deadline_change_keeps_the_finding_where_it_is():
    for state in DUE_STATES:
        move = plan_move("deadline", finding(state), request(text="汛期施工受限，经市政府同意延期"))
        assert move.from_state == move.to_state == state


def test_a_withdrawn_finding_cannot_be_reopened_it_is_final():
    message = refusal("reopen", "withdrawn", request(text="又发现了"))
    assert message.endswith("withdrawn is final")


def test_a_verified_finding_can_only_be_reopened():
    message = refusal("update", "verified", request())
    assert message.endswith("from verified the possible actions are reopen")


def test_an_unknown_action_is_refused_and_the_actions_are_listed():
    message = refusal("close", "assigned", request())
    assert message == f"unknown action 'close': the actions are {', '.join(TRANSITIONS)}"


def test_the_whole_story_from_identified_to_signed_off():
    f = finding("identified", unit="", due=None, submitted_by="")
    steps = [
        ("assign", request(actor="张伟", unit="市生态环境局", due=NEW_DUE, text="请于30日内提出整改方案")),
        ("update", request(actor=SUBMITTER, text="已制定秋冬季大气污染治理方案")),
        ("submit", request(actor=SUBMITTER, text="PM2.5 年均浓度已降至 30 微克/立方米")),
        ("verify", request(actor=VERIFIER, text="")),
    ]
    states = []
    for action, given in steps:
        move = plan_move(action, f, given)
        states.append(move.to_state)
        f = replace(f, state=move.to_state,
                    unit=given.unit if action == "assign" else f.unit,
                    due=given.due if action == "assign" else f.due,
                    submitted_by=given.actor if action == "submit" else f.submitted_by)
    assert states == ["assigned", "in_rectification", "submitted", "verified"]


# ------------------------------------------------------------------ each check, with the input that fails it

# (check, action, state, the failing request's changes, the finding's changes, what the refusal says)
FAILING = [
    ("actor", "assign", "identified", {"actor": "  "}, {}, "the person acting is not named"),
    ("unit", "assign", "identified", {"unit": " "}, {}, "交办 needs the responsible unit: give --to UNIT"),
    ("known_unit", "assign", "identified", {"unit": "市环保局"}, {},
     "unit '市环保局' is not in the plan's table of responsible units"),
    ("due", "assign", "identified", {"due": None}, {}, "交办 needs a deadline: give --due YYYY-MM-DD"),
    ("due_not_past", "assign", "identified", {"due": TODAY - timedelta(days=1)}, {},
     f"the due date {TODAY - timedelta(days=1)} lies before today ({TODAY})"),
    ("due_changes", "deadline", "assigned", {"due": OLD_DUE}, {}, f"finding #7 is already due {OLD_DUE}"),
    ("has_unit", "update", "assigned", {}, {"unit": ""}, "finding #7 has no responsible unit yet: assign it first"),
    ("text", "update", "in_rectification", {"text": " \n "}, {}, "this action needs its text"),
    ("evidence", "submit", "in_rectification", {"evidence": ()}, {}, "整改完成 needs evidence"),
    ("verifier_not_submitter", "verify", "submitted", {"actor": SUBMITTER}, {},
     f"{SUBMITTER} submitted finding #7 for sign-off; 销号 is done by someone else"),
]


def test_every_check_has_a_failing_case():
    assert {case[0] for case in FAILING} == set(CHECKS)


@pytest.mark.parametrize(("check", "action", "state", "changes", "finding_changes", "says"), FAILING,
                         ids=[case[0] for case in FAILING])
def test_a_request_failing_a_check_is_refused_saying_why(check, action, state, changes, finding_changes, says):
    assert check in TRANSITIONS[action].checks
    plan_move(action, finding(state), request())  # without the one change, the same move is allowed
    message = refusal(action, state, request(**changes), **finding_changes)
    assert message.startswith("finding #7: ")
    assert says in message
    _, explain = CHECKS[check]
    assert message == f"finding #7: {explain(finding(state, **finding_changes), request(**changes))}"


@pytest.mark.parametrize("action", list(TRANSITIONS))
def test_every_action_needs_the_person_acting_to_be_named(action):
    state = sorted(TRANSITIONS[action].sources)[0]
    message = refusal(action, state, request(actor=""))
    assert "the person acting is not named: give --by NAME" in message


def test_submitting_without_evidence_is_refused():
    message = refusal("submit", "in_rectification", request(actor=SUBMITTER, evidence=()))
    assert "整改完成 needs evidence: give at least one file with --evidence FILE" in message


def test_submitting_without_a_summary_is_refused():
    message = refusal("submit", "in_rectification", request(actor=SUBMITTER, text=""))
    assert "this action needs its text" in message


def test_verifying_by_the_person_who_submitted_is_refused():
    message = refusal("verify", "submitted", request(actor=SUBMITTER))
    assert "王芳 submitted finding #7 for sign-off; 销号 is done by someone else (--by another person)" in message


def test_verifying_by_the_submitter_with_stray_spaces_is_still_refused():
    message = refusal("verify", "submitted", request(actor=f" {SUBMITTER}  "))
    assert "销号 is done by someone else" in message


def test_verifying_by_someone_else_signs_the_finding_off():
    assert plan_move("verify", finding("submitted"), request(actor=VERIFIER)) == Move("verify", "submitted", "verified")


def test_verifying_a_finding_nobody_submitted_by_name_is_allowed():
    move = plan_move("verify", finding("submitted", submitted_by=""), request(actor=VERIFIER))
    assert move.to_state == "verified"


def test_assigning_without_a_due_date_is_refused():
    message = refusal("assign", "identified", request(due=None))
    assert "交办 needs a deadline: give --due YYYY-MM-DD" in message


def test_assigning_with_a_due_date_in_the_past_is_refused():
    message = refusal("assign", "identified", request(due=date(2024, 1, 31), text=""))
    assert "the due date 2024-01-31 lies before today (2024-03-15)" in message
    assert "--backdate" in message


def test_assigning_with_a_due_date_of_today_is_allowed():
    assert plan_move("assign", finding("identified"), request(due=TODAY)).to_state == "assigned"


def test_backdating_a_deadline_agreed_earlier_with_a_reason_is_allowed():
    given = request(due=date(2024, 1, 31), backdate=True, text="2024年1月专题会已议定此期限，补录")
    assert plan_move("assign", finding("identified"), given) == Move("assign", "identified", "assigned")


def test_backdating_without_a_reason_is_refused():
    for blank in ("", "   "):
        message = refusal("assign", "identified", request(due=date(2024, 1, 31), backdate=True, text=blank))
        assert "lies before today" in message


def test_a_past_deadline_without_backdate_is_refused_even_with_a_reason():
    message = refusal("assign", "identified", request(due=date(2024, 1, 31), text="会上议定"))
    assert "lies before today" in message


def test_assigning_to_a_unit_not_in_the_table_is_refused():
    message = refusal("assign", "identified", request(unit="市环保局"))
    assert "unit '市环保局' is not in the plan's table of responsible units" in message
    assert "--new-unit" in message


def test_assigning_to_a_new_unit_when_asked_to_is_allowed():
    move = plan_move("assign", finding("identified"), request(unit="北京经济技术开发区管委会", new_unit=True))
    assert move == Move("assign", "identified", "assigned")


def test_assigning_to_a_known_unit_written_with_stray_spaces_is_allowed():
    assert plan_move("assign", finding("identified"), request(unit=" 朝阳区 ")).to_state == "assigned"


def test_assigning_without_a_unit_is_refused():
    message = refusal("assign", "identified", request(unit=""))
    assert "交办 needs the responsible unit: give --to UNIT" in message


def test_reassigning_a_reopened_finding_goes_back_to_assigned():
    assert plan_move("assign", finding("reopened"), request()) == Move("assign", "reopened", "assigned")


def test_changing_a_deadline_to_the_same_date_is_refused():
    message = refusal("deadline", "in_rectification", request(due=OLD_DUE, text="再议"))
    assert f"finding #7 is already due {OLD_DUE}: give a different --due" in message


def test_changing_a_deadline_without_a_date_is_refused():
    message = refusal("deadline", "in_rectification", request(due=None))
    assert "needs a deadline" in message


def test_changing_a_deadline_to_the_past_is_refused_unless_backdated_with_a_reason():
    past = TODAY - timedelta(days=3)
    assert "lies before today" in refusal("deadline", "assigned", request(due=past))
    move = plan_move("deadline", finding("assigned"), request(due=past, backdate=True, text="按3月12日会议纪要补录"))
    assert move == Move("deadline", "assigned", "assigned")


def test_changing_a_deadline_without_a_reason_is_refused():
    message = refusal("deadline", "assigned", request(text=""))
    assert "this action needs its text: the reason (--why)" in message


def test_updating_with_empty_progress_text_is_refused():
    message = refusal("update", "assigned", request(actor=SUBMITTER, text=""))
    assert "this action needs its text" in message and "(--progress)" in message


def test_updating_a_finding_with_no_responsible_unit_is_refused():
    message = refusal("update", "assigned", request(actor=SUBMITTER), unit="")
    assert "has no responsible unit yet: assign it first (findings assign)" in message


@pytest.mark.parametrize("action", ["reopen", "withdraw", "accept_risk"])
def test_reopening_withdrawing_or_accepting_a_risk_needs_a_reason(action):
    state = sorted(TRANSITIONS[action].sources)[0]
    message = refusal(action, state, request(text=""))
    assert "this action needs its text" in message


def test_the_first_failing_check_is_the_one_reported():
    # no unit and no due date: the unit is asked for first, as the table lists it
    message = refusal("assign", "identified", request(unit="", due=None))
    assert "needs the responsible unit" in message and "deadline" not in message


def test_a_refused_move_is_a_value_error():
    with pytest.raises(ValueError):
        plan_move("verify", finding("identified"), request())


# ------------------------------------------------------------------ overdue, computed when asked

DAY = timedelta(days=1)


@pytest.mark.parametrize("state", list(STATES))
def test_a_finding_is_overdue_only_while_a_deadline_runs_and_after_it_passed(state):
    due = date(2024, 6, 30)
    late = due + 5 * DAY
    assert is_overdue(state, due, late) == (state in DUE_STATES)
    assert days_overdue(state, due, late) == (5 if state in DUE_STATES else 0)
    # on the due day itself and before it, nothing is overdue
    assert not is_overdue(state, due, due) and days_overdue(state, due, due) == 0
    assert not is_overdue(state, due, due - DAY) and days_overdue(state, due, due - DAY) == 0
    # without a deadline, never
    assert not is_overdue(state, None, late) and days_overdue(state, None, late) == 0


def test_a_verified_finding_past_its_due_date_is_not_overdue():
    assert not is_overdue("verified", date(2024, 1, 1), date(2024, 12, 31))
    assert days_overdue("verified", date(2024, 1, 1), date(2024, 12, 31)) == 0


def test_a_submitted_finding_waiting_for_sign_off_is_not_overdue():
    assert not is_overdue("submitted", date(2024, 1, 1), date(2024, 2, 1))


def test_days_overdue_counts_calendar_days_across_a_year_end():
    assert days_overdue("in_rectification", date(2023, 12, 30), date(2024, 1, 2)) == 3
    assert days_overdue("reopened", date(2024, 2, 28), date(2024, 3, 1)) == 2  # 2024 is a leap year
