"""Reports are never lost: writers finishing in the same second (same environment, same `finished`) each
get their own `<env>-<timestamp>[-N].json`, complete and mode 0640, and the previous-report lookups
read the newest of them, never the history or notification state kept beside them."""

from __future__ import annotations

import json
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from healthsuite.outputs import json_report as reports

FINISHED = datetime(2026, 12, 3, 8, 0, 0, tzinfo=UTC)
WRITERS = 8


def _report(writer: int) -> dict[str, Any]:
    # big enough that writing it takes a while: a check-then-write writer loses one of two at once
    return {
        "environment": {"name": "race"},
        "writer": writer,
        "checks": [{"diagnosis": f"X{n}", "outcome": "passed", "message": "m" * 200} for n in range(2000)],
        "probe_latency_s": {f"target-{writer}": float(writer)},
    }


def test_writers_finishing_at_once_each_keep_a_complete_report(tmp_path: Path) -> None:
    barrier = threading.Barrier(WRITERS)
    written: dict[int, Path] = {}
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            barrier.wait(timeout=10)
            written[writer] = reports.write_report(tmp_path, "race", _report(writer), now=FINISHED)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(set(written.values())) == WRITERS, sorted(p.name for p in written.values())
    names = sorted(p.name for p in tmp_path.glob("race-*.json"))
    assert names == sorted(["race-20261203T080000Z.json"] + [f"race-20261203T080000Z-{n}.json"
                                                            for n in range(2, WRITERS + 1)])
    for writer, path in written.items():
        document = json.loads(path.read_text())  # complete JSON, and the writer's own
        assert document["writer"] == writer and len(document["checks"]) == 2000
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
    latest = json.loads((tmp_path / "latest.json").read_text())
    assert latest["writer"] in written and stat.S_IMODE((tmp_path / "latest.json").stat().st_mode) == 0o640
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_previous_report_lookups_read_the_newest_report_not_the_state_files(tmp_path: Path) -> None:
    first = reports.write_report(tmp_path, "race", _report(1), now=FINISHED)
    second = reports.write_report(tmp_path, "race", _report(2), now=FINISHED)
    assert (first.name, second.name) == ("race-20261203T080000Z.json", "race-20261203T080000Z-2.json")
    (tmp_path / "latest.json").unlink()  # so the lookup goes to the timestamped reports
    # the state kept beside the reports, and another environment's report, are not this one's report
    for name in ("race.history.json", "race.notified.json", "race-history.json"):
        (tmp_path / name).write_text(json.dumps({"environment": {"name": "race"}, "probe_latency_s": {"x": 9.0}}))
    reports.write_report(tmp_path, "race-eu", _report(3), now=datetime(2027, 1, 1, tzinfo=UTC))
    (tmp_path / "latest.json").unlink()
    assert reports.previous_probe_latency(tmp_path, "race") == {"target-2": 2.0}
    assert list(reports._latest_reports(tmp_path, "race"))[1:] == [second]
