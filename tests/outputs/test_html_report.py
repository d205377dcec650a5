"""--html-report: a real run (pytest in a subprocess, under -n 2) against a local HTTP server and a
loopback port nothing listens on, then the page opened in headless Chromium through Selenium (Debian's
chromium and chromium-driver; never Selenium Manager's downloads)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from healthsuite.outputs.html import SEVERITIES, render, runbook_link, status
from healthsuite.outputs.records import OUTCOMES
from healthsuite.testing.ports import free_port
from tests.conftest import CHECKS, PROJECT
from tests.localhttp import Answer, serving

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SECRET = "hs-html-secret-7f3a9c2e"
TOKENS_SEEN: list[str] = []
RUNBOOKS = "https://git.example.com/acme/ops/blob/main"


def _answer(request: BaseHTTPRequestHandler) -> Answer:
    """503 under /broken, 200 elsewhere; the X-Token header is recorded and echoed in the body."""
    TOKENS_SEEN.append(request.headers.get("X-Token", ""))
    body = f"<html>token {request.headers.get('X-Token', '')}</html>".encode()
    return Answer(503 if request.path.startswith("/broken") else 200, "text/html", body)


@pytest.fixture
def site() -> Iterator[str]:
    with serving(_answer) as url:
        yield url


def _run(tmp_path: Path, site: str, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """AV1, AV3 and PERF1 on a healthy page, a 503 page whose URL carries the secret (the failure's
    `target:` line shows it) and a low-severity page on a closed port; the secret is also a header; the
    runbooks are browsed under RUNBOOKS."""
    env = tmp_path / "env.yaml"
    env.write_text(f"""
name: htmlreport
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
runbook_base_url: {RUNBOOKS}
http: {{headers: {{X-Token: "${{HS_HTML_TOKEN}}"}}}}
pages:
  - {{name: home, url: "{site}/", content_type: text/html}}
  - {{name: broken, url: "{site}/broken?key=${{HS_HTML_TOKEN}}&q=<b>", content_type: text/html}}
  - {{name: blog, url: "http://127.0.0.1:{free_port()}/blog", content_type: text/html, severity: low}}
""")
    page = tmp_path / "out" / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={tmp_path / 'reports'}",
         "-p", "no:cacheprovider", "--diagnosis", "AV1,AV3,PERF1", "--html-report", str(page), *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=120, env={**os.environ, "HS_HTML_TOKEN": SECRET},
    )
    return done, page


def _report(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "reports" / "latest.json").read_text())
    return data


def test_render_escapes_everything_and_loads_nothing_external() -> None:
    hostile = "<script>alert(1)</script>"
    page = render({
        "environment": {"name": hostile, "kind": "test"},
        "summary": {"total": 1, "failed": 1, "by_category": {hostile: {"failed": 1}}, "by_severity": {}},
        "causes": [{"cause": "a", "diagnosis": hostile, "severity": "high", "target": hostile, "observed": hostile,
                    "why": hostile, "consequences": [{"id": "b", "diagnosis": "AV3", "target": hostile}]}],
        "checks": [{"id": "a", "diagnosis": "AV1", "category": hostile, "severity": "high", "target": hostile,
                    "outcome": "failed", "observed": hostile, "expected": '" onmouseover="x', "message": hostile,
                    "facts": {"body": hostile}, "change": "new",
                    "runbook": [hostile, "[x](javascript:alert(1))", f"{hostile} (https://example.com/a)"]}],
    })
    assert hostile not in page and '" onmouseover="x' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # the page's own
    assert re.findall(r'(?:src|href)="(?!#)[^"]*"', page) == ['href="https://example.com/a"'], "an external asset or link"
    assert ">&lt;script&gt;alert(1)&lt;/script&gt;</a>" in page  # the link's text, escaped
    assert "<link" not in page and "@import" not in page


def test_no_page_under_collect_only(tmp_path: Path, site: str) -> None:
    done, page = _run(tmp_path, site, "--collect-only", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not page.exists()


# --- the page in headless Chromium ---------------------------------------------------------------------

DESKTOP, PHONE = (1400, 900, False), (390, 844, True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module's pages (the viewport is set per page, by emulation)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} missing: scripts/install.sh installs Debian's chromium "
                    "and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    offline = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager download a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        if offline is None:
            os.environ.pop("SE_OFFLINE", None)
        else:
            os.environ["SE_OFFLINE"] = offline


def _open(driver: Any, page: Path, size: tuple[int, int, bool] = DESKTOP) -> None:
    """`page` at a viewport of `size` (width, height, mobile), scrolled to the top, its script run
    without an error."""
    from selenium.webdriver.common.by import By

    width, height, mobile = size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 3 if mobile else 1, "mobile": mobile})
    driver.get(page.as_uri())
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true"
    assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == [width, height]
    _no_errors(driver)


def _no_errors(driver: Any) -> None:
    assert driver.execute_script("return window.healthsuiteErrors") == []
    severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, severe


def _screenshot(driver: Any, name: str) -> None:
    wanted = os.environ.get("HEALTHSUITE_SCREENSHOT_DIR")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(Path(wanted) / name))


def _rect(driver: Any, element: Any) -> dict[str, float]:
    rect: dict[str, float] = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", element)
    return rect


def _above_the_fold(driver: Any, element: Any) -> bool:
    """The element's first lines are on the screen without scrolling."""
    top = _rect(driver, element)["top"]
    return bool(-1 <= top and top + 40 <= driver.execute_script("return window.innerHeight"))


