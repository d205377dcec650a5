"""The JUnit file, rewritten after pytest's junitxml wrote it, so that strict consumers accept it.

pytest writes each check's properties (diagnosis, category, severity, target, runbook, observed,
expected, ...) as `<properties>` under its `<testcase>`: the xunit1 family allows that, but the strict
schema pytest's default xunit2 family targets (the Jenkins xunit plugin's junit-10.xsd) allows
properties only under a `<testsuite>`. `rewrite` keeps what consumers read either way:

- `system-out` (the default under xunit2): a testcase's properties become `key: value` lines of its
  `<system-out>` (GitLab and Jenkins show it), under a `--- healthsuite ---` header, after any output
  pytest captured; a value of several lines continues on lines indented by two spaces.
- `testcase` (the default under xunit1): they stay `<property>` elements of the testcase.

Either way the testsuite is named after the environment (`healthsuite <env>`, unless junit_suite_name
is set), run-wide facts become testsuite properties, and a failing testcase also gets what to do
(`remediation`, `escalation`), whether it changed since the last run (`change`) and the failure that
explains it (`explained_by`). The JSON advice property (`advice`) is replaced by those.

Consumers list a testcase by its `name` alone (Jenkins, GitLab), so a healthsuite testcase (one with a
`diagnosis` property) is renamed to carry what it checked, from its own properties, the function and
parameters kept at the end so the name stays as unique as pytest's was:

    AV3 endpoint appointments [critical]: test_endpoint_answers_without_server_error[endpoint-appointments]
    DB9 database booking [critical]: test_declared_tables_exist[booking]
    AV5 [high]: test_platform_reports_no_incident       (a check of the whole environment: no target)

The target's kind is its environment-file key in the singular (`pages` -> page, `auth.sign_in` stays),
so a page and an endpoint of the same name read apart. The severity is the one the case ran with: a
check whose finding fails at its own severity (NET5's expiry windows, PERF3 at the rollback trigger)
is named with that one.

    rewrite(Path("junit.xml"), mode="system-out", suite_name="healthsuite production",
            suite_properties=[("environment", "production")], extra={("checks.test_x", "test_y[a]"): [...]})
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

MODES = ("auto", "testcase", "system-out")
HEADER = " healthsuite ".center(80, "-")
# recorded for the JSON report; JUnit gets remediation and escalation, and the window in words
DROPPED = frozenset({"advice", "maintenance"})


def mode_for(setting: str, family: str) -> str:
    """`auto` is `testcase` under the xunit1 (legacy) family, which allows testcase properties, and
    `system-out` under xunit2; a bad setting is a ValueError saying which are allowed."""
    value = (setting or "auto").strip()
    if value not in MODES:
        raise ValueError(f"healthsuite_junit_properties = {value!r}: expected one of {', '.join(MODES)}")
    if value == "auto":
        return "testcase" if family in ("xunit1", "legacy") else "system-out"
    return value


def as_lines(items: Sequence[tuple[str, str]]) -> str:
    """`key: value` lines; the lines after a value's first are indented by two spaces."""
    return "\n".join(f"{key}: {value}".replace("\n", "\n  ") for key, value in items)


def parse_lines(text: str) -> list[tuple[str, str]]:
    """The `key: value` lines as_lines wrote, after HEADER in `text` ([] when there is none)."""
    if HEADER not in text:
        return []
    items: list[tuple[str, str]] = []
    for line in text.split(HEADER, 1)[1].split("\n"):
        if line.startswith("----"):
            break
        if line.startswith("  ") and items:
            items[-1] = (items[-1][0], f"{items[-1][1]}\n{line[2:]}")
        elif ": " in line or line.endswith(":"):
            key, _, value = line.partition(": ")
            items.append((key.rstrip(":"), value))
    return items


def rewrite(
    path: Path,
    *,
    mode: str,
    suite_name: str,
    suite_properties: Sequence[tuple[str, str]],
    extra: Mapping[tuple[str, str], Sequence[tuple[str, str]]],
) -> None:
    """Rewrite the JUnit file at `path` (see the module's docstring); `extra` is keyed by testcase
    (classname, name)."""
    tree = ET.parse(path)
    for suite in tree.getroot().iter("testsuite"):
        if suite_name:
            suite.set("name", suite_name)
        if suite_properties:
            properties = suite.find("properties")
            if properties is None:
                properties = ET.Element("properties")
                suite.insert(0, properties)
            for name, value in suite_properties:
                properties.append(ET.Element("property", name=name, value=value))
        for case in suite.findall("testcase"):
            found = extra.get((case.get("classname", ""), case.get("name", "")), ())  # by pytest's name
            case.set("name", case_name(case))
            _rewrite_case(case, mode, found)
    tree.write(path, encoding="utf-8", xml_declaration=True)


