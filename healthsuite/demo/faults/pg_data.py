"""Demo faults of the data diagnoses (PAY4, PAY5, AUTH5, AUTH6, SEC1-SEC5, BIZ1): real rows in the demo's
booking database, written as the superuser.

Every inserted row's id starts with `fault-<diagnosis>-`, so the undo deletes exactly those (and an
injection first clears leftovers of an earlier one). BIZ1 moves every appointment's `created_at` back
6 hours and its undo writes the remembered values back, row by row.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from healthsuite.testing.postgres_server import PostgresServer

FAULTS: dict[str, str] = {
    "PAY4": "3 of 20 payments of the last 24 h failed (15 %; limit 5 %)",
    "PAY5": "a payment pending for 2 h (limit 1 h)",
    "AUTH5": "two users without a role (one NULL, one empty)",
    "AUTH6": "usr-2 with 26 sessions active in the last 24 h (limit 20), and 3 sessions idle for 10 days",
    "SEC1": "6 failed logins from 203.0.113.66 in the last hour (limit 5 per IP in 24 h)",
    "SEC2": "an `admin.role.grant` audit action by usr-2, who is not on the allow list, an hour ago",
    "SEC3": "two dormant users (one never logged in, one not for 45 days): 2 of 4 users (limit 20 %)",
    "SEC4": "an API key that expired yesterday is not revoked (api_keys.revoked; demo.yaml: active: NOT revoked)",
    "SEC5": "101 API requests by usr-2 from 203.0.113.66 in the last 20 minutes (limit 100 per hour)",
    "BIZ1": "every appointment's created_at moved back 6 hours: bookings stopped 6 h ago, inside business hours "
    "(the demo is always open; BIZ1 judges the last 4)",
}

# More faults of a diagnosis whose case the one above does not show, made with `inject(name, ...)` as well
# (not part of the demo's `--break`, which has one fault per diagnosis):
VARIANTS: dict[str, str] = {
    "AUTH6SHARE": "a small platform's sessions: 400, of which 160 (40 %; limit 20 %) idle for 10 days, a count "
    "under the limit of 1000; no user over 20 sessions in the last 24 h",
}

# diagnosis -> (table, INSERT) in insertion order; ids start with fault-<diagnosis lower-case>-
_ROWS: dict[str, list[tuple[str, str]]] = {
    "PAY4": [(
        "payments",
        "INSERT INTO payments (id, appointment_id, reference, amount, status, created_at) "
        "SELECT 'fault-pay4-' || i, 'apt-1', 'fault-pay4-ref-' || i, 35000, "
        "CASE WHEN i <= 3 THEN 'failed' ELSE 'success' END, now() - i * interval '1 minute' "
        "FROM generate_series(1, 19) AS i",
    )],
    "PAY5": [(
        "payments",
        "INSERT INTO payments (id, appointment_id, reference, amount, status, created_at) "
        "VALUES ('fault-pay5-1', 'apt-1', 'fault-pay5-ref-1', 35000, 'pending', now() - interval '2 hours')",
    )],
    "AUTH5": [(
        "users",
        "INSERT INTO users (id, tenant_id, email, name, role, last_login) VALUES "
        "('fault-auth5-null', 'instylehairboutique', 'fault-auth5-null@example.invalid', 'No role', NULL, now()), "
        "('fault-auth5-empty', 'instylehairboutique', 'fault-auth5-empty@example.invalid', 'Empty role', '', now())",
    )],
    "AUTH6": [(
        "user_sessions",
        "INSERT INTO user_sessions (id, user_id, created_at, last_activity) "
        "SELECT 'fault-auth6-' || i, 'usr-2', now() - i * interval '1 minute', now() - i * interval '1 minute' "
        "FROM generate_series(1, 25) AS i "
        "UNION ALL SELECT 'fault-auth6-stale-' || i, 'usr-1', now() - interval '10 days', now() - interval '10 days' "
        "FROM generate_series(1, 3) AS i",
    )],
    "AUTH6SHARE": [(
        "user_sessions",  # with the demo's one session: 400 sessions, 160 stale; the others 2-3 days old
        "INSERT INTO user_sessions (id, user_id, created_at, last_activity) "
        "SELECT 'fault-auth6share-stale-' || i, CASE WHEN i % 2 = 0 THEN 'usr-1' ELSE 'usr-2' END, "
        "now() - interval '30 days', now() - interval '10 days' - i * interval '1 minute' "
        "FROM generate_series(1, 160) AS i "
        "UNION ALL SELECT 'fault-auth6share-idle-' || i, CASE WHEN i % 2 = 0 THEN 'usr-1' ELSE 'usr-2' END, "
        "now() - interval '3 days', now() - interval '2 days' - i * interval '1 minute' "
        "FROM generate_series(1, 239) AS i",
    )],
    "SEC1": [(
        "auth_attempts",
        "INSERT INTO auth_attempts (id, email, ip_address, success, timestamp) "
        "SELECT 'fault-sec1-' || i, 'owner@instylehairboutique.example', '203.0.113.66', false, "
        "now() - i * interval '5 minutes' FROM generate_series(1, 6) AS i",
    )],
    "SEC2": [(
        "audit_logs",
        "INSERT INTO audit_logs (id, user_id, action, resource_type, ip_address, user_agent, timestamp) VALUES "
        "('fault-sec2-1', 'usr-2', 'admin.role.grant', 'user', '203.0.113.66', 'curl/8.5.0', "
        "now() - interval '1 hour')",
    )],
    "SEC3": [(
        "users",
        "INSERT INTO users (id, tenant_id, email, name, role, created_at, last_login) VALUES "
        "('fault-sec3-never', 'instylehairboutique', 'fault-sec3-never@example.invalid', 'Never', 'user', "
        "now() - interval '60 days', NULL), "
        "('fault-sec3-gone', 'instylehairboutique', 'fault-sec3-gone@example.invalid', 'Gone', 'user', "
        "now() - interval '90 days', now() - interval '45 days')",
    )],
    "SEC4": [(
        "api_keys",
        "INSERT INTO api_keys (id, user_id, name, created_at, last_used, expires_at, revoked) VALUES "
        "('fault-sec4-expired', 'usr-1', 'retired integration', now() - interval '400 days', "
        "now() - interval '2 days', now() - interval '1 day', false)",
    )],
    "SEC5": [(
        "api_usage_logs",
        "INSERT INTO api_usage_logs (id, user_id, ip_address, timestamp, response_time_ms) "
        "SELECT 'fault-sec5-' || i, 'usr-2', '203.0.113.66', now() - i * interval '10 seconds', 40 "
        "FROM generate_series(1, 101) AS i",
    )],
}


def _connect(server: PostgresServer, dbname: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(server.dsn(dbname=dbname), autocommit=True, connect_timeout=5)


def _delete(server: PostgresServer, dbname: str, diagnosis: str) -> None:
    prefix = f"fault-{diagnosis.lower()}-%"
    with _connect(server, dbname) as conn:
        for table, _ in reversed(_ROWS[diagnosis]):
            conn.execute(sql.SQL("DELETE FROM {} WHERE id LIKE %s").format(sql.Identifier(table)), (prefix,))


def _insert_rows(server: PostgresServer, dbname: str, diagnosis: str) -> Callable[[], None]:
    _delete(server, dbname, diagnosis)
    with _connect(server, dbname) as conn, conn.transaction():
        for _, statement in _ROWS[diagnosis]:
            conn.execute(statement)
    return lambda: _delete(server, dbname, diagnosis)


def _age_bookings(server: PostgresServer, dbname: str) -> Callable[[], None]:
    with _connect(server, dbname) as conn, conn.transaction():
        rows = conn.execute("SELECT id, created_at FROM appointments ORDER BY id FOR UPDATE").fetchall()
        conn.execute("UPDATE appointments SET created_at = created_at - interval '6 hours'")
    ids = [row[0] for row in rows]
    times = [row[1] for row in rows]

    def undo() -> None:
        with _connect(server, dbname) as conn:
            conn.execute(
                "UPDATE appointments AS a SET created_at = v.created_at "
                "FROM unnest(%s::text[], %s::timestamptz[]) AS v(id, created_at) WHERE a.id = v.id",
                (ids, times),
            )

    return undo


def inject(diagnosis: str, server: PostgresServer, dbname: str) -> Callable[[], None]:
    """Make the fault of `diagnosis` (or a VARIANTS name) real in `dbname`; returns what undoes it completely."""
    if diagnosis == "BIZ1":
        return _age_bookings(server, dbname)
    if diagnosis not in _ROWS:
        raise ValueError(f"no data fault for {diagnosis}; faults: {', '.join([*FAULTS, *VARIANTS])}")
    return _insert_rows(server, dbname, diagnosis)