def _shown(driver: Any) -> list[Any]:
    # in one round trip (a page of thousands of rows); a cause that does not match is shown (dimmed) as
    # the context of a failure it explains that does, and is not counted
    shown: list[Any] = driver.execute_script(
        "return Array.prototype.filter.call(document.querySelectorAll('.check:not(.context)'),"
        " function (el) { return el.checkVisibility(); })")
    return shown


def _displayed(driver: Any, selector: str) -> int:
    """How many elements `selector` finds that are rendered (not hidden, not in a closed <details>)."""
    count: int = driver.execute_script(
        "return Array.prototype.filter.call(document.querySelectorAll(arguments[0]),"
        " function (el) { return el.checkVisibility(); }).length", selector)
    return count


def _colour(driver: Any, element: Any, what: str = "background-color") -> str:
    colour: str = driver.execute_script(f"return getComputedStyle(arguments[0])['{what}']", element)
    return colour


def test_the_page_in_a_browser(tmp_path: Path, site: str, browser: Any) -> None:
    done, page = _run(tmp_path, site, "-n", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"healthsuite: HTML report written to {page}" in done.stdout, done.stdout
    report = _report(tmp_path)
    html = page.read_text()
    assert SECRET in TOKENS_SEEN, "the header was not sent"
    assert SECRET not in html and SECRET not in done.stdout
    assert "key=***" in html  # the failure's target line, redacted
    assert "&amp;q=&lt;b&gt;" in html and "q=<b>" not in html
    assert [p.name for p in page.parent.iterdir()] == ["report.html"]  # no temporary file left

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    _open(driver, page)
    summary = report["summary"]
    banner = driver.find_element(By.ID, "status")
    assert banner.get_attribute("data-status") == status(report["checks"]) != "ok"
    assert banner.text.startswith(status(report["checks"]).upper())
    assert "htmlreport" in banner.text
    failing = [r for r in report["checks"] if r["outcome"] in ("failed", "error", "warned")]
    cards = driver.find_elements(By.CSS_SELECTOR, "#failures .check.card")
    assert len(cards) == len(failing) > 0
    assert _above_the_fold(driver, cards[0]), _rect(driver, cards[0])
    passing = driver.find_elements(By.CSS_SELECTOR, "#passing-table tr.check")
    assert len(passing) == len(report["checks"]) - len(failing)
    assert _displayed(driver, "#passing-table tr.check") == 0  # folded
    _screenshot(driver, "html-report-top.png")
    links = cards[0].find_elements(By.CSS_SELECTOR, ".own .runbook a.runbook-link")
    assert links and all((a.get_attribute("href") or "").startswith(f"{RUNBOOKS}/docs/runbooks/") for a in links)
    assert all(a.get_attribute("target") == "_blank" for a in links)

    for outcome in ("total", "passed", "failed"):
        shown = driver.find_element(By.CSS_SELECTOR, f'#totals [data-total="{outcome}"]').get_attribute("textContent")
        assert (shown or "").split()[-1] == str(summary[outcome]), (outcome, shown)
    low = driver.find_element(By.CSS_SELECTOR, '#summary-severity tr[data-severity="low"] td[data-outcome="failed"]')
    assert low.text == str(summary["by_severity"]["low"]["failed"])

    everything = len(report["checks"])
    assert driver.find_element(By.ID, "shown").text == f"{everything} of {everything} checks shown"
    Select(driver.find_element(By.ID, "f-severity")).select_by_value("low")
    rows = _shown(driver)  # a filter unfolds the passing checks it matches
    assert {r.get_attribute("data-severity") for r in rows} == {"low"}
    assert len(rows) == sum(summary["by_severity"]["low"].values()) < everything
    assert driver.find_element(By.ID, "shown").text == f"{len(rows)} of {everything} checks shown"
    Select(driver.find_element(By.ID, "f-severity")).select_by_value("")
    Select(driver.find_element(By.ID, "f-category")).select_by_value("performance")
    assert {r.get_attribute("data-category") for r in _shown(driver)} == {"performance"}
    assert len(_shown(driver)) == sum(summary["by_category"]["performance"].values())
    driver.find_element(By.ID, "f-reset").click()
    assert driver.execute_script("return document.querySelectorAll('.card:not([hidden])').length") == len(failing)
    assert _displayed(driver, "#passing-table tr.check") == 0  # folded again

    driver.find_element(By.ID, "f-text").send_keys("broken")
    rows = _shown(driver)
    assert rows and len(rows) < everything
    assert all("broken" in (r.get_attribute("textContent") or "") for r in rows)
    driver.find_element(By.ID, "f-text").clear()
    driver.find_element(By.ID, "f-reset").click()

    causes = driver.find_elements(By.CSS_SELECTOR, "#causes li.cause")
    assert len(causes) == len(report["causes"]) > 0
    assert "AV3" in causes[0].find_element(By.CSS_SELECTOR, "ul.consequences").text

    failure = driver.find_element(By.CSS_SELECTOR, '.check.card[data-outcome="failed"] details.failure')
    block = failure.find_element(By.CSS_SELECTOR, "pre.message")
    assert not block.is_displayed()
    failure.find_element(By.TAG_NAME, "summary").click()
    assert block.is_displayed()
    assert "expected:" in block.text and "observed:" in block.text
    _no_errors(driver)

    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 1400, "height": min(1800, height + 20), "deviceScaleFactor": 1, "mobile": False})
    screenshot = tmp_path / "reports" / "html-report.png"
    assert driver.save_screenshot(str(screenshot))
    wanted = os.environ.get("HEALTHSUITE_SCREENSHOT_DIR")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, Path(wanted) / "html-report.png")


