"""Judge the deployment configuration (DEP3-DEP6): required variables, env files, wrangler.toml, bundle.

Only names reach a finding: variable names, env-file keys, binding names; never a value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..model.deploy import WranglerConfig
from ..probes.config_files import BundleObservation, EnvKeys, FileProblem, VariablesObservation, WranglerObservation
from .failure import Finding

SHOWN = 20  # names listed in a sentence; the facts carry all of them


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (f" (+{len(names) - SHOWN} more)" if len(names) > SHOWN else "")


def file_problem(problem: FileProblem, expected: str, what: str, fix: str) -> Finding:
    """A configuration file that could not be used: missing, unreadable, too large, not valid."""
    meaning = {
        "missing": f"the {what} is not there, so nothing it declares is in effect",
        "syntax": f"the {what} cannot be parsed, so the tool that reads it fails before using any of it",
    }.get(problem.kind, f"the {what} cannot be used")
    return Finding(
        ok=False,
        observed=f"{problem.path} {problem.detail}",
        expected=expected,
        meaning=meaning,
        remediation=(fix,),
        facts={"path": problem.path, "problem": problem.kind},
    )


# --- DEP3 ----------------------------------------------------------------------------------------------


def required_variables(names: Sequence[str], obs: VariablesObservation) -> Finding:
    expected = f"{len(names)} required variable(s) set and non-empty in {obs.source}: {_names(names)}"
    if obs.problem is not None:
        return file_problem(
            obs.problem, expected, "env file the application reads", "Create the env file on the host (from the "
            "example file) with every required variable, then restart the application."
        )
    missing = [*obs.unset, *obs.empty]
    facts: dict[str, object] = {
        "source": obs.source, "set": list(obs.set_names), "unset": list(obs.unset), "empty": list(obs.empty),
    }
    if not missing:
        return Finding(True, f"all {len(names)} required variable(s) are set and non-empty", expected, facts=facts)
    parts = []
    if obs.unset:
        parts.append(f"not set: {_names(obs.unset)}")
    if obs.empty:
        parts.append(f"empty: {_names(obs.empty)}")
    return Finding(
        ok=False,
        observed=f"{len(missing)} of {len(names)} required variable(s) missing in {obs.source}: {'; '.join(parts)}",
        expected=expected,
        meaning="code that reads these variables gets nothing: the application fails to start, or fails on the "
        "first request that needs them",
        remediation=(f"Set {_names(missing)} (values are not shown here), then redeploy or restart.",),
        facts=facts,
    )


# --- DEP4 ----------------------------------------------------------------------------------------------


def env_file_keys(example: EnvKeys, deployed: EnvKeys) -> Finding:
    expected = f"every key of {example.path} present in {deployed.path}"
    for keys, what in ((example, "example env file"), (deployed, "deployed env file")):
        if keys.problem is not None:
            return file_problem(
                keys.problem, expected, what, f"Create {keys.path} (copy the example file and fill in the values)."
            )
    present = set(deployed.keys)
    missing = [k for k in example.keys if k not in present]
    known = set(example.keys)
    extra = [k for k in deployed.keys if k not in known]
    facts: dict[str, object] = {
        "example": example.path, "deployed": deployed.path, "missing": missing, "extra": extra,
        "example_keys": len(example.keys), "deployed_keys": len(deployed.keys),
    }
    if example.bad_lines or deployed.bad_lines:
        facts["lines_not_key_value"] = {example.path: list(example.bad_lines), deployed.path: list(deployed.bad_lines)}
    extra_note = f"; {len(extra)} key(s) not in the example (not a failure): {_names(extra)}" if extra else ""
    if not missing:
        observed = f"all {len(example.keys)} key(s) of the example are present{extra_note}"
        return Finding(True, observed, expected, facts=facts)
    return Finding(
        ok=False,
        observed=f"{len(missing)} of {len(example.keys)} key(s) missing from {deployed.path}: {_names(missing)}"
        + extra_note,
        expected=expected,
        meaning="settings the application expects are absent from the deployed configuration, so it falls back "
        "to defaults or fails where it reads them",
        remediation=(f"Add {_names(missing)} to {deployed.path} with this environment's values, then restart.",),
        facts=facts,
    )


# --- DEP5 ----------------------------------------------------------------------------------------------


def _routes(table: Mapping[str, Any]) -> list[str]:
    """Route patterns of a wrangler table: `route` or `routes`, each a string or a table with `pattern`."""
    found: list[str] = []
    for key in ("route", "routes"):
        value = table.get(key)
        items = value if isinstance(value, list) else [value] if value is not None else []
        for item in items:
            if isinstance(item, str):
                found.append(item)
            elif isinstance(item, Mapping) and isinstance(item.get("pattern"), str):
                found.append(item["pattern"])
    return found


def _bindings(table: Mapping[str, Any], key: str) -> list[str]:
    items = table.get(key)
    if not isinstance(items, list):
        return []
    return [str(i["binding"]) for i in items if isinstance(i, Mapping) and "binding" in i]


def wrangler(config: WranglerConfig, obs: WranglerObservation) -> Finding:
    wanted = []
    if config.route:
        wanted.append(f"route {config.route}")
    if config.vars:
        wanted.append("a [vars] section")
    if config.d1:
        wanted.append(f"D1 binding(s) {', '.join(config.d1)}")
    if config.kv:
        wanted.append(f"KV binding(s) {', '.join(config.kv)}")
    scope = f"[env.{config.env}] of " if config.env else ""
    expected = f"{scope}{obs.path} declares {', '.join(wanted) or 'nothing in particular'}"
    if obs.problem is not None or obs.data is None:
        problem = obs.problem or FileProblem("unreadable", obs.path, "could not be read")
        return file_problem(problem, expected, "wrangler.toml", "Fix wrangler.toml at the line and column named "
                            "(`wrangler deploy --dry-run` shows the same error), or restore it from version control.")
    top = obs.data
    table: Mapping[str, Any] = top
    problems: list[str] = []
    if config.env:
        envs = top.get("env")
        found = envs.get(config.env) if isinstance(envs, Mapping) else None
        if not isinstance(found, Mapping):
            problems.append(f"no [env.{config.env}] table")
            found = {}
        table = found
    routes = _routes(table) or (_routes(top) if config.env else [])  # routes are inherited from the top level
    d1, kv = _bindings(table, "d1_databases"), _bindings(table, "kv_namespaces")
    has_vars = isinstance(table.get("vars"), Mapping)
    if config.route and config.route not in routes:
        problems.append(f"route {config.route} is not declared (routes: {', '.join(routes) or 'none'})")
    if config.vars and not has_vars:
        problems.append(f"no [{'env.' + config.env + '.' if config.env else ''}vars] section")
    missing_d1 = [b for b in config.d1 if b not in d1]
    missing_kv = [b for b in config.kv if b not in kv]
    if missing_d1:
        problems.append(f"D1 binding(s) {', '.join(missing_d1)} not declared (D1: {', '.join(d1) or 'none'})")
    if missing_kv:
        problems.append(f"KV binding(s) {', '.join(missing_kv)} not declared (KV: {', '.join(kv) or 'none'})")
    facts: dict[str, object] = {
        "path": obs.path, "env": config.env, "routes": routes, "d1": d1, "kv": kv, "vars": has_vars,
        "missing_d1": missing_d1, "missing_kv": missing_kv,
    }
    if not problems:
        observed = (
            f"{scope}{obs.path}: routes {', '.join(routes) or 'none'}; [vars] {'present' if has_vars else 'absent'}; "
            f"D1 {', '.join(d1) or 'none'}; KV {', '.join(kv) or 'none'}"
        )
        return Finding(True, observed, expected, facts=facts)
    meanings = []
    if missing_d1 or missing_kv:
        meanings.append("the Worker's code gets \"Binding not found\" for the missing binding(s)")
    if any(p.startswith("route") for p in problems):
        meanings.append("requests to that route no longer reach the Worker")
    if any("vars" in p for p in problems):
        meanings.append("the configuration variables are undefined in the Worker")
    if any(p.startswith("no [env.") and "vars" not in p for p in problems):
        meanings.append(f"`wrangler deploy --env {config.env}` deploys without this environment's settings")
    return Finding(
        ok=False,
        observed=f"{scope}{obs.path}: {'; '.join(problems)}",
        expected=expected,
        meaning="; ".join(meanings),
        facts=facts,
    )


# --- DEP6 ----------------------------------------------------------------------------------------------


def _kb(size: int) -> str:
    return f"{size / 1024:,.1f} KiB"


def bundle(obs: BundleObservation, limit_kb: float, measure: str = "gzip") -> Finding:
    expected = f"{measure} size under {limit_kb:,.0f} KiB"
    if obs.problem is not None:
        if obs.problem.kind in ("missing", "empty"):
            return Finding(
                ok=False,
                observed=f"no bundle: {obs.problem.path} {obs.problem.detail}",
                expected=expected,
                meaning="there is no built bundle to measure: build first (`npm run build`), then run this check",
                remediation=("Build the Worker (`npm run build`, or `wrangler deploy --dry-run --outdir dist`) "
                             "and point `deployment.bundle.path` at its output.",),
                facts={"path": obs.problem.path, "problem": obs.problem.kind},
            )
        return file_problem(obs.problem, expected, "worker bundle", "Check the bundle path and its permissions.")
    size = obs.gzip_bytes if measure == "gzip" else obs.raw_bytes
    at_least = "at least " if obs.truncated else ""
    files = f" in {obs.files} files" if obs.files > 1 else ""
    observed = (
        f"{obs.path}{files}: {at_least}{_kb(obs.raw_bytes)} raw, {at_least}{_kb(obs.gzip_bytes)} gzip "
        f"(judged: {measure})"
    )
    facts = {
        "path": obs.path, "files": obs.files, "raw_bytes": obs.raw_bytes, "gzip_bytes": obs.gzip_bytes,
        "measure": measure, "limit_kb": limit_kb, "truncated": obs.truncated,
    }
    ok = size < limit_kb * 1024
    return Finding(
        ok=ok,
        observed=observed,
        expected=expected,
        meaning="" if ok else f"the bundle is {size / 1024 / limit_kb:.0%} of the limit: `wrangler deploy` fails with "
        "\"Script exceeds size limit\" and the previous version stays live",
        facts=facts,
    )
