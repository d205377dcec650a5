"""A body a target answers is parsed as JSON in bounded depth and memory (healthsuite.probes.http,
loads_bounded, the one parser of every JSON body): a body nested 100,000 levels and 60 MB of `[{},...]`
served by a loopback server fail AV2 and a declared http check cleanly, naming the limit, in a real run
whose peak memory stays under 1 GB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from healthsuite.probes.http import JSON_MAX_BYTES, JSON_MAX_DEPTH, JsonRefused, loads_bounded
from tests.conftest import CHECKS, PROJECT
from tests.localhttp import Answer, serving

DEEP = b"[" * 100_000 + b"]" * 100_000  # 200 KB
WIDE = b"[" + b"{}," * (20 * 1024 * 1024 - 1) + b"{}]"  # 60 MB of empty objects
PEAK_LIMIT_KB = 1024 * 1024
RUN_TIMEOUT_S = 60

_IN_CHILD = """
import sys
import pytest
code = pytest.main(sys.argv[1:])
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("PEAK_KB", peak.split()[1], file=sys.stderr)
sys.exit(code)
"""


def test_depth_and_size_are_checked_before_parsing() -> None:
    assert loads_bounded(b'{"a": [1, {"b": "[[[[\\" {"}], "c": "\\\\"}') == {"a": [1, {"b": '[[[[" {'}], "c": "\\"}
    nested = b"[" * JSON_MAX_DEPTH + b"]" * JSON_MAX_DEPTH
    assert loads_bounded(nested) == json.loads(nested)
    mixed = b'{"a":[' * (JSON_MAX_DEPTH // 2) + b"1" + b"]}" * (JSON_MAX_DEPTH // 2)
    assert loads_bounded(mixed)
    for deeper in (b"[" + nested + b"]", b"[" * 100_000, b'{"a":' * 150 + b"[" * 60):
        with pytest.raises(JsonRefused, match=f"nested deeper than {JSON_MAX_DEPTH} levels"):
            loads_bounded(deeper)
    assert loads_bounded(b'["' + b"[" * 100_000 + b'"]') == ["[" * 100_000]  # brackets in a string are text
    with pytest.raises(JsonRefused, match=f"over the {JSON_MAX_BYTES:,} parsed as JSON"):
        loads_bounded(b" " * JSON_MAX_BYTES + b"1")
    with pytest.raises(ValueError):  # not JSON: an unterminated string full of escaped quotes, in linear time
        loads_bounded(b'"' + b'\\"' * 1_000_000)


def _answer(handler: object) -> Answer:
    path = getattr(handler, "path", "")
    return Answer(200, "application/json", DEEP if path.startswith("/deep") else WIDE)


def test_hostile_json_bodies_fail_av2_and_a_declared_check_cleanly_in_bounded_memory(tmp_path: Path) -> None:
    with serving(_answer) as url:
        env = tmp_path / "bodies.yaml"
        env.write_text(f"""\
name: bodies
kind: test
timeouts: {{http_s: 20}}
http: {{max_body_bytes: 67108864}}
health:
  - {{name: deep, url: "{url}/deep", body: [{{path: status, equals: ok}}]}}
  - {{name: wide, url: "{url}/wide", body: [{{path: status, equals: ok}}]}}
declared_checks:
  - {{name: deep-declared, diagnosis: AV1, http: {{url: "{url}/deep/declared"}}, expect: json.status == "ok"}}
  - {{name: wide-declared, diagnosis: AV1, http: {{url: "{url}/wide/declared"}}, expect: json.status == "ok"}}
""")
        reports = tmp_path / "reports"
        done = subprocess.run(
            [sys.executable, "-c", _IN_CHILD, str(CHECKS), f"--env={env}", f"--reports-dir={reports}",
             "-p", "no:cacheprovider", "-p", "no:randomly", "-q", "--diagnosis", "AV1,AV2"],
            cwd=PROJECT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output and "RecursionError" not in output, output
    peak_kb = int(output.split("PEAK_KB ", 1)[1].split()[0])
    assert peak_kb < PEAK_LIMIT_KB, f"peak {peak_kb:,} kB"
    report = json.loads((reports / "latest.json").read_text())
    records = {r["target"]: r for r in report["checks"]}
    limits = {"deep": f"nested deeper than {JSON_MAX_DEPTH} levels", "wide": f"over the {JSON_MAX_BYTES:,}"}
    for body, limit in limits.items():
        for target in (body, f"{body}-declared"):
            record = records[target]
            assert record["outcome"] == "failed", record
            assert limit in str(record["observed"]), record