# --- synthetic documents (docs/report.schema.json) -----------------------------------------------------

RUNBOOK = ["000 §1 Triage > Step 1: First look (https://runbooks.example.com/docs/runbooks/000-triage.md#step-1-first-look)",
           "[Escalation policy](https://wiki.example.com/escalation)",
           "010 §2 Local copy (docs/runbooks/010-dns.md)",
           "[not a link](javascript:alert(1))"]


def _check(number: int, outcome: str = "passed", severity: str = "medium", category: str = "availability",
           diagnosis: str = "AV1", target: str = "", **more: Any) -> dict[str, Any]:
    target = target or f"page-{number:05d}"
    record: dict[str, Any] = {
        "id": f"checks/test_{category}.py::test_{diagnosis.lower()}[{target}]",
        "diagnosis": diagnosis, "category": category, "severity": severity, "target": target,
        "target_kind": "pages", "outcome": outcome,
        "observed": "HTTP 200 in 0.042 s" if outcome == "passed" else "HTTP 503 in 0.310 s",
        "expected": "HTTP 2xx in under 2 s", "duration_s": 0.05,
        "message": "" if outcome == "passed" else (
            f"{diagnosis} failed: {target}\n  observed: HTTP 503\n  expected: HTTP 2xx\n  remediation: 1. look"),
        "runbook": RUNBOOK[:2], "facts": {"status": 200 if outcome == "passed" else 503, "elapsed_s": 0.042},
        "likely_platform_incident": False,
    }
    if outcome in ("failed", "error", "warned"):
        record.update(causes=["the upstream is down"], remediation=["look at the upstream", "restart it"],
                      escalation="page the on-call web team within 15 minutes")
    record.update(more)
    return record


