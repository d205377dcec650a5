"""How fast and how small the environment-file loader is on very large files: `python -m bench loader`.

Writes a file of 100,000 endpoints and a 3.6 MB file with one typo (issue 17: 51-54 s and 350 MB to
refuse it before), loads each in a fresh interpreter `--repeat` times, and prints the median wall time
of `load_environment` and the process's peak RSS (ru_maxrss) against the targets: under 10 s and
under 300 MB, loaded or refused.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
TARGET_S, TARGET_MB = 10.0, 300.0

_MEASURE = """
import json, sys, time
from pathlib import Path

def peak_mb():
    # VmHWM: this process's own peak; ru_maxrss would include the parent's, inherited over fork and exec
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024

from healthsuite.environment.loader import EnvironmentFileError, load_environment
start = time.perf_counter()
try:
    env = load_environment(Path(sys.argv[1]), {})
    outcome = f"loaded {len(env.model.endpoints) + len(env.model.pages)} targets"
except EnvironmentFileError as exc:
    outcome = str(exc)
print(json.dumps({"outcome": outcome, "seconds": time.perf_counter() - start, "max_rss_mb": peak_mb()}))
"""


def write_endpoints(path: Path, count: int, typo_at: int | None = None) -> Path:
    """An environment file of `count` endpoints; `typo_at`: the one whose `path` is misspelt `pth`."""
    lines = ["name: big", "kind: test", "base_urls: {app: 'https://app.example.com'}", "endpoints:"]
    for i in range(count):
        key = "pth" if i == typo_at else "path"
        lines.append(f"  - name: endpoint-{i}\n    {key}: /api/v1/items/{i}/details")
    path.write_text("\n".join(lines) + "\n")
    return path


def load_in_child(path: Path) -> dict[str, Any]:
    """One load of `path` in a fresh interpreter: outcome (`loaded N targets` or the whole message),
    seconds of load_environment, and the child's own peak RSS."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], cwd=PROJECT, capture_output=True,
                          text=True, check=True, timeout=600)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def measure(path: Path, repeat: int) -> dict[str, object]:
    runs = [load_in_child(path) for _ in range(repeat)]
    seconds = statistics.median(r["seconds"] for r in runs)
    rss = max(r["max_rss_mb"] for r in runs)
    lines = str(runs[0]["outcome"]).splitlines()
    outcome = lines[0] if len(lines) == 1 else "refused: " + lines[1].strip()
    return {"file": path.name, "size_mb": round(path.stat().st_size / 1e6, 1), "outcome": outcome,
            "seconds": round(seconds, 2), "max_rss_mb": round(rss, 1),
            "verdict": "PASS" if seconds < TARGET_S and rss < TARGET_MB else "MISS"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench loader")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        rows = [
            measure(write_endpoints(Path(directory) / "endpoints-100000.yaml", 100_000), args.repeat),
            measure(write_endpoints(Path(directory) / "typo-3.6mb.yaml", 60_000, typo_at=41_234), args.repeat),
        ]
    print(f"| file | MB | outcome | load s (median of {args.repeat}) | peak RSS MB | target | verdict |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        outcome = str(row["outcome"])[:60]
        print(f"| {row['file']} | {row['size_mb']} | {outcome} | {row['seconds']} | {row['max_rss_mb']} "
              f"| < {TARGET_S:g} s, < {TARGET_MB:g} MB | {row['verdict']} |")
    return 0 if all(row["verdict"] == "PASS" for row in rows) else 1
