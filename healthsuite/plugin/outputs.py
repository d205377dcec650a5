"""The outputs' options, and the settings the plugin hands to outputs.publish with the run's result.

- `--prom-textfile PATH`, `--pushgateway URL`, `--prom-instance NAME` (outputs.prometheus)
- `--html-report PATH` (outputs.html)
- `--notify` (outputs.notices)

Each has an ini setting of the same name with the `healthsuite_` prefix; the option wins.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ..environment.loaded import LoadedEnvironment
from ..outputs.delivery import NOTIFY_TIMEOUT_S, receivers
from ..outputs.prometheus import JOB, PUSH_TIMEOUT_S, masked
from ..outputs.publish import Settings
from .state import STATE


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("healthsuite")
    group.addoption(
        "--prom-textfile",
        dest="healthsuite_prom_textfile",
        metavar="PATH",
        help="write the run's Prometheus metrics to PATH (a `.prom` file for node_exporter's textfile "
        "collector), atomically (default: ini healthsuite_prom_textfile)",
    )
    group.addoption(
        "--pushgateway",
        dest="healthsuite_pushgateway",
        metavar="URL",
        help=f"push the run's Prometheus metrics to this Pushgateway (job {JOB}, grouping key environment "
        f"and instance; ends after {PUSH_TIMEOUT_S:g} s and never fails the run; default: ini "
        "healthsuite_pushgateway)",
    )
    group.addoption(
        "--prom-instance",
        dest="healthsuite_prom_instance",
        metavar="NAME",
        help="the `instance` of the pushed metrics' grouping key (default: ini healthsuite_prom_instance, "
        "else the host name)",
    )
    parser.addini("healthsuite_prom_textfile", "see --prom-textfile", default="")
    parser.addini("healthsuite_pushgateway", "see --pushgateway", default="")
    parser.addini("healthsuite_prom_instance", "see --prom-instance", default="")

    group.addoption(
        "--html-report",
        dest="healthsuite_html_report",
        metavar="PATH",
        help="write the run's report as one self-contained HTML page to PATH (summary, causes, filterable "
        "checks; no external assets) (default: ini healthsuite_html_report)",
    )
    parser.addini("healthsuite_html_report", "see --html-report", default="")

    group.addoption(
        "--notify",
        dest="healthsuite_notify",
        action="store_true",
        help="post one escalation notice to the environment's `notify:` webhooks: new critical and high "
        "failures, reminders of those that persist (`reminders:`), recoveries; the consequences of a failing "
        f"cause held under it (what was announced is kept in <reports>/<env>.notified.json; "
        f"sending ends after {NOTIFY_TIMEOUT_S:g} s and never fails the run)",
    )


def _setting(config: pytest.Config, name: str) -> str:
    """The option, else the ini value (the option wins)."""
    return str(config.getoption(name, None) or config.getini(name) or "").strip()


def textfile(config: pytest.Config) -> Path | None:
    value = _setting(config, "healthsuite_prom_textfile")
    if not value:
        return None
    path = Path(value)
    if not path.is_absolute():
        base = config.invocation_params.dir if config.getoption("healthsuite_prom_textfile", None) else config.rootpath
        path = base / path
    return path


def pushgateway(config: pytest.Config) -> str:
    return _setting(config, "healthsuite_pushgateway")


def instance(config: pytest.Config) -> str:
    return _setting(config, "healthsuite_prom_instance") or socket.gethostname()


def html_path(config: pytest.Config) -> Path | None:
    """The option, else the ini value; relative to the invocation directory (option) or the rootdir (ini)."""
    option = str(config.getoption("healthsuite_html_report", None) or "").strip()
    value = option or str(config.getini("healthsuite_html_report") or "").strip()
    if not value:
        return None
    path = Path(value)
    if not path.is_absolute():
        path = (config.invocation_params.dir if option else config.rootpath) / path
    return path


def notifying(config: pytest.Config) -> bool:
    return bool(config.getoption("healthsuite_notify", False)) and not hasattr(config, "workerinput")


def settings(config: pytest.Config) -> Settings:
    state = config.stash.get(STATE, None)
    return Settings(prom_textfile=textfile(config), pushgateway=pushgateway(config), prom_instance=instance(config),
                    notify=notifying(config), html_report=html_path(config),
                    heartbeat=state.heartbeat if state is not None else None,
                    nagios=bool(config.getoption("healthsuite_nagios", False)))


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    path = textfile(config)
    if path is not None and path.suffix != ".prom":
        source = ("--prom-textfile" if config.getoption("healthsuite_prom_textfile", None)
                  else "ini healthsuite_prom_textfile")
        raise pytest.UsageError(
            f"{source} {path}: node_exporter's textfile collector reads only files named *.prom; "
            f"name it {path.with_suffix('.prom').name}"
        )
    url = pushgateway(config)
    if url and not url.startswith(("http://", "https://")):
        source = "--pushgateway" if config.getoption("healthsuite_pushgateway", None) else "ini healthsuite_pushgateway"
        raise pytest.UsageError(f"{source} {masked(url)!r}: not an http(s) URL; e.g. http://pushgateway:9091")


def report_header(config: pytest.Config, env: LoadedEnvironment | None) -> list[str]:
    """The header's lines about where the run's outputs go."""
    if hasattr(config, "workerinput"):
        return []
    lines = []
    path = textfile(config)
    if path is not None:
        lines.append(f"healthsuite: --prom-textfile: the run's metrics go to {path}")
    url = pushgateway(config)
    if url:
        lines.append(f"healthsuite: --pushgateway: the run's metrics are pushed to {masked(url)} "
                     f"(job {JOB}, instance {instance(config)})")
    page = html_path(config)
    if page is not None:
        lines.append(f"healthsuite: --html-report: the run's HTML report goes to {page}")
    if notifying(config) and env is not None:
        if not env.model.notify:
            lines.append(f"healthsuite: --notify: {env.path.name} declares no `notify:` webhooks; nothing will be sent")
        else:
            hooks = ", ".join(f"{hook.name} ({hook.format})" for hook in env.model.notify)
            lines.append(f"healthsuite: --notify: new critical and high failures, reminders and recoveries go to "
                         f"{hooks}")
    return lines


def secrets_known(env: LoadedEnvironment) -> None:
    """The webhooks' URLs are secrets before anything runs, whether or not this run notifies."""
    if env.model.notify:
        receivers(env)