def _document(checks: list[dict[str, Any]], causes: list[dict[str, Any]] | None = None,
              incident: dict[str, Any] | None = None, name: str = "shop-prod") -> dict[str, Any]:
    def table(key: str) -> dict[str, dict[str, int]]:
        groups: dict[str, dict[str, int]] = {}
        for record in checks:
            counts = groups.setdefault(record[key], dict.fromkeys(OUTCOMES, 0))
            counts[record["outcome"]] += 1
        return dict(sorted(groups.items()))

    return {
        "schema_version": 1, "tool": "healthsuite 0.0.test",
        "environment": {"name": name, "kind": "production", "file": "environments/shop.yaml",
                        "selected_by": "--env", "allow_mutating": False},
        "started": "2024-05-01T10:00:00+00:00", "finished": "2024-05-01T10:00:12+00:00", "duration_s": 12.345,
        "exit_status": 1 if any(c["outcome"] in ("failed", "error") for c in checks) else 0,
        "summary": {
            "total": len(checks), **{o: sum(1 for c in checks if c["outcome"] == o) for o in OUTCOMES},
            "by_category": table("category"), "by_severity": table("severity"),
            "failed_diagnoses": sorted({c["diagnosis"] for c in checks if c["outcome"] in ("failed", "error")}),
            "changes": {"new": sum(1 for c in checks if c.get("change") == "new")},
        },
        "platform_incident": incident, "causes": causes or [], "checks": checks,
        "probe_latency_s": {}, "probe_hints": {}, "run": {},
    }


def _healthy(passing: int = 40) -> dict[str, Any]:
    return _document([_check(n, severity=SEVERITIES[n % 4]) for n in range(passing)])


