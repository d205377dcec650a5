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

from healthsuite.demo.services import free_port
from healthsuite.outputs.html import render

from .conftest import CHECKS, PROJECT
from .localhttp import Answer, serving

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SECRET = "hs-html-secret-7f3a9c2e"
TOKENS_SEEN: list[str] = []


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
    `target:` line shows it) and a low-severity page on a closed port; the secret is also a header."""
    env = tmp_path / "env.yaml"
    env.write_text(f"""
name: htmlreport
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
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
                    "facts": {"body": hostile}, "runbook": [hostile], "change": "new"}],
    })
    assert hostile not in page and '" onmouseover="x' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # the page's own
    assert not re.findall(r'(?:src|href)="(?!#)', page), "an external asset or link"
    assert "<link" not in page and "@import" not in page


def test_no_page_under_collect_only(tmp_path: Path, site: str) -> None:
    done, page = _run(tmp_path, site, "--collect-only", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not page.exists()


def test_the_page_in_a_browser(tmp_path: Path, site: str, monkeypatch: pytest.MonkeyPatch) -> None:
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
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} missing: scripts/install.sh installs Debian's chromium "
                    "and chromium-driver")

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    monkeypatch.setenv("SE_OFFLINE", "true")  # never let Selenium Manager download a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1200"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(page.as_uri())
        assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true"
        assert driver.execute_script("return window.healthsuiteErrors") == []
        severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert not severe, severe

        summary = report["summary"]
        for outcome in ("total", "passed", "failed"):
            shown = driver.find_element(By.CSS_SELECTOR, f'#totals [data-total="{outcome}"]').text
            assert shown.split()[-1] == str(summary[outcome]), (outcome, shown)
        low = driver.find_element(By.CSS_SELECTOR, '#summary-severity tr[data-severity="low"] td[data-outcome="failed"]')
        assert low.text == str(summary["by_severity"]["low"]["failed"])

        def visible() -> list[Any]:
            return [r for r in driver.find_elements(By.CSS_SELECTOR, "#checks tr.check") if r.is_displayed()]

        everything = len(visible())
        assert everything == len(report["checks"]) == summary["total"]
        Select(driver.find_element(By.ID, "f-severity")).select_by_value("low")
        rows = visible()
        assert {r.get_attribute("data-severity") for r in rows} == {"low"}
        assert len(rows) == sum(summary["by_severity"]["low"].values()) < everything
        assert driver.find_element(By.ID, "shown").text == f"{len(rows)} of {everything} checks shown"
        Select(driver.find_element(By.ID, "f-severity")).select_by_value("")
        Select(driver.find_element(By.ID, "f-category")).select_by_value("performance")
        assert {r.get_attribute("data-category") for r in visible()} == {"performance"}
        assert len(visible()) == sum(summary["by_category"]["performance"].values())
        driver.find_element(By.ID, "f-reset").click()
        assert len(visible()) == everything

        driver.find_element(By.ID, "f-text").send_keys("broken")
        rows = visible()
        assert rows and len(rows) < everything
        assert all("broken" in r.text or "broken" in (r.get_attribute("textContent") or "") for r in rows)
        driver.find_element(By.ID, "f-text").clear()
        driver.find_element(By.ID, "f-reset").click()

        causes = driver.find_elements(By.CSS_SELECTOR, "#causes li.cause")
        assert len(causes) == len(report["causes"]) > 0
        assert "AV3" in causes[0].find_element(By.CSS_SELECTOR, "ul.consequences").text

        failure = driver.find_element(By.CSS_SELECTOR, 'tr.check[data-outcome="failed"] details.failure')
        block = failure.find_element(By.CSS_SELECTOR, "pre.message")
        assert not block.is_displayed()
        failure.find_element(By.TAG_NAME, "summary").click()
        assert block.is_displayed()
        assert "expected:" in block.text and "observed:" in block.text

        driver.set_window_size(1400, min(1800, driver.execute_script("return document.body.scrollHeight") + 120))
        screenshot = tmp_path / "reports" / "html-report.png"
        assert driver.save_screenshot(str(screenshot))
        wanted = os.environ.get("HEALTHSUITE_SCREENSHOT_DIR")
        if wanted:
            Path(wanted).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(screenshot, Path(wanted) / "html-report.png")
    finally:
        driver.quit()