_NOT_PLURAL = frozenset({"tls", "cors", "metrics"})  # environment-file keys kept as they are


def kind_word(target_kind: str) -> str:
    """A target kind as a word: the last part of its environment-file key in the singular
    (`pages` -> page, `proxies` -> proxy, `status_pages` -> status page, `tls` stays)."""
    word = target_kind.rsplit(".", 1)[-1]
    if word not in _NOT_PLURAL:
        if word.endswith("ies"):
            word = word[:-3] + "y"
        elif word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
    return word.replace("_", " ")


def display_name(name: str, properties: Mapping[str, str]) -> str:
    """`AV3 page shop [critical]: test_page_answers[shop]`: the diagnosis, the target's kind and name
    and the severity before pytest's `name`; `name` alone when there is no diagnosis."""
    diagnosis = properties.get("diagnosis", "")
    if not diagnosis:
        return name
    words = [diagnosis]
    target = properties.get("target", "")
    if target:
        kind = kind_word(properties.get("target_kind", ""))
        words += [kind, target] if kind else [target]
    severity = properties.get("severity", "")
    if severity:
        words.append(f"[{severity}]")
    prefix = " ".join(words) + ": "
    return name if name.startswith(prefix) else prefix + name


def case_name(case: ET.Element) -> str:
    """The testcase's display_name from its own properties, `<property>` elements (as pytest wrote
    them) or the lines of its system-out (a file rewritten before); the last value of a key counts."""
    properties = dict(parse_lines("".join(out.text or "" for out in case.iter("system-out"))))
    properties.update((p.get("name", ""), p.get("value", "")) for p in case.iter("property"))
    return display_name(case.get("name", ""), properties)


ATTEMPTS_HEADER = " healthsuite attempts ".center(80, "-")


def attempt_lines(value: str) -> tuple[int, list[str]]:
    """The `attempts` property (the JSON list outputs.records keeps): the most attempts, and one line
    per attempt, e.g. `attempt 1 of GET http://host/: reset (connection reset: ...) in 0.003 s`."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return 1, []
    if not isinstance(parsed, list):  # a file rewritten before: the count already
        return parsed if isinstance(parsed, int) else 1, []
    attempts = [a for a in parsed if isinstance(a, dict)]
    lines = []
    for a in attempts:
        said = a.get("outcome", "")
        if a.get("error"):
            said = f"{said} ({a['error']})"
        waited = f", after waiting {a.get('waited_s', 0):g} s" if a.get("waited_s") else ""
        lines.append(f"attempt {a.get('attempt', '?')} of {a.get('exchange', 'the exchange')}: {said} in "
                     f"{a.get('duration_s', 0):g} s{waited}")
    return max((int(a.get("attempt", 1)) for a in attempts), default=1), lines


def _with_attempts(case: ET.Element, items: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """`attempts` as a count (attempts=2) and a passing case's verdict (passed after retry); the lines
    of every attempt, for system-out."""
    value = next((v for k, v in items if k == "attempts"), None)
    if value is None:
        return items, []
    count, lines = attempt_lines(value)
    items = [(k, str(count) if k == "attempts" else v) for k, v in items]
    passed = not any(case.find(tag) is not None for tag in ("failure", "error", "skipped"))
    if passed and not any(k == "verdict" for k, _ in items):  # a warning says so already
        items.append(("verdict", "passed after retry"))
    return items, lines


def _rewrite_case(case: ET.Element, mode: str, extra: Sequence[tuple[str, str]]) -> None:
    properties = case.find("properties")
    items = [] if properties is None else [(p.get("name", ""), p.get("value", "")) for p in properties]
    told, attempts = _with_attempts(case, items)
    if attempts:
        _append_out(case, f"{ATTEMPTS_HEADER}\n" + "\n".join(attempts) + "\n")
    kept = [(k, v) for k, v in told if k not in DROPPED]
    kept += [(k, v) for k, v in extra if v and (k, v) not in kept]
    if mode == "testcase":
        if properties is None and kept:
            properties = ET.Element("properties")
            case.insert(0, properties)
        if properties is not None and kept != items:
            properties.clear()
            properties.extend(ET.Element("property", name=k, value=v) for k, v in kept)
        return
    if properties is not None:
        case.remove(properties)
    if not kept:
        return
    _append_out(case, f"{HEADER}\n{as_lines(kept)}\n")


def _append_out(case: ET.Element, text: str) -> None:
    """`text` after the testcase's system-out (made when it has none)."""
    out = case.find("system-out")
    if out is None:
        ET.SubElement(case, "system-out").text = text
    else:
        out.text = f"{out.text or ''}{'' if (out.text or '').endswith(chr(10)) else chr(10)}{text}"