def _broken(passing: int = 300, extra_failures: int = 0) -> dict[str, Any]:
    """A DNS failure (critical) that explains two page failures, a provider's status page reporting an
    incident and an API failure likely part of it, a warning, `passing` passing checks."""
    dns = _check(0, "failed", "critical", "dns", "DNS1", "shop.example.com", change="new",
                 observed="NXDOMAIN for shop.example.com", runbook=RUNBOOK)
    home = _check(1, "failed", "high", "availability", "AV1", "home", explained_by=dns["id"])
    cart = _check(2, "failed", "medium", "availability", "AV3", "cart", explained_by=dns["id"])
    status_page = _check(3, "failed", "high", "availability", "AV5", "status.provider.example",
                         observed="provider reports: major outage (API degraded)")
    api = _check(4, "error", "high", "api", "API1", "payments-api", likely_platform_incident=True,
                 observed="connection reset by payments.provider.example")
    slow = _check(5, "warned", "low", "performance", "PERF1", "search", observed="TTFB 1.9 s (budget 1.5 s)")
    extra = [_check(10 + n, "failed", SEVERITIES[n % 4], "edge", "EDGE2", f"edge-{n:03d}")
             for n in range(extra_failures)]
    passing_checks = [_check(100 + n, severity=SEVERITIES[n % 4], category=("availability", "tls", "dns")[n % 3],
                             diagnosis=("AV1", "TLS1", "DNS2")[n % 3]) for n in range(passing)]
    checks = [*passing_checks[: passing // 2], slow, home, api, cart, *extra, status_page, dns,
              *passing_checks[passing // 2:]]
    causes = [{"cause": dns["id"], "diagnosis": "DNS1", "severity": "critical", "target": "shop.example.com",
               "observed": dns["observed"], "why": "a name that does not resolve fails every check of it",
               "consequences": [{"id": c["id"], "diagnosis": c["diagnosis"], "target": c["target"]}
                                for c in (home, cart)]}]
    incident = {"status_pages": [{"target": "status.provider.example", "observed": status_page["observed"]}],
                "provider_hosts": ["*.provider.example"], "affected_checks": [api["id"]],
                "note": "1 other failing check(s) reached a host the provider serves and are likely part of its "
                        "incident: check the provider's status page before debugging the application"}
    return _document(checks, causes, incident)


def _write(tmp_path: Path, name: str, report: dict[str, Any]) -> Path:
    page = tmp_path / name
    page.write_text(render(report), encoding="utf-8")
    return page


def test_runbook_references_become_links_only_for_web_urls() -> None:
    assert runbook_link(RUNBOOK[0]) == (
        '<a class="runbook-link" href="https://runbooks.example.com/docs/runbooks/000-triage.md#step-1-first-look"'
        ' target="_blank" rel="noopener noreferrer">000 §1 Triage &gt; Step 1: First look</a>')
    assert runbook_link(RUNBOOK[1]).startswith('<a class="runbook-link" href="https://wiki.example.com/escalation"')
    assert runbook_link(RUNBOOK[1]).endswith(">Escalation policy</a>")
    for text in (RUNBOOK[2], RUNBOOK[3], "[x](data:text/html,<b>)", "see (ftp://files.example.com/a)",
                 "[x](https:///no-host)", "plain <b>text</b>"):
        assert "<a" not in runbook_link(text) and "<b>" not in runbook_link(text), text
    hostile = runbook_link('[x](https://example.com/"onmouseover="alert(1))')
    assert '"onmouseover' not in hostile
    assert '&quot;onmouseover=&quot;' in hostile or "<a" not in hostile


def test_status_of_a_run() -> None:
    assert status([]) == "unknown"
    assert status(_healthy()["checks"]) == "ok"
    assert status(_broken(passing=0)["checks"]) == "critical"
    assert status([_check(0, "failed", "medium"), _check(1, "warned", "critical")]) == "warning"


def test_healthy_and_broken_pages_differ_in_the_banner(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    seen = {}
    for name, report in (("healthy", _healthy()), ("warning", _document([_check(0, "warned", "high"), _check(1)])),
                         ("broken", _broken())):
        _open(browser, _write(tmp_path, f"{name}.html", report))
        banner = browser.find_element(By.ID, "status")
        assert _above_the_fold(browser, banner) and _rect(browser, banner)["top"] == 0
        seen[name] = (banner.text.split()[0], _colour(browser, banner), banner.get_attribute("data-status"))
        assert "shop-prod" in banner.text and "12.345 s" in banner.text and "2024-05-01T10:00:00" in banner.text
        _screenshot(browser, f"html-banner-{name}.png")
    assert seen["healthy"][0] == "OK" and seen["warning"][0] == "WARNING" and seen["broken"][0] == "CRITICAL"
    assert len({colour for _, colour, _ in seen.values()}) == 3, seen
    assert seen["broken"][1] == "rgb(180, 35, 24)" and seen["healthy"][1] == "rgb(6, 118, 71)"
    # the broken page's banner counts its failures by severity
    line = browser.find_element(By.ID, "failing-line").text
    assert re.search(r"critical 1\b", line) and re.search(r"high 3\b", line) and re.search(r"medium 1\b", line)
    assert "1 warned" in line and "2 explained by another failure" in line
    assert "the provider reports an incident: 1 failing check likely part of it" in browser.find_element(
        By.ID, "status").text


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1400x900", "390x844"])
def test_the_first_failure_is_above_the_fold(tmp_path: Path, browser: Any, size: tuple[int, int, bool]) -> None:
    from selenium.webdriver.common.by import By

    page = _write(tmp_path, "broken.html", _broken())
    _open(browser, page, size)
    first = browser.find_element(By.CSS_SELECTOR, "#failures .check.card")
    assert _above_the_fold(browser, first), (_rect(browser, first), size)
    # the most severe failure first, a cause, with what it explains folded under it
    assert first.get_attribute("data-severity") == "critical" and "DNS1" in first.text
    folded = first.find_element(By.CSS_SELECTOR, "details.consequences")
    assert folded.get_attribute("open") is None and "explains 2 other failing checks" in folded.text
    assert {c.get_attribute("data-severity") for c in folded.find_elements(By.CSS_SELECTOR, ".card")} == {
        "high", "medium"}
    assert _displayed(browser, "#passing-table tr.check") == 0
    order = [browser.find_element(By.CSS_SELECTOR, selector) for selector in (
        "#status", "#failures", "#incident", "#causes", "#summary", "#passing-section")]
    tops = [_rect(browser, element)["top"] for element in order]
    assert tops == sorted(tops), tops
    _screenshot(browser, f"html-above-the-fold-{size[0]}x{size[1]}.png")


def test_summary_links_filter_and_move_the_page(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, _write(tmp_path, "broken.html", _broken()))
    scroll = "return window.scrollY"
    link = browser.find_element(
        By.CSS_SELECTOR, '#summary-severity tr[data-severity="high"] td[data-outcome="failed"] a')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    before = browser.execute_script(scroll)
    assert before > 0 and link.text == "2"
    link.click()
    assert browser.execute_script(scroll) < before  # up to the filters and the failing checks
    assert _above_the_fold(browser, browser.find_element(By.ID, "filters"))
    assert browser.find_element(By.ID, "f-severity").get_attribute("value") == "high"
    assert browser.find_element(By.ID, "f-outcome").get_attribute("value") == "failed"
    shown = _shown(browser)
    assert {(r.get_attribute("data-severity"), r.get_attribute("data-outcome")) for r in shown} >= {
        ("high", "failed")}
    matching = [r for r in shown if (r.get_attribute("data-severity"), r.get_attribute("data-outcome")) == (
        "high", "failed")]
    assert len(matching) == 2  # AV1 home is folded under its cause: unfolded while the filter is set
    assert browser.find_element(By.ID, "shown").text == f"2 of {300 + 6} checks shown"
    _screenshot(browser, "html-summary-link.png")

    # a category's name: its passing checks unfold too
    link = browser.find_element(By.CSS_SELECTOR, '#summary-category tr[data-category="tls"] th a')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()
    rows = _shown(browser)
    assert rows and {r.get_attribute("data-category") for r in rows} == {"tls"} and len(rows) == 100
    assert browser.find_element(By.ID, "passing").get_attribute("open") is not None
    assert browser.find_element(By.ID, "failing-none").is_displayed()

    # the banner's count of critical failures; then a cause's consequence, folded, opened and scrolled to
    browser.find_element(By.ID, "f-reset").click()
    assert browser.find_element(By.ID, "passing").get_attribute("open") is None
    browser.execute_script("window.scrollTo(0, 0)")
    browser.find_element(By.CSS_SELECTOR, '#failing-line a[data-set-severity="critical"]').click()
    assert [r.get_attribute("data-severity") for r in _shown(browser)] == ["critical"]
    browser.find_element(By.ID, "f-reset").click()
    consequence = browser.find_element(By.CSS_SELECTOR, "#causes ul.consequences a")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", consequence)
    before = browser.execute_script(scroll)
    consequence.click()
    target = browser.find_element(By.ID, (consequence.get_attribute("href") or "").split("#")[-1])
    assert target.is_displayed() and _above_the_fold(browser, target)
    assert browser.execute_script(scroll) != before
    _no_errors(browser)


def test_runbook_links_severity_badges_and_the_platform_incident(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, _write(tmp_path, "broken.html", _broken()))
    dns = browser.find_element(By.CSS_SELECTOR, '#failures .card[data-severity="critical"]')
    own = dns.find_element(By.CSS_SELECTOR, ".own")  # not the cards folded under it
    links = own.find_elements(By.CSS_SELECTOR, ".runbook a")
    assert [a.get_attribute("href") for a in links] == [
        "https://runbooks.example.com/docs/runbooks/000-triage.md#step-1-first-look",
        "https://wiki.example.com/escalation"]
    assert links[0].text == "000 §1 Triage > Step 1: First look"
    runbook = own.find_element(By.CSS_SELECTOR, ".runbook").text
    assert "010 §2 Local copy (docs/runbooks/010-dns.md)" in runbook and "[not a link](javascript:alert(1))" in runbook

    colours = {}
    for severity in SEVERITIES:
        badge = browser.find_element(By.CSS_SELECTOR, f'#failures .badge[data-severity="{severity}"]')
        colours[severity] = _colour(browser, badge)
        assert badge.get_attribute("textContent") == severity
    assert len(set(colours.values())) == 4, colours

    marked = browser.find_elements(By.CSS_SELECTOR, ".card .incident-mark")
    assert [m.text for m in marked] == ["likely platform incident"]
    card = browser.find_element(By.CSS_SELECTOR, '.card[data-incident="true"]')
    assert "API1" in card.text and "payments-api" in card.text
    incident = browser.find_element(By.ID, "incident")
    assert "check the provider's status page" in incident.text
    assert "status.provider.example: provider reports: major outage" in incident.text
    assert "*.provider.example" in incident.text and "API1 payments-api" in incident.text
    assert "{" not in incident.text and '"note"' not in incident.text  # text, not JSON
    cause = browser.find_element(By.CSS_SELECTOR, "#causes li.cause")
    assert "DNS1 shop.example.com" in cause.text and "{" not in cause.text
    assert [li.text.split()[0] for li in cause.find_elements(By.CSS_SELECTOR, "ul.consequences li")] == ["AV1", "AV3"]
    _no_errors(browser)


def test_five_thousand_checks_stay_small_and_usable(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    report = _broken(passing=5000, extra_failures=14)  # 20 failing
    failing = [c for c in report["checks"] if c["outcome"] in ("failed", "error", "warned")]
    assert len(failing) == 20
    page = _write(tmp_path, "large.html", report)
    size = page.stat().st_size
    assert size < 3_000_000, size
    assert render(report) == page.read_text(encoding="utf-8")  # a function of the document

    for viewport in (DESKTOP, PHONE):
        _open(browser, page, viewport)
        first = browser.find_element(By.CSS_SELECTOR, "#failures .check.card")
        assert _above_the_fold(browser, first) and first.get_attribute("data-severity") == "critical"
        _screenshot(browser, f"html-5000-{viewport[0]}x{viewport[1]}.png")
    _open(browser, page)
    total = len(report["checks"])
    assert browser.find_element(By.ID, "shown").text == f"{total} of {total} checks shown"
    assert len(_shown(browser)) == 20 - 2  # the two consequences folded under their cause

    Select(browser.find_element(By.ID, "f-severity")).select_by_value("critical")
    critical = sum(1 for c in report["checks"] if c["severity"] == "critical")
    assert browser.find_element(By.ID, "shown").text == f"{critical} of {total} checks shown"
    Select(browser.find_element(By.ID, "f-outcome")).select_by_value("bad")
    assert {r.get_attribute("data-severity") for r in _shown(browser)} == {"critical"}
    assert len(_shown(browser)) == sum(1 for c in failing if c["severity"] == "critical")
    browser.find_element(By.ID, "f-reset").click()

    browser.find_element(By.ID, "f-text").send_keys("page-04321")
    rows = _shown(browser)
    assert len(rows) == 1 and rows[0].tag_name == "tr" and "page-04321" in rows[0].text
    assert _rect(browser, rows[0])["height"] > 0
    browser.find_element(By.ID, "f-reset").click()
    assert browser.find_element(By.ID, "passing").get_attribute("open") is None
    assert browser.find_element(By.ID, "shown").text == f"{total} of {total} checks shown"
    _no_errors(browser)
