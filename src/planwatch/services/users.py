"""Accounts, roles, API tokens and the audit log (``planwatch users add|list|disable|token``,
``planwatch audit``), and who may write what: the scoping every write service applies (:func:`require`)
before it writes for an account, and what it hands the store (:func:`acting`): the audit row, written
in the write's own transaction, and the scope the PostGIS store holds the write to.

Roles:

- ``admin``: everything, and the accounts;
- ``district_editor``: observations, review reservations and finding responses of its own district;
- ``department``: the findings assigned to its unit;
- ``viewer``: reads only.

Passwords are kept as argon2 hashes; an API token is shown once and kept as its sha256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from planwatch.services import MAX_ECHO, Forbidden, ServiceError, StoreSource, opened, shorten

if TYPE_CHECKING:
    import pandas as pd

    from planwatch.plan import Plan
    from planwatch.store import Scope

ROLES = ("admin", "district_editor", "department", "viewer")
ROLE_ZH = {"admin": "管理员", "district_editor": "区级编辑", "department": "责任部门", "viewer": "只读"}
MIN_PASSWORD = 10
TOKEN_DAYS = 90
PUBLIC_COLUMNS = ["user_id", "name", "role", "district", "unit", "disabled", "created_at", "created_by"]


@dataclass(frozen=True)
class User:
    """Who acts: the account's name, role and scope."""

    name: str
    role: str
    district: str = ""
    unit: str = ""

    def may(self, action: str, *, district: str = "", unit: str = "") -> bool:
        """Whether this account may do ``action`` (``write_observations``, ``reserve``,
        ``answer_finding``, ``admin``) in ``district`` / for ``unit``."""
        if self.role == "admin":
            return True
        if self.role == "district_editor":
            return action in ("write_observations", "reserve", "answer_finding") and bool(district) and \
                district == self.district
        if self.role == "department":
            return action == "answer_finding" and bool(unit) and unit == self.unit
        return False

    def to_records(self) -> dict:
        return {"name": self.name, "role": self.role, "district": self.district, "unit": self.unit}


def require(user: User | None, action: str, *, district: str = "", unit: str = "") -> User:
    """``user`` if it may do ``action`` there, else a refusal (:class:`Forbidden`) saying so."""
    if user is None:
        raise ServiceError("this write needs an account: log in, or send an API token (Authorization: Bearer …)")
    if not user.may(action, district=district, unit=unit):
        where = f" in {district}" if district else (f" for {unit}" if unit else "")
        raise Forbidden(f"{user.name} ({ROLE_ZH.get(user.role, user.role)}"
                           f"{'，' + (user.district or user.unit) if (user.district or user.unit) else ''}) may not "
                           f"{action.replace('_', ' ')}{where}; nothing was written")
    return user


def scope_of(user: User | None) -> Scope | None:
    """What the store holds a write for ``user`` to: a district editor's district, a department's
    unit; None for an admin and for the local operator (``user`` None)."""
    from planwatch.store import Scope

    if user is None or user.role not in ("district_editor", "department"):
        return None
    return Scope(district=user.district) if user.role == "district_editor" else Scope(unit=user.unit)


def acting(user: User | None, action: str, target: str, detail: dict, address: str) -> dict:
    """The keywords a store write takes when it is done for ``user``: ``audit``, its audit row (the
    store completes its detail and writes it in the write's own transaction), and ``scope``
    (:func:`scope_of`). None for the local operator (``user`` None): the write as before, unaudited."""
    if user is None:
        return {}
    return {"audit": audit_row(user.name, action, target, detail, address), "scope": scope_of(user)}


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def add_user(store: StoreSource, plan: Plan, name: str, role: str, password: str, *, district: str = "",
             unit: str = "", by: str, address: str = "cli") -> int:
    """Add an account; refused: a blank or taken name, an unknown role, a district editor without one
    of the plan's districts, a department without a known unit, a password under
    :data:`MIN_PASSWORD` characters."""
    from planwatch.plan.units import known_units

    name = str(name or "").strip()
    if not name or len(name) > 80 or any(c in name for c in "\n\r\t:"):
        raise ServiceError(f"name {shorten(name, MAX_ECHO)!r}: 1–80 characters, one line, no colon", usage=True)
    if role not in ROLES:
        raise ServiceError(f"--role {shorten(role, MAX_ECHO)!r}: one of {', '.join(ROLES)}", usage=True)
    if role == "district_editor" and district not in plan.meta.districts:
        raise ServiceError(f"--district {shorten(district, MAX_ECHO)!r}: a district editor needs one of the plan's "
                           f"districts ({', '.join(plan.meta.districts)})", usage=True)
    if role == "department" and unit not in known_units(plan):
        raise ServiceError(f"--unit {shorten(unit, MAX_ECHO)!r}: a department needs a unit of the plan's table "
                           "(planwatch findings units lists them)", usage=True)
    if role != "district_editor" and district:
        raise ServiceError("--district is for a district editor", usage=True)
    if role != "department" and unit:
        raise ServiceError("--unit is for a department", usage=True)
    if len(password or "") < MIN_PASSWORD:
        raise ServiceError(f"the password must have at least {MIN_PASSWORD} characters", usage=True)
    s = opened(store)
    if name in set(s.people("pw_users")["name"]):
        raise ServiceError(f"an account {name!r} exists already (planwatch users list)")
    row = {"name": name, "role": role, "district": district, "unit": unit, "password_hash": _hasher().hash(password),
           "disabled": False, "created_by": by}
    return s.people_write("add_user", {"row": row}, audit_row(by, "users.add", name,
                                                              {"role": role, "district": district, "unit": unit}, address))