NOT_JUDGED = (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR)


def metrics_of_nothing_judged(config: pytest.Config, env_name: str, exit_status: int | None) -> list[str]:
    """A run that ended before any verdict (a usage error, an interruption) still replaces the textfile
    and pushes its exit status with no check series: the last run's series must not stay green. `None`:
    the run ended before its session began (a usage error while configuring). What was done, as lines."""
    status = int(pytest.ExitCode.USAGE_ERROR) if exit_status is None else exit_status
    if hasattr(config, "workerinput") or config.option.collectonly or status not in NOT_JUDGED:
        return []
    try:
        path, url = textfile(config), pushgateway(config)
    except Exception:  # noqa: BLE001 - the settings themselves are what was wrong: nothing to write to
        return []
    if path is None and not url:
        return []
    from ..outputs import prometheus  # noqa: PLC0415 - only a run that failed to judge pays for it here

    lines = []
    registry = prometheus.usage_error_registry(env_name, datetime.now(UTC), status)
    if path is not None and path.suffix == ".prom":
        try:
            prometheus.write_textfile(path, registry)
            lines.append(f"healthsuite: metrics written to {path}: exit status {status}, no check judged")
        except OSError as exc:
            lines.append(f"healthsuite: metrics NOT WRITTEN to {path}: {exc.strerror or exc}")
    if url.startswith(("http://", "https://")):
        error = prometheus.push(url, registry, {"environment": env_name, "instance": instance(config)})
        lines.append(f"healthsuite: metrics NOT PUSHED to {masked(url)}: {error}" if error
                     else f"healthsuite: metrics pushed to {masked(url)}: exit status {status}, no check judged")
    return lines
