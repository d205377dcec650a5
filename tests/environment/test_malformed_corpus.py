"""Issue 17: no environment file can break a run. The corpus in tests/malformed/ (written by its
make_corpus.py) holds files a person or a tool could hand to `--env`; every one is refused with its
exact message (tests/malformed/expected.json), naming the file, the line, the key path where there is
one, and the fix: never a traceback, a hang, a socket, or a check run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.loader import load_in_child, write_endpoints

PROJECT = Path(__file__).resolve().parents[2]
CORPUS = PROJECT / "tests" / "malformed"
CHECKS = PROJECT / "checks"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text())
FILES = sorted(p.stem for p in CORPUS.glob("*.yaml"))

# loads every corpus file in a fresh interpreter with an audit hook on sockets; prints the results
_DRIVER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    opened = []
    sys.addaudithook(lambda event, args: opened.append(event) if event.startswith("socket.") else None)
    from healthsuite.environment.loader import EnvironmentFileError, load_environment
    results = {}
    for path in sorted(Path(sys.argv[1]).glob("*.yaml")):
        try:
            load_environment(path, {})
            results[path.stem] = "LOADED (not refused)"
        except EnvironmentFileError as exc:
            results[path.stem] = str(exc).replace(sys.argv[1], "{corpus}")
    print(json.dumps({"results": results, "sockets": sorted(set(opened))}))
    """
)


@pytest.fixture(scope="module")
def corpus_run() -> dict[str, object]:
    """The whole corpus loaded once, in a child with a bound: a hang fails the test, not the suite."""
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(CORPUS)], cwd=PROJECT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_corpus_holds_at_least_120_files_each_with_its_expected_message() -> None:
    assert len(FILES) >= 120
    assert sorted(EXPECTED) == FILES, "run: python tests/malformed/make_corpus.py --expected, then read the diff"


@pytest.mark.parametrize("name", FILES)
def test_malformed_file_is_refused_with_its_exact_message(name: str, corpus_run: dict[str, dict[str, str]]) -> None:
    message = corpus_run["results"][name]
    assert message == EXPECTED[name]
    assert message.startswith(f"{{corpus}}/{name}.yaml: "), message
    assert re.search(r"\bline \d+( column \d+)?: (\(top level\)|[^ ]+): ", message), f"no line and key path in: {message}"
    assert "\n  fix: " in message or "\n    fix: " in message, f"no fix in: {message}"
    assert "Traceback" not in message and "Error:" not in message.split("\n")[0][:40]


def test_no_file_of_the_corpus_opens_a_socket(corpus_run: dict[str, object]) -> None:
    assert corpus_run["sockets"] == []


def test_every_literal_secret_of_the_corpus_stays_out_of_its_message() -> None:
    for name, message in EXPECTED.items():
        for secret in ("hunter2", "eyJhbGciOiJIUzI1NiJ9", "YWRtaW46aHVudGVyMg", "5f2b7c9a", "abc123"):
            assert secret not in message, f"{name} echoes {secret}"


# one file of each class through the real command line: exit 4 (pytest's usage error), no check run
THROUGH_PYTEST = [
    "bytes-latin1-value", "bytes-utf16-le-bom", "yaml-alias-bomb", "yaml-deep-flow-5000", "yaml-python-tag",
    "url-port-99999", "redis-port-not-a-number", "dsn-keyvalue-password", "secret-header-bearer",
    "threshold-samples-billion", "ca-bundle-not-pem", "place-duplicate-page-names", "secrets-file-garbage-line",
]


def test_through_pytest_each_class_is_a_usage_error_with_exit_4(tmp_path: Path) -> None:
    runs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "pytest", str(CHECKS), f"--env={CORPUS / name}.yaml",
             f"--reports-dir={tmp_path / name}", "-p", "no:cacheprovider"],
            cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "HEALTHSUITE_ENV": ""},
        )
        for name in THROUGH_PYTEST
    }
    for name, process in runs.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 4, f"{name}: exit {process.returncode}\n{out}\n{err}"
        both = out + err
        assert "Traceback" not in both and "INTERNALERROR" not in both, both
        assert EXPECTED[name].replace("{corpus}", str(CORPUS)).split("\n")[0] in both, both
        assert not re.search(r"\b\d+ (passed|failed|error)", both), f"{name}: checks ran\n{both}"
        assert not (tmp_path / name).exists() or not any((tmp_path / name).glob("*.json")), name


# --- size: a file of 100,000 endpoints, and a 3.6 MB file with one typo ---------------------------

def test_a_100000_endpoint_file_loads_in_bounded_memory(tmp_path: Path) -> None:
    """Memory is bounded here (under 300 MB); the time is printed, and measured by `python -m bench loader`."""
    result = load_in_child(write_endpoints(tmp_path / "big.yaml", 100_000))
    print(f"100,000 endpoints: {result}")
    assert result["outcome"] == "loaded 100000 targets"
    assert float(result["max_rss_mb"]) < 300  # type: ignore[arg-type]


def test_a_large_file_with_one_typo_is_refused_naming_its_line(tmp_path: Path) -> None:
    path = write_endpoints(tmp_path / "typo.yaml", 60_000, typo_at=41_234)
    assert path.stat().st_size > 3_600_000
    result = load_in_child(path)
    print(f"3.6 MB with one typo: { {k: v for k, v in result.items() if k != 'outcome'} }")
    outcome = str(result["outcome"])
    assert "(1 problem)" in outcome and "line 82474: endpoints[41234].pth: unknown key" in outcome, outcome
    assert "did you mean `path`?" in outcome
    assert float(result["max_rss_mb"]) < 300  # type: ignore[arg-type]


def test_a_file_with_a_hundred_thousand_problems_lists_fifty(tmp_path: Path) -> None:
    path = tmp_path / "all-wrong.yaml"
    path.write_text("name: t\nkind: test\nbase_urls: {app: 'https://a.example.com'}\nendpoints:\n"
                    + "".join(f"  - {{name: e{i}, path: x{i}}}\n" for i in range(100_000)))
    outcome = str(load_in_child(path)["outcome"])
    assert "(100000 problems)" in outcome
    assert outcome.count("fix:") == 50 and "... and 99950 more; fix these first (the first 50 are shown)" in outcome
