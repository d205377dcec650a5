"""The run's report as one self-contained HTML page: `--html-report PATH`.

- `--html-report reports/latest.html` (ini `healthsuite_html_report`): at the end of a run the
  controller writes one HTML file, atomically (a temporary file beside it, then a rename), built from
  the JSON report it has just written (so it says what the report says, secrets redacted). Inline CSS
  and JavaScript, no external asset: it opens offline, from a CI artefact or an e-mail attachment.
- The page: the summary by category and by severity (a table of outcomes), the causes with their
  consequences, a platform incident if AV5 saw one, and one row per check, failures first, with
  filters by category, severity, outcome, change (new, persisting, flapping, recovered) and free
  text; each failure expands (`<details>`) to its whole failure block and its facts (JSON).
- Every value from the report is HTML-escaped; the JavaScript only shows and hides rows.

Nothing is written by an xdist worker, under --collect-only, or when no report was written (nothing
selected, the environment file did not load). A failure to write is said in the terminal summary and
never fails the run.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from . import json_report
from .records import OUTCOMES
from .result import RunResult

SEVERITIES = ("critical", "high", "medium", "low")
CHANGES = ("new", "persisting", "flapping", "recovered")
BAD = ("error", "failed", "warned")



CSS = """
:root { --bad: #b42318; --warn: #b54708; --ok: #067647; --skip: #667085; --line: #d0d5dd; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; color: #101828; }
h1 { font-size: 1.4rem; margin: 0 0 .3rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.meta { color: #475467; margin: 0 0 1rem; }
table { border-collapse: collapse; } th, td { border: 1px solid var(--line); padding: .25rem .5rem;
  text-align: left; vertical-align: top; } th { background: #f2f4f7; }
td.n { text-align: right; font-variant-numeric: tabular-nums; } td.zero { color: #98a2b3; }
.o-failed, .o-error { color: var(--bad); font-weight: 600; } .o-warned { color: var(--warn); font-weight: 600; }
.o-passed { color: var(--ok); } .o-skipped { color: var(--skip); }
.filters { display: flex; flex-wrap: wrap; gap: .75rem; align-items: end; margin: .5rem 0; }
.filters label { display: flex; flex-direction: column; font-size: .8rem; color: #475467; }
#checks { width: 100%; } #checks td.obs { max-width: 40rem; word-break: break-word; }
details > summary { cursor: pointer; color: #1849a9; }
pre { white-space: pre-wrap; word-break: break-word; background: #f9fafb; border: 1px solid var(--line);
  padding: .5rem; margin: .4rem 0; font-size: 12px; }
.causes li { margin: .3rem 0; } .incident { border-left: 4px solid var(--bad); padding-left: .75rem; }
"""

JS = """
window.healthsuiteErrors = [];
window.addEventListener('error', function (e) { window.healthsuiteErrors.push(String(e.message)); });
(function () {
  var ids = ['f-category', 'f-severity', 'f-outcome', 'f-change', 'f-text'];
  var rows = Array.prototype.slice.call(document.querySelectorAll('#checks tbody tr.check'));
  function value(id) { return document.getElementById(id).value; }
  function apply() {
    var category = value('f-category'), severity = value('f-severity'), outcome = value('f-outcome');
    var change = value('f-change'), text = value('f-text').trim().toLowerCase(), shown = 0;
    rows.forEach(function (row) {
      var d = row.dataset;
      var bad = ['failed', 'error', 'warned'].indexOf(d.outcome) >= 0;
      var visible = (!category || d.category === category) && (!severity || d.severity === severity) &&
        (!outcome || (outcome === 'bad' ? bad : d.outcome === outcome)) &&
        (!change || d.change === change) && (!text || row.textContent.toLowerCase().indexOf(text) >= 0);
      row.hidden = !visible;
      if (visible) { shown += 1; }
    });
    document.getElementById('shown').textContent = shown + ' of ' + rows.length + ' checks shown';
  }
  ids.forEach(function (id) {
    var el = document.getElementById(id);
    el.addEventListener('input', apply);
    el.addEventListener('change', apply);
  });
  document.getElementById('f-reset').addEventListener('click', function () {
    ids.forEach(function (id) { document.getElementById(id).value = ''; });
    apply();
  });
  Array.prototype.forEach.call(document.querySelectorAll('[data-filter]'), function (el) {
    el.addEventListener('click', function (e) {
      e.preventDefault();
      var parts = el.getAttribute('data-filter').split('=');
      document.getElementById('f-' + parts[0]).value = parts[1];
      apply();
    });
  });
  apply();
  document.body.setAttribute('data-ready', 'true');
})();
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _ordered(values: Sequence[str], order: Sequence[str]) -> list[str]:
    known = [v for v in order if v in values]
    return known + sorted(set(values) - set(order))


def _summary_table(title: str, key: str, groups: Mapping[str, Mapping[str, int]], order: Sequence[str]) -> str:
    head = "".join(f"<th>{_e(o)}</th>" for o in OUTCOMES)
    rows = []
    for name in _ordered(list(groups), order):
        counts = groups[name]
        cells = "".join(
            f'<td class="n{"" if counts.get(o, 0) else " zero"}" data-outcome="{_e(o)}">{int(counts.get(o, 0))}</td>'
            for o in OUTCOMES)
        rows.append(f'<tr data-{key}="{_e(name)}"><th><a href="#checks" data-filter="{key}={_e(name)}">'
                    f"{_e(name)}</a></th>{cells}<td class=\"n\">{sum(int(v) for v in counts.values())}</td></tr>")
    return (f'<table class="summary" id="summary-{key}"><thead><tr><th>{_e(title)}</th>{head}<th>total</th>'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _select(key: str, label: str, options: Sequence[tuple[str, str]]) -> str:
    opts = "".join(f'<option value="{_e(v)}">{_e(text)}</option>' for v, text in options)
    return f'<label>{_e(label)}<select id="f-{key}"><option value="">all</option>{opts}</select></label>'


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _check_row(index: int, record: Mapping[str, Any], anchors: Mapping[str, str]) -> str:
    outcome = str(record.get("outcome", ""))
    parts = []
    message = record.get("message") or ""
    if message:
        parts.append(f'<pre class="message">{_e(message)}</pre>')
    if record.get("runbook"):
        parts.append("<div>runbook: " + "; ".join(_e(r) for r in record["runbook"]) + "</div>")
    cause = record.get("explained_by")
    if cause:
        parts.append(f'<div>explained by <a href="#{anchors.get(cause, "")}">{_e(cause)}</a></div>')
    if record.get("facts"):
        parts.append(f'<div>facts</div><pre class="facts">{_e(_pretty(record["facts"]))}</pre>')
    label = "failure block" if outcome in BAD else "details"
    detail = (f'<details{" class=failure" if outcome in BAD else ""}><summary>{label}</summary>{"".join(parts)}'
              "</details>") if parts else ""
    observed = _e(record.get("observed", ""))
    expected = record.get("expected")
    if expected:
        observed += f'<br><span class="meta">expected: {_e(expected)}</span>'
    return (
        f'<tr class="check" id="{anchors[str(record.get("id", index))]}" data-category="{_e(record.get("category"))}" '
        f'data-severity="{_e(record.get("severity"))}" data-outcome="{_e(outcome)}" '
        f'data-change="{_e(record.get("change") or "")}">'
        f'<td class="o-{_e(outcome)}">{_e(outcome)}</td><td>{_e(record.get("change") or "")}</td>'
        f'<td>{_e(record.get("severity"))}</td><td>{_e(record.get("category"))}</td>'
        f'<td>{_e(record.get("diagnosis"))}</td><td>{_e(record.get("target"))}</td>'
        f'<td class="obs">{observed}{detail}<div class="meta id">{_e(record.get("id"))}</div></td></tr>'
    )


def _rank(record: Mapping[str, Any]) -> tuple[int, int, str]:
    outcome, severity = str(record.get("outcome")), str(record.get("severity"))
    order = (*BAD, "passed", "skipped")
    return (order.index(outcome) if outcome in order else len(order),
            SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES), str(record.get("id")))


def render(report: Mapping[str, Any]) -> str:
    """The page of a report (the dict outputs.json_report writes as JSON)."""
    env = report.get("environment") or {}
    summary = report.get("summary") or {}
    checks = sorted(report.get("checks") or [], key=_rank)
    anchors = {str(r.get("id", i)): f"check-{i}" for i, r in enumerate(checks)}
    totals = " ".join(
        f'<span class="o-{o}" data-total="{o}">{_e(o)} <b>{int(summary.get(o, 0))}</b></span>'
        for o in OUTCOMES)
    changes = summary.get("changes") or {}
    change_line = ", ".join(f"{_e(k)} {int(v)}" for k, v in changes.items())
    causes = []
    for cause in report.get("causes") or []:
        consequences = "".join(
            f'<li><a href="#{anchors.get(str(c.get("id")), "")}">{_e(c.get("diagnosis"))} {_e(c.get("target"))}</a>'
            f' <span class="meta">{_e(c.get("id"))}</span></li>' for c in cause.get("consequences") or [])
        causes.append(
            f'<li class="cause"><a href="#{anchors.get(str(cause.get("cause")), "")}"><b>{_e(cause.get("diagnosis"))} '
            f'{_e(cause.get("target"))}</b></a> [{_e(cause.get("severity"))}]: {_e(cause.get("observed"))} '
            f'<span class="meta">({_e(cause.get("why"))})</span>'
            f'<ul class="consequences">{consequences}</ul></li>')
    incident = report.get("platform_incident")
    categories = sorted({str(r.get("category")) for r in checks})
    severities = _ordered(list({str(r.get("severity")) for r in checks}), SEVERITIES)
    filters = "".join([
        _select("category", "category", [(c, c) for c in categories]),
        _select("severity", "severity", [(s, s) for s in severities]),
        _select("outcome", "outcome", [("bad", "failed, error or warned"), *((o, o) for o in OUTCOMES)]),
        _select("change", "change", [(c, c) for c in CHANGES]),
        '<label>text<input id="f-text" type="search" placeholder="diagnosis, target, message..."></label>',
        '<button id="f-reset" type="button">show all</button>',
    ])
    title = f"healthsuite: {env.get('name', '')}"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)} <span class=\"meta\">({_e(env.get('kind', ''))})</span></h1>",
        f'<p class="meta">{_e(report.get("tool", ""))}, {_e(report.get("started", ""))} to '
        f'{_e(report.get("finished", ""))} ({_e(report.get("duration_s", ""))} s), exit status '
        f'{_e(report.get("exit_status", ""))}, environment file {_e(env.get("file", ""))}</p>',
        f'<h2>Summary</h2><p id="totals">total <b data-total="total">{int(summary.get("total", 0))}</b>: {totals}'
        + (f'<br><span class="meta">changes: {change_line}</span>' if change_line else "") + "</p>",
        '<div class="filters">',
        _summary_table("category", "category", summary.get("by_category") or {}, ()),
        _summary_table("severity", "severity", summary.get("by_severity") or {}, SEVERITIES),
        "</div>",
        (f'<h2>Platform incident</h2><div class="incident"><pre>{_e(_pretty(incident))}</pre></div>'
         if incident else ""),
        (f'<h2>Causes</h2><ul class="causes" id="causes">{"".join(causes)}</ul>' if causes else ""),
        f'<h2>Checks</h2><div class="filters">{filters}</div><p id="shown" class="meta"></p>',
        '<table id="checks"><thead><tr><th>outcome</th><th>change</th><th>severity</th><th>category</th>'
        "<th>diagnosis</th><th>target</th><th>observed</th></tr></thead><tbody>",
        *(_check_row(i, r, anchors) for i, r in enumerate(checks)),
        "</tbody></table>",
        f"<script>{JS}</script>",
        "</body></html>",
        "",
    ])


def write(path: Path, page: str) -> None:
    """Atomically: a temporary file in the same directory, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(page)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_result(path: Path, result: RunResult) -> str:
    """The page of `result`, from the same document the JSON report is (secrets redacted)."""
    document = json.loads(json_report.dumps(json_report.document(result), result.redact, result.book))
    write(path, render(document))
    return ""
