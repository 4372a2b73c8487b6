"""Accounts, API tokens and the audit log: their tables and the SQL both backends run on them.

Three tables (schema v7), the same in the GeoPackage and the PostGIS store:

- ``pw_users``: one row per account: name (unique), role, the district or unit it is scoped to, the
  password's argon2 hash (never the password), whether it is disabled. Never deleted (a trigger
  refuses): an account is disabled instead.
- ``pw_tokens``: API tokens by their sha256 (the token itself is shown once, never stored), with
  an expiry and a revoked flag.
- ``pw_audit``: every write, append-only (triggers refuse UPDATE and DELETE): who, when, what, on
  what, from which address.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from planwatch.store.base import RECORDS, RecordTable, utc_now
from planwatch.store.findings import POSTGRES_TYPES, SQLITE_TYPES, Dialect, Guard, create_table, read_table

PEOPLE_TABLES: list[RecordTable] = [RECORDS[name] for name in ("pw_users", "pw_tokens", "pw_audit")]
TABLES = {t.name: t for t in PEOPLE_TABLES}
_CONSTRAINTS = {"pw_users": ",\n  UNIQUE (name)", "pw_tokens": ",\n  UNIQUE (token_sha256)", "pw_audit": ""}
USER_FIXED = ["user_id", "name", "created_at", "created_by"]
GUARD = Guard("pw_people_refuse", "pw_users", tuple(USER_FIXED), "fixed",
              "pw_users: an account is never renamed; disable it and add another",
              "pw_users: an account is never deleted; disable it instead", ("pw_audit",), "% is append-only")


def sqlite_ddl() -> list[str]:
    """The v7 tables and triggers in a GeoPackage (SQLite); each statement idempotent."""
    out = [create_table(SQLITE_TYPES, t, _CONSTRAINTS[t.name]) for t in PEOPLE_TABLES]
    out += GUARD.sqlite()
    out.append("""INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) VALUES
  ('pw_users', 'attributes', 'pw_users', 'planwatch: accounts (roles, scopes, password hashes)'),
  ('pw_tokens', 'attributes', 'pw_tokens', 'planwatch: API tokens by sha256'),
  ('pw_audit', 'attributes', 'pw_audit', 'planwatch: every write, who, when, from where (append-only)')""")
    return out


def postgres_ddl() -> list[str]:
    """The v7 tables and triggers in PostgreSQL; each statement idempotent."""
    out = [create_table(POSTGRES_TYPES, t, _CONSTRAINTS[t.name]) for t in PEOPLE_TABLES]
    out += GUARD.postgres()
    return out


def read(con, d: Dialect, table: str) -> pd.DataFrame:
    """One of the three tables, in id order."""
    return read_table(con, d, TABLES[table])


def add_user(con, d: Dialect, row: dict) -> int:
    cols = [c for c in TABLES["pw_users"].columns if c != "user_id"]
    values = {**row, "created_at": utc_now()}
    return int(con.execute(d.q(f"INSERT INTO pw_users ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                               "RETURNING user_id"), [values[c] for c in cols]).fetchone()[0])


def set_user(con, d: Dialect, name: str, *, disabled: bool | None = None, password_hash: str | None = None) -> bool:
    """Disable/enable an account or set its password hash; False when there is no such account."""
    sets, params = [], []
    if disabled is not None:
        sets.append("disabled = ?")
        params.append(bool(disabled))
    if password_hash is not None:
        sets.append("password_hash = ?")
        params.append(password_hash)
    cur = con.execute(d.q(f"UPDATE pw_users SET {', '.join(sets)} WHERE name = ?"), [*params, name])
    return cur.rowcount == 1


def add_token(con, d: Dialect, user_id: int, sha256: str, label: str, expires: str) -> int:
    return int(con.execute(d.q("INSERT INTO pw_tokens (user_id, token_sha256, label, created_at, expires, revoked) "
                               "VALUES (?, ?, ?, ?, ?, ?) RETURNING token_id"),
                           [int(user_id), sha256, label, utc_now(), expires, False]).fetchone()[0])


def revoke_token(con, d: Dialect, sha256: str) -> bool:
    """Mark the token with this sha256 revoked; whether there was one not revoked yet."""
    cur = con.execute(d.q("UPDATE pw_tokens SET revoked = ? WHERE token_sha256 = ? AND NOT revoked"), (True, sha256))
    return cur.rowcount > 0


def audit(con, d: Dialect, actor: str, action: str, target: str, detail: dict, address: str) -> int:
    return int(con.execute(d.q("INSERT INTO pw_audit (at, actor, action, target, detail, address) VALUES "
                               "(?, ?, ?, ?, ?, ?) RETURNING audit_id"),
                           [utc_now(), actor, action, target,
                            json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str), address]).fetchone()[0])


def audit_write(con, d: Dialect, row: dict | None, written: dict) -> None:
    """The audit row of a write another part of the store makes, inside that write's transaction (so
    a write that fails leaves no row, and a recorded write always has its own): ``row`` as
    :func:`planwatch.services.users.audit_row` builds it, its detail completed with what was
    ``written`` (ids, counts); nothing when ``row`` is None (the local operator's write)."""
    if row is not None:
        audit(con, d, **{**row, "detail": {**row["detail"], **written}})


def audit_only(con, d: Dialect) -> bool:
    """No write of its own: the audit row alone (a write another part of the store made)."""
    return True


def token_owner(con, d: Dialect, sha256: str) -> Sequence | None:
    """(user name, token expiry, revoked) of the token with this sha256, or None."""
    return con.execute(d.q("SELECT u.name, t.expires, t.revoked FROM pw_tokens t JOIN pw_users u ON u.user_id = t.user_id "
                           "WHERE t.token_sha256 = ?"), [sha256]).fetchone()


__all__ = ["PEOPLE_TABLES", "add_token", "add_user", "audit", "audit_only", "audit_write", "postgres_ddl", "read", "set_user", "sqlite_ddl",
           "token_owner"]
