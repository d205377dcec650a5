"""healthsuite.assessments.pg_activity on its own: thresholds and leaked queries (DB3, DB5)."""

from __future__ import annotations

from healthsuite.assessments import pg_activity as judge
from healthsuite.probes.pg_activity import Backend, ConnectionCount, LongQueries

# --- judging, without a server ---------------------------------------------------------------------------


def test_DB3_DB5_fails_at_the_threshold_itself_and_DB5_names_leaks_only_past_their_limit() -> None:
    usage = ConnectionCount("db", connections=23, max_connections=30, superuser_reserved=3)
    assert judge.connection_usage(usage, 80).ok
    assert not judge.connection_usage(ConnectionCount("db", connections=24, max_connections=30), 80).ok
    slow = Backend(pid=7, user="app", application="api", state="active", age_s=400.0, query="SELECT 1")
    finding = judge.long_running_queries(LongQueries("db", 300, count=1, leaked=0, examples=(slow,)), 300, 600)
    assert not finding.ok and "leaked" not in finding.observed
    assert finding.observed == (
        "1 active query older than 5 min: pid 7 (api, user app) running for 6 min 40 s: 'SELECT 1'"
    )
    assert [judge.duration(s) for s in (3.25, 42, 3600, 5400, 3 * 86400)] == ["3.2 s", "42 s", "1 h", "1 h 30 min", "3 d"]
