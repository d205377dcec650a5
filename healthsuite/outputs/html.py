"""The run's report as one self-contained HTML page: `--html-report PATH`.

- `--html-report reports/latest.html` (ini `healthsuite_html_report`): at the end of a run the
  controller writes one HTML file, atomically (a temporary file beside it, then a rename), built from
  the JSON report it has just written (so it says what the report says, secrets redacted). Inline CSS
  and JavaScript, no external asset: it opens offline, from a CI artefact or an e-mail attachment.
- The page is triage, in the order a person on call reads it:
  1. a status banner: CRITICAL (red: a critical or high check failed), WARNING (orange: any other
     failure or warning) or OK (green), by the Nagios output's rule; the environment, the failures by
     severity (each a link to them) and when the run ran;
  2. the filters, then the failing checks, most severe first, each cause first with the failures it
     explains folded under it; each shows its severity (a coloured badge), what was observed and
     expected, "likely platform incident" when the provider's status page reports one, its runbook
     sections (a link when the reference carries an http(s) URL) and its whole failure block, advice
     and facts folded;
  3. the platform incident (text), the causes (lists), the summary by category and by severity (each
     name and count a link that filters the checks and scrolls to them);
  4. the passing and skipped checks, folded, one compact table row each (their facts are in the JSON
     report): a run of thousands of checks stays a page of a few hundred bytes a check.
  Filters (category, severity, outcome, change, free text) apply to every check; a match folded away
  (a passing check, a consequence) is unfolded while a filter is set.
- Every value from the report is HTML-escaped; the JavaScript only shows, hides, unfolds and scrolls.

Nothing is written by an xdist worker, under --collect-only, or when no report was written (nothing
selected, the environment file did not load). A failure to write is said in the terminal summary and
never fails the run.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..catalogue.diagnoses import SEVERITIES
from . import json_report
from .files import write_atomically
from .records import MAINTENANCE, OUTCOMES, RETRIED, in_window_text
from .result import RunResult

CHANGES = ("new", "persisting", "flapping", "recovered")
BAD = ("error", "failed", "warned")
SERIOUS = ("critical", "high")  # a failure of these is CRITICAL (as outputs.nagios says)

CSS = """
:root { --bad: #b42318; --warn: #dc6803; --ok: #067647; --skip: #667085; --line: #d0d5dd; --muted: #475467; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #101828; }
main { padding: .75rem 1rem 2rem; max-width: 100rem; overflow-wrap: anywhere; }
.summary { overflow-wrap: normal; }
h2 { font-size: 1.1rem; margin: 1.25rem 0 .5rem; }
a { color: #1849a9; }
.meta { color: var(--muted); }
.banner { color: #fff; padding: .6rem 1rem; background: var(--skip); }
.banner a { color: #fff; text-decoration: none; } .banner a b, .banner a:hover { text-decoration: underline; }
.banner h1 { font-size: 1.25rem; margin: 0; display: flex; flex-wrap: wrap; gap: .1rem .6rem; align-items: baseline; }
.banner .state { font-size: 1.5rem; font-weight: 800; letter-spacing: .04em; }
.banner p { margin: .15rem 0; }
.status-critical { background: var(--bad); } .status-warning { background: var(--warn); }
.status-ok { background: var(--ok); } .status-unknown { background: var(--skip); }
.banner .incident-line { font-weight: 600; }
.badge { display: inline-block; border-radius: .6rem; padding: 0 .45rem; font-size: .78rem; font-weight: 700;
  line-height: 1.35rem; white-space: nowrap; color: #fff; background: #98a2b3; }
.sev-critical { background: #912018; } .sev-high { background: #e62e05; }
.sev-medium { background: #fdb022; color: #101828; } .sev-low { background: #53b1fd; color: #101828; }
.banner .badge { border: 1px solid rgba(255,255,255,.7); }
.mark { display: inline-block; border: 1px solid var(--bad); color: var(--bad); border-radius: .3rem;
  padding: 0 .35rem; font-size: .78rem; font-weight: 700; background: #fef3f2; }
.change { font-size: .78rem; color: var(--muted); border: 1px solid var(--line); border-radius: .3rem;
  padding: 0 .3rem; }
.o-failed, .o-error { color: var(--bad); font-weight: 700; } .o-warned { color: #b54708; font-weight: 700; }
.o-retried { color: #b54708; } .attempts { margin: .2rem 0 0; padding-left: 1.2rem; color: var(--muted); }
.o-passed { color: var(--ok); } .o-skipped { color: var(--skip); }
#filters { display: flex; flex-wrap: wrap; gap: .35rem .5rem; align-items: center; padding: .4rem 0;
  border-bottom: 1px solid var(--line); }
#filters select, #filters input, #filters button { font: inherit; font-size: .85rem; padding: .15rem .25rem; }
#filters input { width: 11rem; }
#shown { font-size: .85rem; }
.card { border: 1px solid var(--line); border-left: 5px solid var(--bad); border-radius: .3rem; padding: .4rem .6rem;
  margin: .4rem 0; background: #fff; }
.card[data-outcome="warned"] { border-left-color: var(--warn); }
.o-maintenance { color: #b54708; }
.card .head { display: flex; flex-wrap: wrap; gap: .2rem .45rem; align-items: baseline; }
.card .diag { font-weight: 700; } .card .target { word-break: break-all; }
.card .obs { margin: .2rem 0; word-break: break-word; }
.card .runbook { font-size: .85rem; }
.card .id { font-size: .75rem; word-break: break-all; }
.card.flash { outline: 3px solid #1849a9; } .card.context > .own { opacity: .5; }
details > summary { cursor: pointer; color: #1849a9; }
details.consequences { margin: .3rem 0 0; } details.consequences > .card { margin-left: .8rem; }
pre { white-space: pre-wrap; word-break: break-word; background: #f9fafb; border: 1px solid var(--line);
  padding: .5rem; margin: .4rem 0; font-size: 12px; }
table { border-collapse: collapse; } th, td { border: 1px solid var(--line); padding: .2rem .45rem;
  text-align: left; vertical-align: top; } th { background: #f2f4f7; }
td.n { text-align: right; font-variant-numeric: tabular-nums; } td.zero { color: #98a2b3; }
.tables { display: flex; flex-wrap: wrap; gap: 1rem; align-items: start; }
.scroll { overflow-x: auto; }
#passing-table { width: 100%; font-size: 13px; } #passing-table td { word-break: break-word; }
.causes li { margin: .3rem 0; } .incident { border-left: 4px solid var(--bad); padding-left: .75rem; }
"""

JS = """
window.healthsuiteErrors = [];
window.addEventListener('error', function (e) { window.healthsuiteErrors.push(String(e.message)); });
(function () {
  var keys = ['category', 'severity', 'outcome', 'change', 'text'];
  var checks = Array.prototype.slice.call(document.querySelectorAll('.check'));
  var texts = null;
  function field(key) { return document.getElementById('f-' + key); }
  function ancestors(el, selector) {
    var found = [];
    for (var p = el.parentElement; p; p = p.parentElement) { if (p.matches(selector)) { found.push(p); } }
    return found;
  }
  function unfold(el) {
    ancestors(el, 'details').forEach(function (d) {
      if (!d.open) { d.open = true; d.setAttribute('data-unfolded', 'true'); }
    });
  }
  function apply() {
    var f = {}, active = false;
    keys.forEach(function (key) { f[key] = field(key).value.trim(); active = active || f[key] !== ''; });
    var text = f.text.toLowerCase(), shown = 0, failing = 0;
    if (text && texts === null) {
      texts = checks.map(function (el) { return (el.querySelector('.own') || el).textContent.toLowerCase(); });
    }
    var match = checks.map(function (el, i) {
      var d = el.dataset, bad = ['failed', 'error', 'warned'].indexOf(d.outcome) >= 0;
      return (!f.category || d.category === f.category) && (!f.severity || d.severity === f.severity) &&
        (!f.outcome || (f.outcome === 'bad' ? bad : d.outcome === f.outcome)) &&
        (!f.change || d.change === f.change) && (!text || texts[i].indexOf(text) >= 0);
    });
    var keep = new Set();
    Array.prototype.forEach.call(document.querySelectorAll('details[data-unfolded]'), function (d) {
      d.open = false; d.removeAttribute('data-unfolded');
    });
    checks.forEach(function (el, i) {
      if (!match[i]) { return; }
      shown += 1;
      ancestors(el, '.check').forEach(function (a) { keep.add(a); });
      if (active) { unfold(el); }
    });
    checks.forEach(function (el, i) {
      el.hidden = !(match[i] || keep.has(el));
      el.classList.toggle('context', !match[i] && keep.has(el));  // shown for a failure it explains
      if (!el.hidden && el.classList.contains('card')) { failing += 1; }
    });
    document.getElementById('failing-none').hidden = failing > 0 || !document.querySelector('.card');
    document.getElementById('shown').textContent = shown + ' of ' + checks.length + ' checks shown';
  }
  function show(target) {
    if (!target) { return; }
    unfold(target);
    target.scrollIntoView({block: 'start'});
    if (target.classList.contains('card')) {
      target.classList.add('flash');
      setTimeout(function () { target.classList.remove('flash'); }, 1500);
    }
  }
  keys.forEach(function (key) {
    field(key).addEventListener('input', apply);
    field(key).addEventListener('change', apply);
  });
  document.getElementById('f-reset').addEventListener('click', function () {
    keys.forEach(function (key) { field(key).value = ''; });
    apply();
  });
  document.addEventListener('click', function (e) {
    var link = e.target.closest ? e.target.closest('a[href^="#"]') : null;
    if (!link) { return; }
    if (link.hasAttribute('data-filter')) {
      keys.forEach(function (key) { field(key).value = link.getAttribute('data-set-' + key) || ''; });
      apply();
    }
    var target = document.getElementById(link.getAttribute('href').slice(1));
    if (target) { e.preventDefault(); show(target); }
  });
  if (location.hash.length > 1) { show(document.getElementById(location.hash.slice(1))); }
  apply();
  document.body.setAttribute('data-ready', 'true');
})();
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _ordered(values: Iterable[str], order: Sequence[str]) -> list[str]:
    values = set(values)
    return [v for v in order if v in values] + sorted(values - set(order))


def _count(value: object) -> int:
    try:
        return int(value) if isinstance(value, (int, float, str)) else 0
    except ValueError:
        return 0


def _badge(severity: object) -> str:
    name = str(severity or "")
    known = name if name in SEVERITIES else "other"
    return f'<span class="badge sev-{known}" data-severity="{_e(name)}">{_e(name or "?")}</span>'


def _filter_link(html: str, **filters: str) -> str:
    """A link that sets the filters (the others cleared) and scrolls to them and the failing checks."""
    wanted = "".join(f' data-set-{key}="{_e(value)}"' for key, value in filters.items())
    return f'<a href="#filters" data-filter{wanted}>{html}</a>'


def _check_link(anchors: Mapping[str, str], check_id: object, html: str) -> str:
    """A link to a failing check's card (unfolded when folded); text when it is not on the page."""
    anchor = anchors.get(str(check_id))
    return f'<a href="#{anchor}">{html}</a>' if anchor else html


_MARKDOWN_LINK = re.compile(r"\[(?P<title>[^\]]*)\]\((?P<url>[^()\s]+)\)")
_TRAILING_URL = re.compile(r"(?P<title>.*?)\s*\((?P<url>[^()\s]+)\)\s*")


def _web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def runbook_link(reference: object) -> str:
    """A runbook reference as HTML: a link when it carries an http(s) URL, either `[title](url)` or the
    catalogue's `000 §1 Title (url)` (catalogue.runbook_refs with a runbook_base_url); else escaped text
    (a repository path, a `javascript:` URL...)."""
    text = "" if reference is None else str(reference)
    found = _MARKDOWN_LINK.fullmatch(text.strip()) or _TRAILING_URL.fullmatch(text)
    if found and _web_url(found["url"]):
        title = found["title"].strip() or found["url"]
        return (f'<a class="runbook-link" href="{_e(found["url"])}" target="_blank" rel="noopener noreferrer">'
                f"{_e(title)}</a>")
    return _e(text)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _data(record: Mapping[str, Any]) -> str:
    return (f'data-category="{_e(record.get("category"))}" data-severity="{_e(record.get("severity"))}" '
            f'data-outcome="{_e(record.get("outcome"))}" data-change="{_e(record.get("change") or "")}"')


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, Sequence):
        return [str(v) for v in value if v not in (None, "")]
    return []


def _card(record: Mapping[str, Any], anchors: Mapping[str, str], names: Mapping[str, str],
          consequences: Mapping[str, list[Mapping[str, Any]]], seen: set[str]) -> str:
    """A failing check: what a person needs first on one screen, the rest folded; the failures it
    explains folded under it."""
    key = str(record.get("id"))
    seen.add(key)
    outcome = str(record.get("outcome", ""))
    head = [_badge(record.get("severity")), f'<span class="outcome o-{_e(outcome)}">{_e(outcome)}</span>']
    if record.get("change"):
        head.append(f'<span class="change">{_e(record.get("change"))}</span>')
    if record.get("likely_platform_incident"):
        head.append('<a class="mark incident-mark" href="#incident">likely platform incident</a>')
    head.append(f'<span class="diag">{_e(record.get("diagnosis"))}</span>')
    if record.get("target_kind"):
        head.append(f'<span class="meta">{_e(record.get("target_kind"))}</span>')
    head.append(f'<span class="target">{_e(record.get("target"))}</span>')
    body = [f'<div class="obs"><span class="meta">observed:</span> {_e(record.get("observed"))}']
    if record.get("expected"):
        body.append(f'<br><span class="meta">expected:</span> {_e(record.get("expected"))}')
    body.append(_attempts(record) + "</div>")
    cause = record.get("explained_by")
    if cause:
        body.append(f'<div class="explained">explained by '
                    f"{_check_link(anchors, cause, _e(names.get(str(cause), cause)))}</div>")
    refs = _strings(record.get("runbook"))
    if refs:
        body.append('<div class="runbook"><span class="meta">runbook:</span> '
                    + "; ".join(runbook_link(r) for r in refs) + "</div>")
    folded = []
    likely = _strings(record.get("causes"))
    if likely:
        folded.append('<div>likely causes</div><ul class="likely">'
                      + "".join(f"<li>{_e(c)}</li>" for c in likely) + "</ul>")
    steps = _strings(record.get("remediation"))
    if steps:
        folded.append('<div>remediation</div><ol class="remediation">'
                      + "".join(f"<li>{_e(s)}</li>" for s in steps) + "</ol>")
    if record.get("escalation"):
        folded.append(f'<div class="escalation">escalate: {_e(record.get("escalation"))}</div>')
    if record.get("message"):
        folded.append(f'<pre class="message">{_e(record.get("message"))}</pre>')
    if record.get("facts"):
        folded.append(f'<div>facts</div><pre class="facts">{_e(_pretty(record.get("facts")))}</pre>')
    if record.get("failing_since"):
        folded.append(f'<div class="meta">failing since {_e(record.get("failing_since"))} '
                      f'({_count(record.get("failing_runs"))} runs)</div>')
    if folded:
        body.append(f'<details class="failure"><summary>failure block</summary>{"".join(folded)}</details>')
    body.append(f'<div class="meta id">{_e(key)}</div>')
    nested = [c for c in consequences.get(key, []) if str(c.get("id")) not in seen]
    explained = ""
    if nested:
        inner = "".join(_card(c, anchors, names, consequences, seen) for c in nested)
        explained = (f'<details class="consequences"><summary>explains {len(nested)} other failing '
                     f'check{"s" if len(nested) != 1 else ""}</summary>{inner}</details>')
    return (f'<article class="check card" id="{anchors.get(key, "")}" {_data(record)} '
            f'data-incident="{"true" if record.get("likely_platform_incident") else "false"}">'
            f'<div class="own"><div class="head">{" ".join(head)}</div>{"".join(body)}</div>{explained}</article>')


def _attempts(record: Mapping[str, Any]) -> str:
    """Every attempt of the check's retried exchanges (the record's `attempts`), one list item each."""
    attempts = [a for a in record.get("attempts") or [] if isinstance(a, Mapping)]
    if not attempts:
        return ""
    items = "".join(
        f'<li>attempt {_e(a.get("attempt"))} of {_e(a.get("exchange"))}: <b>{_e(a.get("outcome"))}</b>'
        + (f" ({_e(a.get('error'))})" if a.get("error") else "")
        + f' in {_e(a.get("duration_s"))} s'
        + (f' after waiting {_e(a.get("waited_s"))} s' if a.get("waited_s") else "")
        + "</li>" for a in attempts)
    return f'<ol class="attempts">{items}</ol>'


def _row(record: Mapping[str, Any]) -> str:
    """A passing or skipped check: one compact row (its facts are in the JSON report); a check that
    passed after retry says so, with its attempts."""
    outcome = _e(record.get("outcome"))
    shown = "passed after retry" if record.get("outcome") == RETRIED else outcome
    observed = _e(record.get("observed"))
    if record.get("change"):
        observed += f' <span class="change">{_e(record.get("change"))}</span>'
    window = record.get("maintenance")
    if isinstance(window, Mapping):  # it failed, inside a window: what it saw and the window, never hidden
        observed += f' <span class="o-maintenance">[{_e(in_window_text(window))}]</span>'
    observed += _attempts(record)
    return (f'<tr class="check" {_data(record)}><td class="o-{outcome}">{shown}</td>'
            f'<td>{_badge(record.get("severity"))}</td><td>{_e(record.get("category"))}</td>'
            f'<td>{_e(record.get("diagnosis"))}</td><td>{_e(record.get("target"))}</td><td>{observed}</td></tr>')


def _severity_rank(severity: object) -> int:
    return SEVERITIES.index(str(severity)) if severity in SEVERITIES else len(SEVERITIES)


def _failure_rank(record: Mapping[str, Any]) -> tuple[int, int, str]:
    """Failed and errors before warnings, then the most severe first."""
    return (1 if record.get("outcome") == "warned" else 0, _severity_rank(record.get("severity")),
            str(record.get("id")))


def status(checks: Sequence[Mapping[str, Any]]) -> str:
    """critical, warning, ok (or unknown: no check): a critical or high check that failed (or erred)
    makes the run CRITICAL, any other failure or warning a WARNING, as outputs.nagios says."""
    bad = [r for r in checks if r.get("outcome") in BAD]
    if any(r.get("outcome") != "warned" and r.get("severity") in SERIOUS for r in bad):
        return "critical"
    retried = any(r.get("outcome") == RETRIED for r in checks)  # passed after retry: a warning
    return "warning" if bad or retried else "ok" if checks else "unknown"


def _banner(report: Mapping[str, Any], checks: Sequence[Mapping[str, Any]], state: str) -> str:
    env = report.get("environment") or {}
    failing = Counter(str(r.get("severity")) for r in checks if r.get("outcome") in ("failed", "error"))
    warned = sum(1 for r in checks if r.get("outcome") == "warned")
    outcomes = Counter(str(r.get("outcome")) for r in checks)
    parts = [_filter_link(f"{_badge(s)} <b>{failing[s]}</b>", severity=s, outcome="bad")
             for s in _ordered(failing, SEVERITIES)]
    if parts:
        line = f'failing: {" ".join(parts)}'
    else:
        line = "no failing check"
    if warned:
        line += f' &middot; {_filter_link(f"<b>{warned}</b> warned", outcome="warned")}'
    in_window = sum(1 for r in checks if r.get("outcome") == MAINTENANCE)
    if in_window:
        line += f' &middot; {_filter_link(f"<b>{in_window}</b> failed during maintenance", outcome=MAINTENANCE)}'
    retried = outcomes[RETRIED]
    if retried:
        line += f' &middot; {_filter_link(f"<b>{retried}</b> passed after retry", outcome=RETRIED)}'
    explained = sum(1 for r in checks if r.get("outcome") in BAD and r.get("explained_by"))
    if explained:
        line += f" &middot; {explained} explained by another failure"
    totals = ", ".join(f"{outcomes[o]} {_e(o)}" for o in OUTCOMES if outcomes[o])
    incident = report.get("platform_incident")
    incident_line = ""
    if incident:
        affected = len(_strings(incident.get("affected_checks")) if isinstance(incident, Mapping) else [])
        incident_line = (f'<p class="incident-line"><a href="#incident">the provider reports an incident</a>: '
                         f'{affected} failing check{"s" if affected != 1 else ""} likely part of it</p>')
    run = (f'run {_e(report.get("started", ""))}, {_e(report.get("duration_s", ""))} s, '
           f'exit status {_e(report.get("exit_status", ""))} &middot; {_e(report.get("tool", ""))}')
    return (f'<header id="status" class="banner status-{state}" data-status="{state}">'
            f'<h1><span class="state">{state.upper()}</span> <span class="env">{_e(env.get("name", ""))}</span>'
            f' <span class="kind">({_e(env.get("kind", ""))})</span></h1>'
            f'<p id="failing-line">{line}</p>{incident_line}'
            f'<p class="run">{len(checks)} checks: {totals or "none"} &middot; {run}</p></header>')


def _select(key: str, label: str, options: Sequence[tuple[str, str]]) -> str:
    opts = "".join(f'<option value="{_e(v)}">{_e(text)}</option>' for v, text in options)
    return f'<select id="f-{key}" aria-label="{_e(label)}"><option value="">{_e(label)}: all</option>{opts}</select>'


def _summary_table(title: str, key: str, groups: Mapping[str, Mapping[str, int]], order: Sequence[str]) -> str:
    head = "".join(f"<th>{_e(o)}</th>" for o in OUTCOMES)
    rows = []
    for name in _ordered(groups, order):
        counts = groups[name]
        cells = []
        for o in OUTCOMES:
            n = _count(counts.get(o, 0))
            shown = _filter_link(str(n), **{key: name, "outcome": o}) if n else "0"
            cells.append(f'<td class="n{"" if n else " zero"}" data-outcome="{_e(o)}">{shown}</td>')
        total = sum(_count(v) for v in counts.values())
        rows.append(f'<tr data-{key}="{_e(name)}"><th>{_filter_link(_e(name), **{key: name})}</th>'
                    f'{"".join(cells)}<td class="n">{total}</td></tr>')
    return (f'<table class="summary" id="summary-{key}"><thead><tr><th>{_e(title)}</th>{head}<th>total</th>'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _incident(incident: Any, anchors: Mapping[str, str], names: Mapping[str, str]) -> str:
    if not incident:
        return ""
    head = '<section id="incident"><h2>Platform incident</h2><div class="incident">'
    if not isinstance(incident, Mapping):
        return f"{head}<p>{_e(incident)}</p></div></section>"
    parts = []
    if incident.get("note"):
        parts.append(f'<p class="note">{_e(incident.get("note"))}</p>')
    pages = [p for p in incident.get("status_pages") or [] if isinstance(p, Mapping)]
    if pages:
        parts.append("<div>status pages:</div><ul>" + "".join(
            f'<li><b>{_e(p.get("target"))}</b>: {_e(p.get("observed"))}</li>' for p in pages) + "</ul>")
    hosts = _strings(incident.get("provider_hosts"))
    if hosts:
        parts.append(f'<p>provider hosts: {", ".join(_e(h) for h in hosts)}</p>')
    affected = _strings(incident.get("affected_checks"))
    if affected:
        parts.append("<div>likely part of it:</div><ul>" + "".join(
            f"<li>{_check_link(anchors, a, _e(names.get(a, a)))}</li>" for a in affected) + "</ul>")
    known = {"note", "status_pages", "provider_hosts", "affected_checks"}
    for key, value in incident.items():
        if key not in known:
            parts.append(f"<p>{_e(key)}: {_e(value)}</p>")
    return f'{head}{"".join(parts)}</div></section>'


def _causes(causes: Sequence[Mapping[str, Any]], anchors: Mapping[str, str]) -> str:
    items = []
    for cause in causes:
        consequences = []
        for consequence in cause.get("consequences") or []:
            if isinstance(consequence, Mapping):
                what = f'{_e(consequence.get("diagnosis"))} {_e(consequence.get("target"))}'
                consequences.append(f'<li>{_check_link(anchors, consequence.get("id"), what)}'
                                    f' <span class="meta">{_e(consequence.get("id"))}</span></li>')
        name = f'<b>{_e(cause.get("diagnosis"))} {_e(cause.get("target"))}</b>'
        items.append(
            f'<li class="cause">{_badge(cause.get("severity"))} {_check_link(anchors, cause.get("cause"), name)}: '
            f'{_e(cause.get("observed"))} <span class="meta">({_e(cause.get("why"))})</span>'
            f'<div class="meta">explains:</div><ul class="consequences">{"".join(consequences)}</ul></li>')
    if not items:
        return ""
    return f'<section><h2>Causes</h2><ul class="causes" id="causes">{"".join(items)}</ul></section>'


def render(report: Mapping[str, Any]) -> str:
    """The page of a report (the dict outputs.json_report writes as JSON)."""
    env = report.get("environment") or {}
    summary = report.get("summary") or {}
    checks = [r for r in report.get("checks") or [] if isinstance(r, Mapping)]
    state = status(checks)
    failing = sorted((r for r in checks if r.get("outcome") in BAD), key=_failure_rank)
    others = sorted((r for r in checks if r.get("outcome") not in BAD),
                    key=lambda r: (str(r.get("outcome")) != "passed", _severity_rank(r.get("severity")),
                                   str(r.get("category")), str(r.get("id"))))
    anchors = {str(r.get("id")): f"check-{i}" for i, r in enumerate(failing)}
    names = {str(r.get("id")): f'{r.get("diagnosis", "")} {r.get("target", "")}'.strip() for r in failing}
    consequences: dict[str, list[Mapping[str, Any]]] = {}
    for record in failing:
        cause = str(record.get("explained_by") or "")
        if cause and cause in anchors and cause != str(record.get("id")):
            consequences.setdefault(cause, []).append(record)
    # causes first among equals; a failure explained by another one is folded under it
    top = sorted((r for r in failing if str(r.get("explained_by") or "") not in anchors
                  or str(r.get("explained_by")) == str(r.get("id"))),
                 key=lambda r: (*_failure_rank(r)[:2], str(r.get("id")) not in consequences, str(r.get("id"))))
    seen: set[str] = set()
    cards = [_card(r, anchors, names, consequences, seen) for r in top]
    cards += [_card(r, anchors, names, consequences, seen) for r in failing if str(r.get("id")) not in seen]

    categories = sorted({str(r.get("category")) for r in checks})
    severities = _ordered({str(r.get("severity")) for r in checks}, SEVERITIES)
    filters = "".join([
        _select("category", "category", [(c, c) for c in categories]),
        _select("severity", "severity", [(s, s) for s in severities]),
        _select("outcome", "outcome", [("bad", "failed, error or warned"), *((o, o) for o in OUTCOMES)]),
        _select("change", "change", [(c, c) for c in CHANGES]),
        '<input id="f-text" type="search" aria-label="text" placeholder="diagnosis, target, message...">',
        '<button id="f-reset" type="button">show all</button>',
        '<span id="shown" class="meta"></span>',
    ])
    outcomes = Counter(str(r.get("outcome")) for r in others)
    passing_title = ", ".join(f"{outcomes[o]} {o}" for o in OUTCOMES if outcomes[o]) or "none"
    totals = " ".join(
        f'<span class="o-{o}" data-total="{o}">{_e(o)} <b>{_count(summary.get(o, 0))}</b></span>' for o in OUTCOMES)
    changes = summary.get("changes") or {}
    change_line = ", ".join(_filter_link(f"{_e(k)} {_count(v)}", change=str(k)) for k, v in changes.items())
    title = f"healthsuite: {state.upper()} {env.get('name', '')}"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        _banner(report, checks, state),
        "<main>",
        f'<nav id="filters" aria-label="filters">{filters}</nav>',
        f'<section id="failures"><h2>Failing checks ({len(failing)})</h2>',
        '<p id="failing-none" class="meta"' + (" hidden" if failing else "") + ">"
        + ("No failing check matches the filters." if failing else "No failing check.") + "</p>",
        *cards,
        "</section>",
        _incident(report.get("platform_incident"), anchors, names),
        _causes([c for c in report.get("causes") or [] if isinstance(c, Mapping)], anchors),
        '<section id="summary"><h2>Summary</h2>',
        f'<p id="totals">total <b data-total="total">{_count(summary.get("total", 0))}</b>: {totals}'
        + (f'<br><span class="meta">changes: {change_line}</span>' if change_line else "") + "</p>",
        '<div class="tables scroll">',
        _summary_table("category", "category", summary.get("by_category") or {}, ()),
        _summary_table("severity", "severity", summary.get("by_severity") or {}, SEVERITIES),
        "</div>",
        f'<p class="meta">{_e(report.get("tool", ""))}, {_e(report.get("started", ""))} to '
        f'{_e(report.get("finished", ""))} ({_e(report.get("duration_s", ""))} s), exit status '
        f'{_e(report.get("exit_status", ""))}, environment file {_e(env.get("file", ""))}</p></section>',
        f'<section id="passing-section"><h2>Passing and skipped checks ({len(others)})</h2>',
        f'<details id="passing"><summary>{_e(passing_title)}: show them</summary>'
        '<p class="meta">one line each; their facts are in the JSON report</p>'
        '<div class="scroll"><table id="passing-table"><thead><tr><th>outcome</th><th>severity</th>'
        "<th>category</th><th>diagnosis</th><th>target</th><th>observed</th></tr></thead><tbody>",
        *(_row(r) for r in others),
        "</tbody></table></div></details></section>",
        "</main>",
        f"<script>{JS}</script>",
        "</body></html>",
        "",
    ])


def write(path: Path, page: str) -> None:
    """Atomically, mode 0640 like every report file (outputs.files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, [page])


def write_result(path: Path, result: RunResult) -> str:
    """The page of `result`, from the same document the JSON report is (secrets redacted)."""
    document = json.loads(json_report.dumps(json_report.document(result), result.redact, result.book))
    write(path, render(document))
    return ""
