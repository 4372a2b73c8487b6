"""The PostGIS store's second wall (schema 8): PostgreSQL itself holds a district editor's or a
department's writes to its scope, whatever the service layer above it checked.

A write done for such an account (a :class:`~planwatch.store.base.Scope`) runs its transaction as the
NOLOGIN role :data:`ROLE` (``SET LOCAL ROLE``), with its district and unit in the settings
``planwatch.district`` / ``planwatch.unit`` (transaction-local). Row-level security policies, for that
role only, then refuse (``new row violates row-level security policy``), and the whole write with it:

- an observation of any other geography than the district (a city-wide row, geo '', included);
- a reservation of another district's pool, the resolution (commit, cancel) of another district's
  reservation, and any ledger operation but reserve, commit and cancel (and the release schedule's
  ``issue``, which any posting makes first when it is due);
- a finding event other than ``update`` / ``submit``, or on a finding another unit or district is
  responsible for.

The role reads what those writes read (not the accounts' password hashes nor the tokens) and writes
only the tables they write. The store's owner (the CLI, an admin's writes) is not subject to the
policies: row-level security is enabled, not forced. The role is the cluster's (created once, if
missing, and granted to the store's owner so it can switch to it); its grants and the policies are
the store schema's own.
"""

from __future__ import annotations

from planwatch.store.base import Scope

ROLE = "planwatch_scoped"

# What the scoped writes read (RETURNING and UPDATE … WHERE read too) and write.
READS = ("pw_imports", "pw_observations", "pw_ledger_accounts", "pw_ledger_batches", "pw_ledger_entries",
         "pw_ledger_reservations", "pw_ledger_resolutions", "pw_findings", "pw_finding_events", "pw_files",
         "pw_finding_evidence")
INSERTS = ("pw_imports", "pw_observations", "pw_ledger_accounts", "pw_ledger_batches", "pw_ledger_entries",
           "pw_ledger_reservations", "pw_ledger_resolutions", "pw_finding_events", "pw_files", "pw_finding_evidence",
           "pw_audit")
UPDATES = ("pw_imports", "pw_ledger_accounts", "pw_findings")

_DISTRICT = "current_setting('planwatch.district', true)"
_UNIT = "current_setting('planwatch.unit', true)"
# table → what a new row of the scoped role must satisfy
POLICIES = {
    "pw_observations": f"geo <> '' AND geo = {_DISTRICT}",
    "pw_ledger_batches": "op IN ('issue', 'reserve', 'commit', 'cancel')",
    "pw_ledger_reservations": f"district <> '' AND district = {_DISTRICT}",
    "pw_ledger_resolutions": ("EXISTS (SELECT 1 FROM pw_ledger_reservations r WHERE r.reservation_id = "
                              f"pw_ledger_resolutions.reservation_id AND r.district <> '' AND r.district = {_DISTRICT})"),
    "pw_finding_events": ("action IN ('update', 'submit') AND EXISTS (SELECT 1 FROM pw_findings f WHERE "
                          "f.finding_id = pw_finding_events.finding_id AND f.responsible <> '' AND "
                          f"f.responsible IN ({_DISTRICT}, {_UNIT}))"),
}

# What a database administrator does once when the store's owner may not create or grant roles.
SETUP = f"as a superuser, run once: CREATE ROLE {ROLE} NOLOGIN; GRANT {ROLE} TO <the store's user>"
# Roles are the cluster's: several stores (schemas, databases) share one, so it is made only when missing
# (two stores created at once may both try: the second's attempt is let go).
_ROLE = f"""DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
    BEGIN
      CREATE ROLE {ROLE} NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
  IF NOT pg_has_role(current_user, '{ROLE}', 'MEMBER') THEN
    EXECUTE format('GRANT {ROLE} TO %I', current_user);
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE EXCEPTION 'the user % may not create or grant the role {ROLE} the store needs for row-level security; '
    '{SETUP.replace("<the store's user>", "%")}', current_user, current_user USING ERRCODE = 'insufficient_privilege';
END $$"""
_SCHEMA_GRANTS = f"""DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO {ROLE}', current_schema());
  EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO {ROLE}', current_schema());
END $$"""


def postgres_ddl() -> list[str]:
    """The v8 role, grants and policies in PostgreSQL (the store's schema); each statement idempotent."""
    out = [_ROLE, _SCHEMA_GRANTS,
           f"GRANT SELECT ON {', '.join(READS)} TO {ROLE}",
           f"GRANT SELECT (audit_id) ON pw_audit TO {ROLE}",  # INSERT … RETURNING audit_id
           f"GRANT INSERT ON {', '.join(INSERTS)} TO {ROLE}",
           f"GRANT UPDATE ON {', '.join(UPDATES)} TO {ROLE}"]
    for table, check in POLICIES.items():
        out += [f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
                f"DROP POLICY IF EXISTS pw_scoped_read ON {table}",
                f"CREATE POLICY pw_scoped_read ON {table} FOR SELECT TO {ROLE} USING (true)",
                f"DROP POLICY IF EXISTS pw_scoped_write ON {table}",
                f"CREATE POLICY pw_scoped_write ON {table} FOR INSERT TO {ROLE} WITH CHECK ({check})"]
    return out


def enter(con, scope: Scope | None) -> None:
    """Run the rest of ``con``'s transaction as :data:`ROLE` held to ``scope`` (nothing when None)."""
    if scope is None:
        return
    con.execute(f"SET LOCAL ROLE {ROLE}")
    con.execute("SELECT set_config('planwatch.district', %s, true), set_config('planwatch.unit', %s, true)",
                (scope.district, scope.unit))


__all__ = ["POLICIES", "ROLE", "SETUP", "enter", "postgres_ddl"]
