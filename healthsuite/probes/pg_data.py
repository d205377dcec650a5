"""Read the booking platform's data for PAY4, PAY5, AUTH5, AUTH6, SEC1-SEC5 and BIZ1 (runbooks 000
§3/§4 and 001 "Access Control Management", "Security Monitoring", "Automated Daily Report").

Each probe first resolves its dataset against the catalog (`pg_attribute`, readable by any role):
a table or column that does not exist, or a column of a type the probe cannot read, becomes a
`MappingProblem` naming the environment-file key to fix (`data.payments.status`), never a traceback.
Then one or two bounded statements run: counts over an index-friendly time filter, and at most
`EXAMPLES` example rows (`count(*) OVER ()` gives the total beside them). Time arithmetic uses the
database's `now()`; thresholds are parameters, identifiers are quoted by `psycopg.sql`.

Column types (teams differ, D1 exports store text): time columns may be timestamptz, timestamp
(read as UTC), date or ISO-8601 text (offset-less text read as UTC); flag columns boolean, integer
0/1 or text (`true`/`false`, `1`/`0`, `yes`/`no`).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from ..model.data import (
    ApiKeys,
    ApiUsage,
    AuditLog,
    AuthAttempts,
    Bookings,
    Dataset,
    Payments,
    Sessions,
    Users,
    is_column,
)
from .errors import ProbeError
from .lazy import lazy
from .pgreader import PgReader

if TYPE_CHECKING:
    from psycopg import sql
else:
    sql = lazy("psycopg.sql")

EXAMPLES = 5  # example rows a finding names

# what a probe needs of a column: any type, a point in time, a flag (true/false), or text-like
Need = Literal["any", "time", "flag"]
Kind = Literal["timestamptz", "timestamp", "date", "text", "bool", "integer", "other"]

_TIME_KINDS: tuple[Kind, ...] = ("timestamptz", "timestamp", "date", "text")
_FLAG_KINDS: tuple[Kind, ...] = ("bool", "integer", "text")
_NUMERIC = {"int2", "int4", "int8", "numeric"}


@dataclass(frozen=True)
class MappingProblem:
    """The environment file's mapping does not fit the database: which key, what is wrong, the fix."""

    key: str  # e.g. data.payments.status
    problem: str
    fix: str


@dataclass(frozen=True)
class Listing:
    """Rows meeting a condition: how many, and up to EXAMPLES of them (as column -> value)."""

    count: int = 0
    examples: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class DataObservation:
    """What every data probe reports: the dataset key and table, or why they could not be read."""

    dataset: str  # data.payments
    table: str
    problem: MappingProblem | None = None
    error: ProbeError | None = None


@dataclass(frozen=True, kw_only=True)
class FailedPayments(DataObservation):
    window_h: float
    total: int = 0
    failed: Listing = Listing()


@dataclass(frozen=True, kw_only=True)
class PendingPayments(DataObservation):
    max_pending_h: float
    pending: Listing = Listing()  # examples carry age_s; the first is the oldest


@dataclass(frozen=True, kw_only=True)
class RolelessUsers(DataObservation):
    users: Listing = Listing()


@dataclass(frozen=True, kw_only=True)
class SessionCounts(DataObservation):
    stale_after_days: float
    window_h: float
    max_sessions_per_user: float
    total: int = 0  # every session of the table
    stale: int = 0
    oldest_stale_age_s: float | None = None
    busy_users: Listing = Listing()  # users with more sessions active in the window than the limit


@dataclass(frozen=True, kw_only=True)
class FailedLogins(DataObservation):
    window_h: float
    max_failed_logins: float
    ips: Listing = Listing()  # IPs over the limit, with attempts, first and last


@dataclass(frozen=True, kw_only=True)
class Escalations(DataObservation):
    window_days: float
    patterns: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    actions: Listing = Listing()


@dataclass(frozen=True, kw_only=True)
class DormantUsers(DataObservation):
    dormant_days: float
    total: int = 0
    dormant: Listing = Listing()


@dataclass(frozen=True, kw_only=True)
class ApiKeyReview(DataObservation):
    unused_days: float
    expired_active: Listing = Listing()
    unused: Listing = Listing()


