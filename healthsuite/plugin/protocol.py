"""A lean run protocol for checks: what pytest's own does for a check, without its per-test cost.

pytest's protocol runs each phase (setup, call, teardown) through a dozen hook implementations:
output capture that swaps file descriptors on every phase, log capture, fixture resolution, the
makereport chain. For a check that is about a millisecond of CPU, more than the check itself, so at
thousands of targets the number of checks decided the run's time. A check needs none of it: its
arguments are the environment's objects (its target, `probes`, `expect`, ...), it prints nothing, and
a passing phase's report is always the same. So for a check item this protocol

- builds the check's arguments directly (no fixture machinery);
- captures what the check writes to sys.stdout / sys.stderr (no file-descriptor swapping), and
  reports it as pytest does ("Captured stdout call");
- builds the report of a passing phase directly, and sends every other one (a failure, a skip)
  through pytest's makereport hooks, so failures read exactly as they do under pytest's protocol;
- logs every report through `pytest_runtest_logreport` like pytest (the terminal, JUnit, xdist,
  --lf and -x all see them), the three reports of a check sharing one keyword set.

It is used only where it provably changes nothing else: every plugin that takes part in a test's
phases is one of pytest's own or healthsuite (an unknown plugin, allure included, gets pytest's
protocol for every test), no debugging or setup-display option is on, and the item is a check whose
fixtures are all the environment's and that carries no skip/xfail/usefixtures mark. Everything
else runs under pytest's protocol. `-p no:healthsuite_lean` is not needed to switch it off: the ini
setting `healthsuite_lean_protocol = false` does.
"""

from __future__ import annotations

import io
import sys
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from healthsuite.plugin import footprint
from healthsuite.plugin.pytest_internals import CallInfo

# plugins whose per-phase hooks this protocol stands in for, or that do nothing for a check
KNOWN_PHASE_PLUGINS = frozenset(
    {
        "runner", "python", "fixtures", "capturemanager", "logging-plugin", "skipping", "threadexception",
        "unraisableexception", "tmpdir", "unittest", "anyio", "setuponly", "setupplan", "assertion",
        "faulthandler", "warnings",
        # hypothesis's hooks act on @given tests only, and a check is never one
        "hypothesispytest",
    }
)
PHASE_HOOKS = (
    "pytest_runtest_protocol", "pytest_runtest_setup", "pytest_runtest_call", "pytest_runtest_teardown",
    "pytest_runtest_makereport", "pytest_pyfunc_call", "pytest_fixture_setup", "pytest_fixture_post_finalizer",
)
OPTIONS_THAT_NEED_PYTEST = ("usepdb", "trace", "setuponly", "setupshow", "setupplan", "runxfail", "log_cli_level")
MARKS_THAT_NEED_PYTEST = ("skip", "skipif", "xfail", "usefixtures")


def unavailable(config: pytest.Config, own: Callable[[object], bool]) -> str:
    """Why the lean protocol cannot be used in this run ("" when it can). `own(plugin)` tells
    healthsuite's own plugin objects."""
    if str(config.getini("healthsuite_lean_protocol")).strip().lower() in ("false", "0", "no", "off"):
        return "ini healthsuite_lean_protocol is off"
    for option in OPTIONS_THAT_NEED_PYTEST:
        if config.getoption(option, None):
            return f"--{option} needs pytest's protocol"
    if config.getini("log_cli"):
        return "log_cli needs pytest's protocol"
    manager = config.pluginmanager
    for hook in PHASE_HOOKS:
        for impl in getattr(manager.hook, hook).get_hookimpls():
            if impl.plugin_name not in KNOWN_PHASE_PLUGINS and not own(impl.plugin):
                return f"plugin {impl.plugin_name!r} takes part in each test's {hook}"
    return ""


Arguments = Callable[[pytest.Function], "dict[str, Any] | None"]


def function_of(item: pytest.Function) -> object:
    """`item.function` without its cost: pytest's property tries `__func__` and catches the
    AttributeError of a plain function, an exception for every call."""
    obj = item.obj
    return getattr(obj, "__func__", obj)


# per check function: its file and line, and the node (held weakly) and module path prefix of the item
# that found them
_FILE_LINES: weakref.WeakKeyDictionary[object, tuple[str, int | None, weakref.ref[Any], str]] = (
    weakref.WeakKeyDictionary()
)


def location(item: pytest.Function) -> tuple[str, int | None, str]:
    """`item.location`, with the file and line found once per check function rather than once per
    item (pytest looks them up anew for each, a `stat` of the file every time), and the module path
    (`Class.test_x[id]`) as the prefix found then and the item's own name, for the items under the
    same node (another class's items, one inheriting the function, look theirs up). Neither read from
    nor kept in the item's `__dict__`: asking for it makes the interpreter build the item a dictionary of
    its own (an item's attributes are kept without one), 64 bytes for each of thousands of items; a
    check asks once, and its reports keep the tuple."""
    function = function_of(item)
    cached = _FILE_LINES.get(function)
    if cached is None or cached[2]() is not item.parent:
        found = item.location
        modpath = found[2]
        if modpath.endswith(item.name):
            prefix = modpath[: len(modpath) - len(item.name)]
            _FILE_LINES[function] = (found[0], found[1], weakref.ref(item.parent), prefix)
        return found
    return cached[0], cached[1], cached[3] + item.name


def run(item: pytest.Function, nextitem: pytest.Item | None, arguments: Mapping[str, Any]) -> None:
    """One check, its three phases reported as pytest's protocol reports them."""
    ihook = item.ihook
    where = location(item)
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=where)
    keywords = dict.fromkeys(item.keywords, 1)  # one set for the item's three reports
    reraise: tuple[type[BaseException], ...] = (pytest.exit.Exception, KeyboardInterrupt)

    def phase(when: str, action: Callable[[], object], captured: list[tuple[str, str]] | None = None) -> bool:
        call = CallInfo.from_call(action, when=when, reraise=reraise)  # type: ignore[arg-type]
        if call.excinfo is None and not captured:
            report = pytest.TestReport(
                item.id, where, keywords, "passed", None, when,  # type: ignore[arg-type]
                [], call.duration, call.start, call.stop, item.user_properties,
            )
        else:
            for name, text in captured or ():
                item.add_report_section(when, name, text)
            report = ihook.pytest_runtest_makereport(item=item, call=call)
            item._report_sections.clear()
        ihook.pytest_runtest_logreport(report=report)
        return bool(report.passed)

    def setup() -> None:
        item.funcargs = dict(arguments)

    captured: list[tuple[str, str]] = []
    try:
        if phase("setup", setup):
            phase("call", lambda: _call_capturing(item, captured), captured)
        session = item.session
        if session.shouldfail or session.shouldstop:
            nextitem = None
        # tears down whatever a check under pytest's protocol set up, once no later item needs it
        phase("teardown", lambda: session._setupstate.teardown_exact(nextitem))
    finally:
        item.funcargs = None  # type: ignore[assignment]
        footprint.after_run(item)  # its reports are made: what only its run read is let go
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=where)


def _call_capturing(item: pytest.Function, captured: list[tuple[str, str]]) -> None:
    """The check's call, with what it writes to sys.stdout / sys.stderr kept for its report (unless
    capture is off, `-s`)."""
    if item.config.getoption("capture", "fd") == "no":
        item.runtest()
        return
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        item.runtest()
    finally:
        sys.stdout, sys.stderr = saved
        for name, stream in (("stdout", out), ("stderr", err)):
            if stream.getvalue():
                captured.append((name, stream.getvalue()))
