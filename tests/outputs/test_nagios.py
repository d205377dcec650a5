"""Nagios/Icinga mode (--nagios) read as Nagios reads it: pytest run in a subprocess with a timeout, as
Icinga runs a plugin, against a loopback HTTP server whose failing answers quote `|`, line breaks and
control characters; the whole output parsed by the grammar of the Monitoring Plugins Development
Guidelines (and Nagios Core 4's split of it into output, long output and performance data)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from healthsuite.outputs.nagios import OUTPUT_BYTES, nagios_status, one_line, perf_label, perf_value, unknown
from healthsuite.outputs.records import OUTCOMES
from healthsuite.testing.ports import free_port
from tests.conftest import CHECKS, PROJECT
from tests.localhttp import Answer, serving

STATES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
TOKEN = "ya29.nagios-test-token-never-shown"
UOM = r"(?:s|ms|us|%|B|KB|MB|TB|c)?"
NUMBER = r"-?(?:\d+(?:\.\d*)?|\.\d+)"
RANGE = r"[@~:\d.-]*"  # a threshold range (`10`, `10:`, `~:10`, `@10:20`) or nothing
LABEL = r"'(?:[^']|'')+'|[^'=\s]+"
PERF = re.compile(
    rf"(?P<label>{LABEL})=(?P<value>{NUMBER}|U)(?P<uom>{UOM})"
    rf"(?:;(?P<warn>{RANGE})(?:;(?P<crit>{RANGE})(?:;(?P<min>{NUMBER})?(?:;(?P<max>{NUMBER})?)?)?)?)?"
)


@dataclass
class PluginOutput:
    """A plugin's output as Nagios Core 4 splits it (base/utils.c parse_check_output): the status line's
    text before its first `|` and the performance data after it; the lines after it are long output
    until one holds a `|`: what follows that `|`, and every later line, is long performance data."""

    state: str
    text: str
    perfdata: dict[str, tuple[float | str, str, str, str, str, str]]
    long_output: list[str] = field(default_factory=list)
    long_perfdata: str = ""


def parse_perfdata(text: str) -> dict[str, tuple[float | str, str, str, str, str, str]]:
    """`'label'=value[UOM];[warn];[crit];[min];[max]`, space separated; anything else fails the test."""
    found: dict[str, tuple[float | str, str, str, str, str, str]] = {}
    position, text = 0, text.strip()
    while position < len(text):
        match = PERF.match(text, position)
        assert match, f"not performance data by the guidelines at {text[position:]!r}"
        label = match["label"]
        if label.startswith("'"):
            label = label[1:-1].replace("''", "'")
        assert label not in found, f"label {label!r} twice"
        value = match["value"]
        found[label] = (float(value) if value != "U" else value, match["uom"], match["warn"] or "",
                        match["crit"] or "", match["min"] or "", match["max"] or "")
        position = match.end()
        if position < len(text):
            assert text[position] == " ", f"no space after {match[0]!r}"
            position = len(text) - len(text[position:].lstrip(" "))
    return found


def parse_plugin_output(stdout: str) -> PluginOutput:
    lines = stdout.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    assert lines, "no output"
    first, _, perf = lines[0].partition("|")
    status = re.fullmatch(r"HEALTHSUITE (OK|WARNING|CRITICAL|UNKNOWN) - (.+)", first.rstrip())
    assert status, f"not a status line: {lines[0]!r}"
    output = PluginOutput(status[1], status[2], parse_perfdata(perf))
    long_perf: list[str] = []
    for line in lines[1:]:
        if long_perf:
            long_perf.append(line)
        elif "|" in line:
            before, _, after = line.partition("|")
            output.long_output.append(before)
            long_perf.append(after)
        else:
            output.long_output.append(line)
    output.long_perfdata = "\n".join(long_perf)
    return output


def run_nagios(tmp_path: Path, env: Path, *args: str, diagnoses: str = "AV1,AV2,AV3",
               environ: dict[str, str] | None = None, reports: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}",
         f"--reports-dir={reports or tmp_path / 'reports'}", "-p", "no:cacheprovider", "--diagnosis", diagnoses,
         "--nagios", *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=120, env={**os.environ, **(environ or {})},
    )


def counts_of(report: dict) -> dict[str, float]:
    """The performance data the run meant: its counts by outcome and by severity, from the JSON report."""
    checks = report["checks"]
    failing = [c for c in checks if c["outcome"] in ("failed", "error", "warned")]
    counts: dict[str, float] = {"checks": len(checks)}
    counts.update({o: sum(c["outcome"] == o for c in checks) for o in OUTCOMES})
    counts.update({s: sum(c["severity"] == s for c in failing) for s in ("critical", "high", "medium", "low")})
    counts["causes"] = len(report["causes"])
    return counts


def assert_meant_perfdata(output: PluginOutput, report: dict) -> None:
    duration = output.perfdata.pop("duration")
    assert duration[0] >= 0 and duration[1:] == ("s", "", "", "0", "")  # type: ignore[operator]
    assert output.perfdata == {label: (float(n), "", "", "", "0", "") for label, n in counts_of(report).items()}
    assert output.long_perfdata == ""


# --- `|`, line breaks and control characters in what a check quotes ------------------------------------


def quoting(handler: BaseHTTPRequestHandler) -> Answer:
    if handler.path == "/health":  # AV2: the body condition fails, and the message quotes the body
        return Answer(200, "text/plain", b"ok | x=1\nsecond | y=2 'quoted'=3\n")
    if handler.path == "/typed":  # AV1: a header value with `|` (the observed content type)
        return Answer(200, "text/x | evil=1;2;3", b"<html>hi</html>")
    if handler.path.startswith("/calendar"):  # EXT1: the provider's error message, as it sent it
        message = "token | expired=1\nsecond line | z=9\r\n\x1b[31mred\x00 end"
        body = json.dumps({"error": {"status": "UNAUTHENTICATED", "message": message}}).encode()
        return Answer(401, "application/json", body)
    return Answer()


@pytest.fixture
def quoting_site() -> Iterator[str]:
    with serving(quoting) as url:
        yield url


def quoting_env(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(f"""
name: pipes
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
pages:
  - {{name: home, url: "{url}/", content_type: text/html}}
  - {{name: typed, url: "{url}/typed", content_type: text/html}}