def audit_row(actor: str, action: str, target: str, detail: dict, address: str) -> dict:
    return {"actor": actor, "action": action, "target": target, "detail": detail, "address": address}


def list_users(store: StoreSource) -> pd.DataFrame:
    """Every account (no password hashes)."""
    return opened(store).people("pw_users")[PUBLIC_COLUMNS]


def set_disabled(store: StoreSource, name: str, disabled: bool, *, by: str, address: str = "cli") -> None:
    s = opened(store)
    if not s.people_write("set_user", {"name": name, "disabled": disabled},
                          audit_row(by, "users.disable" if disabled else "users.enable", name, {}, address)):
        raise ServiceError(f"no account {shorten(name, MAX_ECHO)!r} (planwatch users list)")


def issue_token(store: StoreSource, name: str, *, days: int = TOKEN_DAYS, label: str = "", by: str,
                address: str = "cli") -> tuple[str, str]:
    """A new API token for ``name``, valid ``days``: (the token, shown only now; its expiry)."""
    s = opened(store)
    users = s.people("pw_users")
    hit = users[users["name"] == name]
    if not len(hit):
        raise ServiceError(f"no account {shorten(name, MAX_ECHO)!r} (planwatch users list)")
    if bool(hit["disabled"].iloc[0]):
        raise ServiceError(f"account {name} is disabled")
    if not 1 <= int(days) <= 366:
        raise ServiceError("--days: 1 to 366", usage=True)
    token = "pw_" + secrets.token_urlsafe(32)
    expires = (date.today() + timedelta(days=int(days))).isoformat()
    s.people_write("add_token", {"user_id": int(hit["user_id"].iloc[0]), "sha256": token_hash(token), "label": label,
                                 "expires": expires}, audit_row(by, "users.token", name, {"expires": expires}, address))
    return token, expires


def revoke_token(store: StoreSource, token: str, *, by: str, address: str = "") -> bool:
    """End a token now (a browser session's, at logout); whether it was live."""
    return bool(opened(store).people_write("revoke_token", {"sha256": token_hash(token)},
                                           audit_row(by, "users.revoke_token", by, {}, address)))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(users, name: str) -> User | None:
    hit = users[(users["name"] == name) & ~users["disabled"]]
    if not len(hit):
        return None
    r = hit.iloc[0]
    return User(str(r["name"]), str(r["role"]), str(r["district"]), str(r["unit"]))


def user_for_token(store: StoreSource, token: str, *, today: date | None = None) -> User | None:
    """The account a token belongs to, or None: unknown, revoked, expired, or the account disabled."""
    s = opened(store)
    found = s.token_owner(token_hash(str(token)))
    if found is None or bool(found[2]) or str(found[1]) < (today or date.today()).isoformat():
        return None
    return _user(s.people("pw_users"), str(found[0]))


def check_password(store: StoreSource, name: str, password: str) -> User | None:
    """The account if ``password`` is its password (and it is not disabled), else None."""
    from argon2.exceptions import VerificationError, VerifyMismatchError

    users = opened(store).people("pw_users")
    hit = users[(users["name"] == name) & ~users["disabled"]]
    if not len(hit):
        _hasher().hash("x" * MIN_PASSWORD)  # the same work for an unknown name
        return None
    try:
        _hasher().verify(str(hit["password_hash"].iloc[0]), str(password))
    except (VerifyMismatchError, VerificationError):
        return None
    return _user(users, name)


def audit_log(store: StoreSource, *, limit: int | None = None) -> pd.DataFrame:
    """The audit log, newest last (the last ``limit`` rows)."""
    df = opened(store).people("pw_audit")
    return df.tail(limit) if limit else df


def record(store: StoreSource, user: User, action: str, target: str, detail: dict, address: str) -> None:
    """An audit row alone, in a transaction of its own. The write services audit their writes for an
    account in the write's own transaction (:func:`acting`); this is for what writes nothing."""
    opened(store).people_write("audit_only", {}, audit_row(user.name, action, target, detail, address))


__all__ = [
    "MIN_PASSWORD", "ROLES", "ROLE_ZH", "TOKEN_DAYS", "User", "acting", "add_user", "audit_log", "audit_row",
    "check_password", "issue_token", "list_users", "record", "require", "scope_of", "set_disabled", "token_hash",
    "user_for_token",
]
