"""healthsuite.assessments.pg_schema on its own: PERF4's deltas from the previous counters and
PERF5's full scans."""

from __future__ import annotations

from healthsuite.assessments.pg_schema import full_scans, statement_deltas
from healthsuite.assessments.pg_schema import slow_statements as judge_statements
from healthsuite.model.schema import HotQuery
from healthsuite.probes.pg_schema import (
    PlanObservation,
    StatementCounters,
    StatementsObservation,
    parse_snapshot,
    scan_nodes,
)


def test_PERF4_deltas_from_the_previous_counters() -> None:
    """Pure: calls and total time minus the previous run's; counters that went back (a reset of one
    statement) are judged from the reset; a statement the previous run did not keep, from its first call."""

    def counters(key: str, calls: int, total_ms: float) -> StatementCounters:
        return StatementCounters(key, f"SELECT {key}", "app", calls, total_ms)

    before = StatementsObservation(
        "monitor", statements=3, counters=(counters("1:1", 100, 5000.0), counters("1:2", 10, 100.0)),
        stats_reset="2024-01-01",
    )
    now = StatementsObservation(
        "monitor", statements=3,
        counters=(counters("1:1", 110, 5050.0), counters("1:2", 2, 900.0), counters("1:3", 1, 50.0)),
        stats_reset="2024-01-01",
    )
    snapshot = parse_snapshot(before.snapshot())
    assert snapshot is not None and snapshot.counters == {"1:1": (100, 5000.0), "1:2": (10, 100.0)}
    deltas = {d.counters.key: (d.calls, d.total_ms, d.basis) for d in statement_deltas(now, snapshot)}
    assert deltas == {"1:1": (10, 50.0, "previous run"), "1:2": (2, 900.0, "reset"), "1:3": (1, 50.0, "new")}
    # 1:1's all-time mean (45.9 ms) and its new calls' (5 ms) pass; 1:2's 450 ms since its reset fails
    finding = judge_statements(now, 100, before.snapshot())
    assert not finding.ok and finding.observed.startswith(
        "1 statement with a mean over 100 ms since the previous run: 450 ms x2 `SELECT 1:2`"
    ), finding.observed
    unchanged = judge_statements(before, 100, before.snapshot())
    assert unchanged.ok and "0 statements called since" in unchanged.observed
    assert parse_snapshot("not json") is None and parse_snapshot(None) is None


# --- pure functions ------------------------------------------------------------------------------------


def _plan(*scans: dict) -> PlanObservation:
    return PlanObservation(HotQuery(name="q", sql="SELECT 1"), tuple(s for node in scans for s in scan_nodes(node)))


def test_PERF5_full_scans_flag_seq_scans_and_whole_index_reads_of_large_tables_only() -> None:
    seq = {"Node Type": "Seq Scan", "Relation Name": "appointments", "Schema": "public", "Filter": "(x = 1)"}
    small = {"Node Type": "Seq Scan", "Relation Name": "tenants", "Schema": "public"}
    filtered_index = {"Node Type": "Index Scan", "Relation Name": "payments", "Schema": "public",
                      "Index Name": "payments_pkey", "Filter": "(status = 'x')"}
    top_n = {"Node Type": "Limit", "Plans": [{"Node Type": "Index Scan", "Relation Name": "payments",
                                               "Schema": "public", "Index Name": "idx_created"}]}
    sorted_all = {"Node Type": "Limit", "Plans": [{"Node Type": "Sort", "Plans": [
        {"Node Type": "Index Only Scan", "Relation Name": "payments", "Schema": "public", "Index Name": "pk"}]}]}
    selective = {"Node Type": "Index Scan", "Relation Name": "appointments", "Schema": "public",
                 "Index Name": "idx", "Index Cond": "(tenant_id = 'a')"}
    large = ["appointments", "public.payments"]
    found = full_scans(_plan(seq, small, filtered_index, top_n, sorted_all, selective), large)
    assert [n.describe() for n in found] == [
        "Seq Scan on public.appointments (Filter: (x = 1))",
        "Index Scan on public.payments using payments_pkey (Filter: (status = 'x'))",
        "Index Only Scan on public.payments using pk",
    ]
    assert [n.relation for n in full_scans(_plan(small), [])] == ["public.tenants"]  # none declared: all count
    assert full_scans(_plan(seq), ["billing.appointments"]) == []