health:
  - name: api
    url: "{url}/health"
    content_type: text/plain
    body:
      - {{contains: healthy}}
integrations:
  calendar:
    url: "{url}/calendar"
    token: ${{NAGIOS_TEST_CALENDAR_TOKEN}}
""")
    return path


def test_quoted_pipes_and_line_breaks_never_bend_the_output(tmp_path: Path, quoting_site: str) -> None:
    done = run_nagios(tmp_path, quoting_env(tmp_path, quoting_site), diagnoses="AV1,AV2,AV3,EXT1",
                      environ={"NAGIOS_TEST_CALENDAR_TOKEN": TOKEN})
    assert done.returncode == 2, done.stdout + done.stderr
    report = json.loads((tmp_path / "reports" / "latest.json").read_text())
    observed = {(c["diagnosis"], c["target"]): c["observed"] for c in report["checks"] if c["outcome"] == "failed"}
    # the run really saw the hostile text (else this test proves nothing)
    assert "|" in observed[("AV1", "typed")] and "|" in observed[("AV2", "api")]
    assert "\n" in observed[("EXT1", "calendar")] and "|" in observed[("EXT1", "calendar")]

    output = parse_plugin_output(done.stdout)
    assert output.state == "CRITICAL" and STATES[output.state] == done.returncode
    assert_meant_perfdata(output, report)
    assert output.perfdata["failed"][0] == 3 and output.perfdata["passed"][0] >= 3
    # every line of the output is either the status line or a long-output line: none was lost to perfdata
    assert output.long_output == done.stdout.splitlines()[1:]
    assert len(output.long_output) == 3  # one line per failure: no cause explains another here
    shown = "\n".join(output.long_output)
    assert "text/x ¦ evil=1;2;3" in shown and "ok ¦ x=1" in shown
    calendar = next(line for line in output.long_output if " EXT1 " in line)
    assert "token ¦ expired=1 second line ¦ z=9 [31mred end" in calendar  # one line, no control characters
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", done.stdout)
    assert TOKEN not in done.stdout + done.stderr


def test_a_usage_error_quoting_a_pipe_is_one_unknown_line(tmp_path: Path) -> None:
    env = tmp_path / "env.yaml"
    env.write_text('name: "prod | x=1"\nkind: test\npages:\n  - {name: home, url: "http://127.0.0.1:1/"}\n')
    done = run_nagios(tmp_path, env)
    assert done.returncode == 3, done.stdout + done.stderr
    output = parse_plugin_output(done.stdout)
    assert output.state == "UNKNOWN" and output.perfdata == {} and output.long_output == []
    assert output.text.startswith("usage error: ") and "prod ¦ x=1" in output.text


def test_a_reports_directory_that_cannot_be_written_is_unknown_and_pipe_safe(tmp_path: Path) -> None:
    blocked = tmp_path / "a|b=1"
    blocked.write_text("a file where the reports directory should be\n")
    site_env = tmp_path / "env.yaml"
    with serving() as url:
        site_env.write_text(f'name: blocked\nkind: test\npages:\n  - {{name: home, url: "{url}/"}}\n')
        done = run_nagios(tmp_path, site_env, diagnoses="AV1", reports=blocked / "reports")
    assert done.returncode == 3, done.stdout + done.stderr
    output = parse_plugin_output(done.stdout)
    assert output.state == "UNKNOWN" and output.long_perfdata == ""
    assert output.perfdata["checks"][0] == 1 and output.perfdata["passed"][0] == 1  # the run's counts stay
    assert "a¦b=1" in output.text


# --- failures told by cause ---------------------------------------------------------------------------


def test_failures_of_one_cause_are_told_once(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with serving(lambda _: Answer(200, "text/x | y", b"hi")) as url:
        env = tmp_path / "env.yaml"
        env.write_text(f"""