@dataclass(frozen=True, kw_only=True)
class HeavyApiUse(DataObservation):
    window_h: float
    limit: float
    pairs: Listing = Listing()  # user + IP pairs over the limit


@dataclass(frozen=True, kw_only=True)
class RecentBookings(DataObservation):
    window_h: float
    now: datetime | None = None  # the database's now() (or the probe's `now`): the window ends there
    per_minute: tuple[tuple[datetime, int], ...] = ()  # bookings of the window by minute, oldest first

    @property
    def count(self) -> int:
        return sum(count for _, count in self.per_minute)


# --- resolving a dataset against the catalog ------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    key: str  # data.payments
    name: str
    kinds: Mapping[str, Kind] = field(default_factory=dict)  # mapping field -> kind of its column
    columns: Mapping[str, sql.Composable] = field(default_factory=dict)  # mapping field -> quoted column

    @property
    def ident(self) -> sql.Composable:
        return sql.Identifier(*self.name.split("."))

    def col(self, name: str) -> sql.Composable:
        return self.columns[name]


def _regclass_text(name: str) -> str:
    """`schema.table` as to_regclass() reads it, each part quoted (the name is a parameter, not SQL)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def _kind(typname: str, category: str) -> Kind:
    if typname == "timestamptz":
        return "timestamptz"
    if typname == "timestamp":
        return "timestamp"
    if typname == "date":
        return "date"
    if typname == "bool":
        return "bool"
    if typname in _NUMERIC:
        return "integer"
    if category == "S":
        return "text"
    return "other"


# the table's columns and their types (a domain as its base type); no row's data is read
_COLUMNS_SQL = (
    "SELECT r.rel IS NOT NULL, a.attname, b.typname, b.typcategory, format_type(a.atttypid, a.atttypmod), "
    "r.rel IS NOT NULL AND has_any_column_privilege(r.rel, 'SELECT'), current_user "
    "FROM (SELECT to_regclass(%s) AS rel) r "
    "LEFT JOIN pg_attribute a ON a.attrelid = r.rel AND a.attnum > 0 AND NOT a.attisdropped "
    "LEFT JOIN pg_type t ON t.oid = a.atttypid "
    "LEFT JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END "
    "ORDER BY a.attnum"
)


def _resolve(
    reader: PgReader, key: str, dataset: Dataset, needs: Mapping[str, Need]
) -> tuple[_Table, MappingProblem | None, ProbeError | None]:
    """The dataset's table and the kinds of the columns a probe needs (field -> need)."""
    table = _Table(key, dataset.table)
    result = reader.query(_COLUMNS_SQL, (_regclass_text(dataset.table),), label=f"columns of {dataset.table}")
    if result.error is not None:
        return table, None, result.error
    if not result.rows or not result.rows[0][0]:
        return table, MappingProblem(
            f"{key}.table",
            f"table {dataset.table} does not exist in this database (or is not on the monitoring role's search_path)",
            f"set `{key}.table` to the table holding these rows (schema.table if it is not in public)",
        ), None
    if not result.rows[0][5]:
        role = result.rows[0][6]
        return table, None, ProbeError(
            "permission_denied", "postgres", reader.address,
            f"the role {role} has no SELECT on {dataset.table}: GRANT SELECT ON {dataset.table} TO {role};",
        )
    types = {str(row[1]): (str(row[2]), str(row[3]), str(row[4])) for row in result.rows if row[1] is not None}
    kinds: dict[str, Kind] = {}
    columns: dict[str, sql.Composable] = {}
    for name, need in needs.items():
        column = getattr(dataset, name)
        if not is_column(column):  # an SQL expression (validated when the file loaded): its type decides
            expression, expression_problem, error = _expression(reader, key, dataset, name, need)
            if expression_problem is not None or error is not None:
                return table, expression_problem, error
            assert expression is not None
            kinds[name], columns[name] = expression
            continue
        if column not in types:
            close = difflib.get_close_matches(column, list(types), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            return table, MappingProblem(
                f"{key}.{name}",
                f"column {dataset.table}.{column} does not exist ({hint}columns of {dataset.table}: "
                f"{', '.join(list(types)[:20])})",
                f"set `{key}.{name}` to the column of {dataset.table} that holds it",
            ), None
        typname, category, shown = types[column]
        kind = _kind(typname, category)
        if need == "time" and kind not in _TIME_KINDS:
            return table, MappingProblem(
                f"{key}.{name}",
                f"column {dataset.table}.{column} is {shown}, not a point in time",
                f"map `{key}.{name}` to a timestamptz, timestamp, date or ISO-8601 text column",
            ), None
        if need == "flag" and kind not in _FLAG_KINDS:
            return table, MappingProblem(
                f"{key}.{name}",
                f"column {dataset.table}.{column} is {shown}, not a true/false flag",
                f"map `{key}.{name}` to a boolean, integer 0/1 or text (true/false) column",
            ), None
        kinds[name] = kind
        columns[name] = sql.Identifier(column)
    return _Table(key, dataset.table, kinds, columns), None, None


# the type of a mapping's SQL expression is read without reading a row: pg_typeof is decided when the
# statement is planned, and the outer join gives one row even for an empty table (a domain as its base type)


_STATEMENT_ECHO = re.compile(r"\.?\s*LINE \d+:.*?\^\.?")  # the server's echo of the statement, cut out


def _expression(
    reader: PgReader, key: str, dataset: Dataset, name: str, need: Need
) -> tuple[tuple[Kind, sql.Composable] | None, MappingProblem | None, ProbeError | None]:
    """(kind, the expression in parentheses), or why it cannot be read as `need` on the table."""
    text = getattr(dataset, name)
    what = f"expression `{text}` of `{key}.{name}`"
    query = sql.SQL(
        "SELECT b.typname, b.typcategory, format_type(b.oid, NULL) FROM "
        "(SELECT pg_typeof(e)::oid AS oid FROM (SELECT 1) one LEFT JOIN (SELECT ({expr}) AS e FROM {table} LIMIT 0) x "
        "ON true) r JOIN pg_type t ON t.oid = r.oid "
        "JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END"
    ).format(expr=sql.SQL(text), table=sql.Identifier(*dataset.table.split(".")))
    result = reader.query(query.as_string(None), label=f"type of {key}.{name}", user_sql=(text,))
    if result.error is not None:
        # the session answered: the statement was refused for its expression (its words may read like any
        # kind, e.g. `column ... does not exist`), unless it was cut, lost or not allowed
        if reader.error is not None or result.error.kind in ("timeout", "reset", "permission_denied"):
            return None, None, result.error
        detail = _STATEMENT_ECHO.sub("", result.error.detail).strip()
        return None, MappingProblem(
            f"{key}.{name}",
            f"{what} cannot be evaluated on {dataset.table}: {detail}",
            f"correct `{key}.{name}`: one SQL expression over the columns of {dataset.table}, or a column name",
        ), None
    typname, category, shown = (str(v) for v in result.rows[0]) if result.rows else ("", "", "unknown")
    kind = _kind(typname, category)
    if need == "time" and kind not in _TIME_KINDS:
        return None, MappingProblem(
            f"{key}.{name}", f"{what} is {shown}, not a point in time",
            f"make `{key}.{name}` a timestamptz, timestamp, date or ISO-8601 text expression",
        ), None
    if need == "flag" and kind not in _FLAG_KINDS:
        return None, MappingProblem(
            f"{key}.{name}", f"{what} is {shown}, not a true/false flag",
            f"make `{key}.{name}` a boolean, integer 0/1 or text (true/false) expression",
        ), None
    return (kind, sql.SQL("({})").format(sql.SQL(text))), None, None


# --- SQL fragments -------------------------------------------------------------------------------------


def _as_timestamptz(table: _Table, name: str) -> sql.Composable:
    """The column as a timestamptz, whatever its kind (naive values and offset-less text are UTC)."""
    column = table.col(name)
    kind = table.kinds[name]
    if kind == "timestamptz":
        return column
    if kind == "timestamp":
        return sql.SQL("({} AT TIME ZONE 'UTC')").format(column)
    if kind == "date":
        return sql.SQL("({}::timestamp AT TIME ZONE 'UTC')").format(column)
    text = sql.SQL("NULLIF(btrim({}::text), '')").format(column)
    return sql.SQL(
        "(CASE WHEN {t} ~ '([Zz]|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$' THEN {t}::timestamptz "
        "ELSE {t}::timestamp AT TIME ZONE 'UTC' END)"
    ).format(t=text)


def _hours_ago() -> sql.Composable:
    """`now()` minus a parameter of hours."""
    return sql.SQL("(now() - %s * interval '1 hour')")


def _newer(table: _Table, name: str) -> sql.Composable:
    """`column > now() - %s hours`, comparing in the column's own type where it can (index-friendly)."""
    kind = table.kinds[name]
    if kind == "timestamptz":
        return sql.SQL("{} > {}").format(table.col(name), _hours_ago())
    if kind == "timestamp":
        return sql.SQL("{} > ({} AT TIME ZONE 'UTC')").format(table.col(name), _hours_ago())
    return sql.SQL("{} > {}").format(_as_timestamptz(table, name), _hours_ago())


def _older(table: _Table, name: str) -> sql.Composable:
    """`column < now() - %s hours` (NULL is neither newer nor older)."""
    kind = table.kinds[name]
    if kind == "timestamptz":
        return sql.SQL("{} < {}").format(table.col(name), _hours_ago())
    if kind == "timestamp":
        return sql.SQL("{} < ({} AT TIME ZONE 'UTC')").format(table.col(name), _hours_ago())
    return sql.SQL("{} < {}").format(_as_timestamptz(table, name), _hours_ago())


def _age_s(table: _Table, name: str) -> sql.Composable:
    return sql.SQL("extract(epoch FROM now() - {})::float8").format(_as_timestamptz(table, name))


def _flag(table: _Table, name: str, value: bool) -> sql.Composable:
    """The flag column is true (or false): boolean, integer 0/1, or text; NULL is neither."""
    column = table.col(name)
    kind = table.kinds[name]
    if kind == "bool":
        return sql.SQL("{} IS TRUE" if value else "{} IS FALSE").format(column)
    if kind == "integer":
        return sql.SQL("{} <> 0" if value else "{} = 0").format(column)
    words = "('1', 'true', 't', 'yes', 'y')" if value else "('0', 'false', 'f', 'no', 'n')"
    return sql.SQL("lower(btrim({}::text)) IN " + words).format(column)


def _in(expr: sql.Composable, values: Sequence[str]) -> sql.Composable:
    """`expr::text IN (%s, ...)` (one placeholder per value; false for none)."""
    if not values:
        return sql.SQL("false")
    return sql.SQL("{}::text IN ({})").format(expr, sql.SQL(", ").join(sql.Placeholder() * len(values)))


def _like_any(expr: sql.Composable, patterns: Sequence[str]) -> sql.Composable:
    """`expr ILIKE %s OR ...` for substrings (their %, _ and \\ escaped by `_contains`)."""
    if not patterns:
        return sql.SQL("false")
    return sql.SQL("({})").format(
        sql.SQL(" OR ").join(sql.SQL("{}::text ILIKE %s").format(expr) for _ in patterns)
    )


def _contains(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _plain(value: Any) -> Any:
    """A value for facts and messages: times as ISO text, addresses and decimals as plain values."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        return str(value.ip)
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network,
                          ipaddress.IPv6Network)):
        return str(value)
    return value


def _listing(reader: PgReader, query: sql.Composable, params: Sequence[Any], label: str) -> tuple[Listing, Any]:
    """Run a listing whose last column is `count(*) OVER ()`: (the listing, or the error result)."""
    result = reader.query(query.as_string(None), tuple(params), label=label, max_rows=EXAMPLES)
    if result.error is not None:
        return Listing(), result.error
    examples = tuple({k: _plain(v) for k, v in list(row.items())[:-1]} for row in result.dicts())
    count = int(result.rows[0][-1]) if result.rows else 0
    return Listing(count, examples), None


def _scalars(reader: PgReader, query: sql.Composable, params: Sequence[Any], label: str) -> tuple[tuple[Any, ...], Any]:
    result = reader.query(query.as_string(None), tuple(params), label=label, max_rows=1)
    if result.error is not None:
        return (), result.error
    return (result.rows[0] if result.rows else ()), None


# --- probes ---------------------------------------------------------------------------------------------


def failed_payments(reader: PgReader, payments: Payments, *, window_h: float) -> FailedPayments:
    """PAY4: payments created in the window, and the failed ones among them (000 §3 step 3)."""
    table, problem, error = _resolve(
        reader, "data.payments", payments, {"status": "any", "created_at": "time", "reference": "any"}
    )
    base = FailedPayments(dataset=table.key, table=payments.table, window_h=window_h, problem=problem, error=error)
    if problem or error:
        return base
    in_window = _newer(table, "created_at")
    failed = _in(table.col("status"), payments.failed)
    counts, error = _scalars(
        reader,
        sql.SQL("SELECT count(*), count(*) FILTER (WHERE {failed}) FROM {t} WHERE {w}").format(
            failed=failed, t=table.ident, w=in_window
        ),
        (*payments.failed, window_h),
        "PAY4 payments in the window",
    )
    if error is not None:
        return FailedPayments(dataset=table.key, table=payments.table, window_h=window_h, error=error)
    listing, error = _listing(
        reader,
        sql.SQL(
            "SELECT {ref}::text AS reference, {status}::text AS status, {created} AS created_at, count(*) OVER () "
            "FROM {t} WHERE {failed} AND {w} ORDER BY {created} DESC LIMIT {n}"
        ).format(
            ref=table.col("reference"), status=table.col("status"), created=_as_timestamptz(table, "created_at"),
            t=table.ident, failed=failed, w=in_window, n=sql.Literal(EXAMPLES),
        ),
        (*payments.failed, window_h),
        "PAY4 failed payments",
    )
    return FailedPayments(
        dataset=table.key, table=payments.table, window_h=window_h, total=int(counts[0] or 0) if counts else 0,
        failed=Listing(int(counts[1] or 0) if counts else 0, listing.examples), error=error,
    )


def pending_payments(reader: PgReader, payments: Payments, *, max_pending_h: float) -> PendingPayments:
    """PAY5: payments still pending after `max_pending_h` (000 §3 Solution C), oldest first."""
    table, problem, error = _resolve(
        reader, "data.payments", payments, {"status": "any", "created_at": "time", "reference": "any"}
    )
    if problem or error:
        return PendingPayments(
            dataset=table.key, table=payments.table, max_pending_h=max_pending_h, problem=problem, error=error
        )
    created = _as_timestamptz(table, "created_at")
    listing, error = _listing(
        reader,
        sql.SQL(
            "SELECT {ref}::text AS reference, {status}::text AS status, {created} AS created_at, {age} AS age_s, "
            "count(*) OVER () FROM {t} WHERE {pending} AND {old} ORDER BY {created} ASC LIMIT {n}"
        ).format(
            ref=table.col("reference"), status=table.col("status"), created=created,
            age=_age_s(table, "created_at"), t=table.ident, pending=_in(table.col("status"), payments.pending),
            old=_older(table, "created_at"), n=sql.Literal(EXAMPLES),
        ),
        (*payments.pending, max_pending_h),
        "PAY5 pending payments",
    )
    return PendingPayments(
        dataset=table.key, table=payments.table, max_pending_h=max_pending_h, pending=listing, error=error
    )


def roleless_users(reader: PgReader, users: Users) -> RolelessUsers:
    """AUTH5: users whose role is NULL or empty (000 §4 Solution B)."""
    table, problem, error = _resolve(reader, "data.users", users, {"id": "any", "role": "any"})
    if problem or error:
        return RolelessUsers(dataset=table.key, table=users.table, problem=problem, error=error)
    listing, error = _listing(
        reader,
        sql.SQL(
            "SELECT {id}::text AS id, {role}::text AS role, count(*) OVER () FROM {t} "
            "WHERE {role} IS NULL OR btrim({role}::text) = '' ORDER BY {id} LIMIT {n}"
        ).format(id=table.col("id"), role=table.col("role"), t=table.ident, n=sql.Literal(EXAMPLES)),
        (),
        "AUTH5 users without a role",
    )
    return RolelessUsers(dataset=table.key, table=users.table, users=listing, error=error)


def session_counts(
    reader: PgReader, sessions: Sessions, *, stale_after_days: float, window_h: float, max_sessions_per_user: float
) -> SessionCounts:
    """AUTH6: stale sessions among all sessions, and users with more sessions active in the window than the
    limit (000 §4)."""
    table, problem, error = _resolve(
        reader, "data.sessions", sessions, {"user_id": "any", "last_activity": "time"}
    )
    base: dict[str, Any] = {
        "dataset": table.key, "table": sessions.table, "stale_after_days": stale_after_days,
        "window_h": window_h, "max_sessions_per_user": max_sessions_per_user,
    }
    if problem or error:
        return SessionCounts(**base, problem=problem, error=error)
    stale, error = _scalars(
        reader,
        sql.SQL("SELECT count(*) FILTER (WHERE {old}), max({age}) FILTER (WHERE {old2}), count(*) FROM {t}").format(
            age=_age_s(table, "last_activity"), t=table.ident, old=_older(table, "last_activity"),
            old2=_older(table, "last_activity"),
        ),
        (stale_after_days * 24, stale_after_days * 24),
        "AUTH6 stale sessions",
    )
    if error is not None:
        return SessionCounts(**base, error=error)
    busy, error = _listing(
        reader,
        sql.SQL(
            "SELECT {user}::text AS user_id, count(*) AS sessions, max({last}) AS last_activity, count(*) OVER () "
            "FROM {t} WHERE {w} GROUP BY {user} HAVING count(*) > %s ORDER BY sessions DESC, user_id LIMIT {n}"
        ).format(
            user=table.col("user_id"), last=_as_timestamptz(table, "last_activity"), t=table.ident,
            w=_newer(table, "last_activity"), n=sql.Literal(EXAMPLES),
        ),
        (window_h, max_sessions_per_user),
        "AUTH6 sessions per user",
    )
    return SessionCounts(
        **base, stale=int(stale[0] or 0) if stale else 0, total=int(stale[2] or 0) if stale else 0,
        oldest_stale_age_s=float(stale[1]) if stale and stale[1] is not None else None, busy_users=busy, error=error,
    )


def failed_logins(
    reader: PgReader, attempts: AuthAttempts, *, window_h: float, max_failed_logins: float
) -> FailedLogins:
    """SEC1: IPs with more failed logins in the window than the limit (001 security-audit.sh, 1)."""
    table, problem, error = _resolve(
        reader, "data.auth_attempts", attempts, {"ip": "any", "success": "flag", "at": "time"}
    )
    base: dict[str, Any] = {
        "dataset": table.key, "table": attempts.table, "window_h": window_h, "max_failed_logins": max_failed_logins
    }
    if problem or error:
        return FailedLogins(**base, problem=problem, error=error)
    at = _as_timestamptz(table, "at")
    listing, error = _listing(
        reader,
        sql.SQL(
            "SELECT {ip} AS ip, count(*) AS attempts, min({at}) AS first_attempt, max({at}) AS last_attempt, "
            "count(*) OVER () FROM {t} WHERE {failed} AND {w} GROUP BY {ip} HAVING count(*) > %s "
            "ORDER BY attempts DESC, ip LIMIT {n}"
        ).format(
            ip=table.col("ip"), at=at, t=table.ident, failed=_flag(table, "success", False),
            w=_newer(table, "at"), n=sql.Literal(EXAMPLES),
        ),
        (window_h, max_failed_logins),
        "SEC1 failed logins per IP",
    )
    return FailedLogins(**base, ips=listing, error=error)


def escalations(reader: PgReader, audit: AuditLog, *, window_days: float) -> Escalations:
    """SEC2: escalation actions in the window not on the allow list (001 security-audit.sh, 2).

    The runbook's `... OR action LIKE '%privilege%' AND timestamp > ...` binds AND first, so it lists
    admin actions of any age; here the patterns are grouped before the time filter applies."""
    table, problem, error = _resolve(
        reader, "data.audit_log", audit, {"user_id": "any", "action": "any", "at": "time", "ip": "any"}
    )
    base: dict[str, Any] = {
        "dataset": table.key, "table": audit.table, "window_days": window_days,
        "patterns": tuple(audit.patterns), "allow": tuple(audit.allow),
    }
    if problem or error:
        return Escalations(**base, problem=problem, error=error)
    user, action = table.col("user_id"), table.col("action")
    allowed = sql.SQL("(COALESCE({users}, false) OR COALESCE({actions}, false))").format(
        users=_in(user, audit.allow), actions=_in(action, audit.allow)
    )
    listing, error = _listing(
        reader,
        sql.SQL(
            "SELECT {user}::text AS user_id, {action}::text AS action, {ip} AS ip, {at} AS at, "
            "count(*) OVER () FROM {t} WHERE {w} AND {like} AND NOT {allowed} ORDER BY {at} DESC LIMIT {n}"
        ).format(
            user=user, action=action, ip=table.col("ip"), at=_as_timestamptz(table, "at"), t=table.ident,
            w=_newer(table, "at"), like=_like_any(action, audit.patterns), allowed=allowed, n=sql.Literal(EXAMPLES),
        ),
        (window_days * 24, *(_contains(p) for p in audit.patterns), *audit.allow, *audit.allow),
        "SEC2 escalation actions",
    )
    return Escalations(**base, actions=listing, error=error)


def dormant_users(reader: PgReader, users: Users, *, dormant_days: float) -> DormantUsers:
    """SEC3: users with no login in `dormant_days`, or never logged in and created before then (001
    "User Role Management", 4); an account created yesterday that has not logged in yet is not dormant."""
    table, problem, error = _resolve(
        reader, "data.users", users, {"id": "any", "last_login": "time", "created_at": "time"}
    )
    base: dict[str, Any] = {"dataset": table.key, "table": users.table, "dormant_days": dormant_days}
    if problem or error:
        return DormantUsers(**base, problem=problem, error=error)
    dormant = sql.SQL("({old_login} OR ({login} IS NULL AND ({created} IS NULL OR {old_created})))").format(
        old_login=_older(table, "last_login"), login=table.col("last_login"),
        created=table.col("created_at"), old_created=_older(table, "created_at"),
    )
    hours = dormant_days * 24
    counts, error = _scalars(
        reader,
        sql.SQL("SELECT count(*), count(*) FILTER (WHERE {d}) FROM {t}").format(d=dormant, t=table.ident),
        (hours, hours),
        "SEC3 users",
    )
    if error is not None:
        return DormantUsers(**base, error=error)
    listing, error = _listing(
        reader,
        sql.SQL(
            "SELECT {id}::text AS id, {login} AS last_login, {created} AS created_at, count(*) OVER () "
            "FROM {t} WHERE {d} ORDER BY {login} ASC NULLS FIRST, {id} LIMIT {n}"
        ).format(
            id=table.col("id"), login=_as_timestamptz(table, "last_login"),
            created=_as_timestamptz(table, "created_at"), t=table.ident, d=dormant, n=sql.Literal(EXAMPLES),
        ),
        (hours, hours),
        "SEC3 dormant users",
    )
    return DormantUsers(
        **base, total=int(counts[0] or 0) if counts else 0,
        dormant=Listing(int(counts[1] or 0) if counts else 0, listing.examples), error=error,
    )


def api_key_review(reader: PgReader, keys: ApiKeys, *, unused_days: float) -> ApiKeyReview:
    """SEC4: active keys past their expiry, and active keys unused for `unused_days` (never used: counted
    from their creation) (001 "API Key Management", 1)."""
    table, problem, error = _resolve(
        reader, "data.api_keys", keys,
        {"id": "any", "user_id": "any", "expires_at": "time", "last_used": "time", "created_at": "time",
         "active": "flag"},
    )
    base: dict[str, Any] = {"dataset": table.key, "table": keys.table, "unused_days": unused_days}
    if problem or error:
        return ApiKeyReview(**base, problem=problem, error=error)
    active = _flag(table, "active", True)
    expires = _as_timestamptz(table, "expires_at")
    expired, error = _listing(
        reader,
        sql.SQL(
            "SELECT {id}::text AS id, {user}::text AS user_id, {exp} AS expires_at, "
            "extract(epoch FROM now() - {exp})::float8 AS expired_s, count(*) OVER () "
            "FROM {t} WHERE {active} AND {exp} < now() ORDER BY {exp} ASC, {id} LIMIT {n}"
        ).format(
            id=table.col("id"), user=table.col("user_id"), exp=expires, t=table.ident, active=active,
            n=sql.Literal(EXAMPLES),
        ),
        (),
        "SEC4 expired active keys",
    )
    if error is not None:
        return ApiKeyReview(**base, error=error)
    hours = unused_days * 24
    unused, error = _listing(
        reader,
        sql.SQL(
            "SELECT {id}::text AS id, {user}::text AS user_id, {last} AS last_used, {created} AS created_at, "
            "count(*) OVER () FROM {t} WHERE {active} AND ({exp} IS NULL OR {exp} >= now()) "
            "AND ({old_use} OR ({last_col} IS NULL AND {old_created})) "
            "ORDER BY {last} ASC NULLS FIRST, {id} LIMIT {n}"
        ).format(
            id=table.col("id"), user=table.col("user_id"), last=_as_timestamptz(table, "last_used"),
            created=_as_timestamptz(table, "created_at"), t=table.ident, active=active, exp=expires,
            old_use=_older(table, "last_used"), last_col=table.col("last_used"),
            old_created=_older(table, "created_at"), n=sql.Literal(EXAMPLES),
        ),
        (hours, hours),
        "SEC4 unused keys",
    )
    return ApiKeyReview(**base, expired_active=expired, unused=unused, error=error)


def heavy_api_use(reader: PgReader, usage: ApiUsage, *, window_h: float, limit: float) -> HeavyApiUse:
    """SEC5: user + IP pairs with more requests in the window than `limit` (001 "API Key Management", 3)."""
    table, problem, error = _resolve(
        reader, "data.api_usage", usage, {"user_id": "any", "ip": "any", "at": "time"}
    )
    base: dict[str, Any] = {"dataset": table.key, "table": usage.table, "window_h": window_h, "limit": limit}
    if problem or error:
        return HeavyApiUse(**base, problem=problem, error=error)
    at = _as_timestamptz(table, "at")
    listing, error = _listing(
        reader,
        sql.SQL(
            "SELECT {user}::text AS user_id, {ip} AS ip, count(*) AS requests, min({at}) AS first_request, "
            "max({at}) AS last_request, count(*) OVER () FROM {t} WHERE {w} GROUP BY {user}, {ip} "
            "HAVING count(*) > %s ORDER BY requests DESC, user_id, ip LIMIT {n}"
        ).format(
            user=table.col("user_id"), ip=table.col("ip"), at=at, t=table.ident, w=_newer(table, "at"),
            n=sql.Literal(EXAMPLES),
        ),
        (window_h, limit),
        "SEC5 requests per user and IP",
    )
    return HeavyApiUse(**base, pairs=listing, error=error)


def recent_bookings(
    reader: PgReader, bookings: Bookings, *, window_h: float, now: datetime | None = None
) -> RecentBookings:
    """BIZ1: bookings created in the last `window_h` hours, counted by minute (at most 60 rows an hour),
    so that the assessment judges the open business hours among them (001 daily-report.sh's
    `today_bookings`). The window ends at the database's now(), or at `now` when given (tests)."""
    table, problem, error = _resolve(reader, "data.bookings", bookings, {"created_at": "time"})
    base: dict[str, Any] = {"dataset": table.key, "table": bookings.table, "window_h": window_h}
    if problem or error:
        return RecentBookings(**base, problem=problem, error=error)
    anchor = sql.SQL("now()") if now is None else sql.SQL("{}::timestamptz").format(sql.Literal(now.isoformat()))
    created = _as_timestamptz(table, "created_at")
    result = reader.query(
        sql.SQL(
            "SELECT {now}, array_agg(m ORDER BY m), array_agg(c ORDER BY m) FROM (SELECT date_trunc('minute', {c}) "
            "AS m, count(*) AS c FROM {t} WHERE {c} > {now} - %s * interval '1 hour' AND {c} <= {now} GROUP BY 1) x"
        ).format(now=anchor, c=created, t=table.ident).as_string(None),
        (window_h,),
        label="BIZ1 recent bookings",
        max_rows=1,
    )
    if result.error is not None or not result.rows:
        return RecentBookings(**base, error=result.error)
    at, minutes, counts = result.rows[0]
    return RecentBookings(
        **base, now=at, per_minute=tuple(zip(minutes or (), (int(c) for c in counts or ()), strict=True))
    )