name: shared
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
pages:
  - {{name: home, url: "{closed}/", content_type: text/html}}
  - {{name: blog, url: "{closed}/blog", content_type: text/html}}
  - {{name: shop, url: "{closed}/shop", content_type: text/html, severity: low}}
  - {{name: typed, url: "{url}/typed", content_type: text/html, severity: medium}}
""")
        done = run_nagios(tmp_path, env, diagnoses="AV1,AV3")
    assert done.returncode == 2, done.stdout + done.stderr
    report = json.loads((tmp_path / "reports" / "latest.json").read_text())
    [cause] = report["causes"]
    assert len(cause["consequences"]) == 5  # AV1 and AV3 of the three pages behind the closed port

    output = parse_plugin_output(done.stdout)
    assert_meant_perfdata(output, report)
    assert output.perfdata["causes"][0] == 1 and output.perfdata["failed"][0] == 7
    assert re.match(rf"shared: 1 cause: AV1 {cause['target']} \(connection refused\) explains 5 more; "
                    r"1 more failing \(AV1 typed\); ", output.text), output.text
    assert done.stdout.count("connection refused") == 2  # the status line's gist and the cause's line, once each
    cause_line, folded, other = output.long_output
    assert cause_line.startswith(f"CAUSE FAILED critical AV1 {cause['target']}: connection refused")
    assert cause["why"] in cause_line
    assert folded.startswith("  explains 5 more failing: ") and "and 0 more" not in folded
    assert other.startswith("FAILED medium AV1 typed: ") and "text/x ¦ y" in other


# --- a run that cannot start ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [(["--bogus-option"], "unrecognized arguments: --bogus-option"),
     (["--fail-on", "bogus"], "argument --fail-on: invalid choice: 'bogus'"),
     (["-m", "no_such_marker"], "unknown marker 'no_such_marker'")],
)
def test_a_usage_error_is_one_unknown_line_and_exit_3(tmp_path: Path, args: list[str], said: str) -> None:
    env = tmp_path / "env.yaml"
    env.write_text('name: usage\nkind: test\npages:\n  - {name: home, url: "http://127.0.0.1:1/"}\n')
    done = run_nagios(tmp_path, env, *args)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.count("\n") == 1, done.stdout
    output = parse_plugin_output(done.stdout)
    assert output.state == "UNKNOWN" and output.text.startswith("usage error: ") and said in output.text
    assert "usage: " not in output.text and "rootdir" not in output.text  # argparse's synopsis is not the news
    assert "ERROR: " not in done.stderr


def test_nagios_asked_for_through_pytest_addopts_is_unknown_on_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), "-p", "no:cacheprovider", "--bogus-option"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTEST_ADDOPTS": "--nagios"},
    )
    assert done.returncode == 3 and done.stdout == "HEALTHSUITE UNKNOWN - usage error: unrecognized arguments: " \
        "--bogus-option\n", done.stdout + done.stderr


def test_without_nagios_a_usage_error_stays_pytest_s() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), "-p", "no:cacheprovider", "--bogus-option"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 4 and "unrecognized arguments: --bogus-option" in done.stderr
    assert "HEALTHSUITE" not in done.stdout


# --- the output's grammar underneath ----------------------------------------------------------------------


@dataclass
class Record:
    id: str
    diagnosis: str
    severity: str
    target: str
    outcome: str
    observed: str = ""
    message: str = ""
    explained_by: str = ""


def test_labels_values_and_lines_follow_the_grammar() -> None:
    assert perf_label("checks") == "checks" and perf_label("p95 latency") == "'p95 latency'"
    assert perf_label("it's") == "'it''s'" and perf_label("a=b") == "'a=b'" and perf_label("a|b\nc") == "'a¦b c'"
    parsed = parse_perfdata(" ".join([perf_value("it's = 1", 3), perf_value("duration", 1.5, "s"),
                                      perf_value("ratio", 50, "%", warn="80", crit="90", maximum="100")]))
    assert parsed == {"it's = 1": (3.0, "", "", "", "0", ""), "duration": (1.5, "s", "", "", "0", ""),
                      "ratio": (50.0, "%", "80", "90", "0", "100")}
    assert one_line("a | b\r\n\tc\x1b\x00\u2028d\x85e") == "a ¦ b c d e"
    assert one_line("x" * 50, 10) == "xxxxxxx..."
    [line] = unknown("cannot write | perfdata=1\nsecond line")
    assert parse_plugin_output(line + "\n").perfdata == {} and "\n" not in line


def test_a_secret_in_quoted_text_is_redacted() -> None:
    records = [Record("a", "AV1", "critical", "home", "failed", observed=f"said {TOKEN} | x=1")]
    code, lines = nagios_status("prod", records, 1.0, lambda text: text.replace(TOKEN, "[redacted]"))
    assert code == 2 and TOKEN not in "\n".join(lines) and "said [redacted] ¦ x=1" in lines[1]


def test_a_long_list_of_failures_stays_within_what_nagios_reads() -> None:
    records = [Record(f"id{n}", "AV1", "low", f"page-{n}", "failed", observed="HTTP 500 | " + "x" * 300)
               for n in range(200)]
    code, lines = nagios_status("prod", records, 1.0)
    text = "".join(f"{line}\n" for line in lines)
    assert code == 1 and len(text.encode()) <= OUTPUT_BYTES
    output = parse_plugin_output(text)
    assert output.perfdata["failed"][0] == 200 and output.long_perfdata == ""
    assert re.fullmatch(r"and \d+ more lines: see the JSON report", output.long_output[-1])


def test_a_cause_explains_and_the_rest_are_listed() -> None:
    records = [
        Record("db", "DB1", "critical", "main", "failed", observed="connection refused: nothing at db:5432"),
        *(Record(f"c{n}", "DB3", "high", f"t{n}", "failed", observed="connection refused", explained_by="db")
          for n in range(28)),
        Record("sec", "SEC3", "low", "main", "failed", message="header missing\nmore text"),
        Record("ok", "AV1", "critical", "home", "passed"),
    ]
    code, lines = nagios_status("production", records, 2.0, why=lambda cause: "the server refuses" if cause == "db" else "")
    assert code == 2
    assert lines[0].startswith("HEALTHSUITE CRITICAL - production: 1 cause: DB1 main (connection refused) explains "
                               "28 more; 1 more failing (SEC3 main); 1 critical + 28 high + 1 low failing in all; "
                               "1 passed | ")
    assert lines[1:] == [
        "CAUSE FAILED critical DB1 main: connection refused: nothing at db:5432 [the server refuses]",
        "  explains 28 more failing: DB3 t0, DB3 t1, DB3 t10, DB3 t11, DB3 t12 and 23 more",
        "FAILED low SEC3 main: header missing",
    ]
    assert parse_plugin_output("\n".join(lines))
