"""Find, read and validate an environment file, and resolve its `${VAR}` references.

Every problem is reported as `file: line N: key.path: problem` plus a `fix:` line, all problems of
the file at once, so one edit fixes them all.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from healthsuite.environment import yamltext
from healthsuite.environment.extension import attach
from healthsuite.environment.loaded import LoadedEnvironment
from healthsuite.environment.problems import EnvironmentFileError, explain, key_path, line_of
from healthsuite.model.addresses import http_url_problem, postgres_dsn_problem, redis_url_problem
from healthsuite.model.environment import Environment, PostgresDatabase
from healthsuite.model.templates import MissingVariable, Template, dotenv_lines

ENV_VARIABLE = "HEALTHSUITE_ENV"
MAX_PROBLEMS = 50  # problems listed in one message; the count says how many more


@dataclass(frozen=True)
class EnvironmentChoice:
    value: str
    source: str  # "--env", "HEALTHSUITE_ENV", "ini healthsuite_env"


def choose_environment(cli: str | None, environ: Mapping[str, str], ini: str | None) -> EnvironmentChoice | None:
    """One precedence: --env, then HEALTHSUITE_ENV, then the ini setting."""
    if cli:
        return EnvironmentChoice(cli, "--env")
    if environ.get(ENV_VARIABLE):
        return EnvironmentChoice(environ[ENV_VARIABLE], ENV_VARIABLE)
    if ini:
        return EnvironmentChoice(ini, "ini healthsuite_env")
    return None


def locate(value: str, environments_dir: Path, invocation_dir: Path) -> Path:
    """`NAME` means `environments/NAME.yaml` (of the rootdir, then of the directory pytest runs in);
    anything with a slash or a .yaml/.yml suffix is a path (relative to the directory pytest runs in)."""
    if "/" in value or os.sep in value or value.endswith((".yaml", ".yml")):
        path = Path(value).expanduser()
        path = path if path.is_absolute() else invocation_dir / path
        if not path.is_file():
            raise EnvironmentFileError(f"{value}: environment file not found (looked at {path})")
        return path
    directories = list(dict.fromkeys([environments_dir, invocation_dir / "environments"]))
    for directory in directories:
        if (directory / f"{value}.yaml").is_file():
            return directory / f"{value}.yaml"
    available = sorted({p.stem for d in directories if d.is_dir() for p in d.glob("*.yaml")})
    where = " nor ".join(str(d / f"{value}.yaml") for d in directories)
    searched = " or ".join(map(str, directories))
    hint = f"available: {', '.join(available)}" if available else f"no environment files in {searched}"
    raise EnvironmentFileError(
        f"--env {value}: no environment named {value!r} ({where} does not exist); {hint}; "
        "or pass a path: --env path/to/file.yaml"
    )


def read_text(path: Path) -> str:
    """The text of a file a person pointed us at, or EnvironmentFileError saying what it is instead."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EnvironmentFileError(
            f"{path}: cannot read the environment file: {exc.strerror}\n"
            "  fix: check the path and that this user may read it"
        ) from None
    try:
        return yamltext.decode(data)
    except yamltext.YamlFileError as exc:
        raise EnvironmentFileError(f"{path}: {exc}\n  fix: {exc.fix}") from None


def _kind_of(data: Any) -> str:
    if data is None:
        return "an empty document"
    if isinstance(data, list):
        return "a list"
    return f"a single value ({type(data).__name__})"


def load_environment(path: Path, environ: Mapping[str, str] | None = None) -> LoadedEnvironment:
    """Read and validate `path`; raise EnvironmentFileError with every problem found."""
    environ = os.environ if environ is None else environ
    text = read_text(path)
    try:
        data = yamltext.load(text)
    except yamltext.YamlFileError as exc:
        raise EnvironmentFileError(f"{path}: {exc}\n  fix: {exc.fix}") from None
    if not isinstance(data, dict):
        raise EnvironmentFileError(
            f"{path}: line 1: (top level): an environment file is a mapping of keys (name, kind, base_urls, ...), "
            f"not {_kind_of(data)}\n  fix: start from environments/local.yaml"
        )
    data.setdefault("name", path.stem.lower())
    try:
        with yamltext.no_gc():
            model = Environment.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)[:MAX_PROBLEMS]
        count = exc.error_count()
        del exc, data  # the inputs the errors refer to; the positions come from a second, error-only read
        raise EnvironmentFileError(explain(path, errors, count, yamltext.compose_nodes(text))) from None

    variables: dict[str, str] = {}
    notes: list[str] = []
    if model.secrets_file is not None:
        try:
            secrets_path = Path(model.secrets_file.resolve(environ)).expanduser()
        except MissingVariable as exc:
            raise EnvironmentFileError(
                _rule_message(path, text, ("secrets_file",), exc.reason(), "set that variable, or write the path")
            ) from None
        secrets_path = secrets_path if secrets_path.is_absolute() else (path.parent / secrets_path).resolve()
        if secrets_path.is_file():
            variables.update(_read_secrets(path, text, secrets_path))
        else:
            notes.append(f"secrets_file {secrets_path} does not exist; only the process environment is used")
    variables.update(environ)
    loaded = LoadedEnvironment(path=path, model=model, variables=variables, notes=notes)
    loaded.register_secrets()
    problems = list(_unusable_resolved(loaded))
    if problems:
        root = yamltext.compose_nodes(text)
        lines = [f"{path}: invalid environment file ({len(problems)} problem{'s' * (len(problems) > 1)})"]
        for loc, problem, fix in problems:
            line = line_of(root, loc)
            where = f"line {line}: " if line else ""
            lines += [f"  {where}{key_path(loc)}: {loaded.redactor.redact(problem)}", f"    fix: {fix}"]
        raise EnvironmentFileError("\n".join(lines))
    attach(loaded, text)  # the team's own diagnoses and declared checks
    # titles and checked lines name the thresholds in force here, not the catalogue's defaults
    loaded.catalogue = loaded.catalogue.in_force(model.thresholds)
    return loaded


def _rule_message(path: Path, text: str, loc: tuple[Any, ...], problem: str, fix: str) -> str:
    line = line_of(yamltext.compose_nodes(text), loc)
    where = f"line {line}: " if line else ""
    return f"{path}: invalid environment file (1 problem)\n  {where}{key_path(loc)}: {problem}\n    fix: {fix}"


def _read_secrets(path: Path, text: str, secrets_path: Path) -> dict[str, str]:
    """The KEY=VALUE lines of the secrets file; a bad line is named by its number, never its value."""
    try:
        content = yamltext.decode(secrets_path.read_bytes(), "secrets_file names a text file of KEY=VALUE lines")
    except OSError as exc:
        raise EnvironmentFileError(
            _rule_message(path, text, ("secrets_file",), f"cannot read {secrets_path}: {exc.strerror}",
                          f"check that this user may read it (chmod 0600 {secrets_path}, owned by the user running "
                          "the checks)")
        ) from None
    except yamltext.YamlFileError as exc:
        raise EnvironmentFileError(
            _rule_message(path, text, ("secrets_file",), f"{secrets_path}: {exc}", exc.fix)
        ) from None
    values: dict[str, str] = {}
    for number, key, value in dotenv_lines(content):
        if key is None:
            raise EnvironmentFileError(
                _rule_message(
                    path, text, ("secrets_file",), f"{secrets_path}: line {number}: expected KEY=VALUE",
                    "write one NAME=value per line (`export NAME=value` and quotes are fine; # starts a comment)",
                )
            )
        values[key] = value
    return values


def _unusable_resolved(loaded: LoadedEnvironment) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """What a check would dereference and fail on, judged now that the variables are read: the CA
    bundle, and URLs and DSNs that come from variables (literal ones were judged by the model)."""
    model = loaded.model
    if model.http.ca_bundle is not None and not model.http.ca_bundle.missing(loaded.variables):
        bundle = loaded.resolve_path(model.http.ca_bundle)
        problem = _ca_bundle_problem(bundle)
        if problem is not None:
            started = " (the demo writes it when it starts: python -m healthsuite.demo)" if model.kind == "demo" else ""
            yield ("http", "ca_bundle"), problem, (
                "point http.ca_bundle at a readable PEM file of CA certificates "
                f"(-----BEGIN CERTIFICATE----- blocks), relative to this file{started}"
            )
    for name, template in model.base_urls.items():
        found = _resolved_problem(loaded, template, lambda t: http_url_problem(t, judge_secrets=False))
        if found is not None:
            yield ("base_urls", name), *found
    for index, database in enumerate(model.databases):
        if isinstance(database, PostgresDatabase):
            found = _resolved_problem(loaded, database.dsn, lambda t: postgres_dsn_problem(t, judge_secrets=False))
            if found is not None:
                yield ("databases", index, "dsn"), *found
    for index, cache in enumerate(model.caches):
        found = _resolved_problem(loaded, cache.url, lambda t: redis_url_problem(t, judge_secrets=False))
        if found is not None:
            yield ("caches", index, "url"), *found


def _resolved_problem(
    loaded: LoadedEnvironment, template: Template, judge: Callable[[Template], tuple[str, str] | None]
) -> tuple[str, str] | None:
    if template.is_literal or template.missing(loaded.variables):
        return None
    found = judge(Template(loaded.resolve(template).replace("$", "$$")))
    if found is None:
        return None
    names = ", ".join(f"${{{name}}}" for name in template.variables)
    return f"{found[0]} (the value of {names})", f"set {names} to a usable value: {found[1]}"


def _ca_bundle_problem(bundle: Path) -> str | None:
    try:
        data = bundle.read_bytes()
    except OSError as exc:
        return f"the CA bundle {bundle} cannot be read: {exc.strerror}"
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return f"the CA bundle {bundle} holds no PEM certificate (no -----BEGIN CERTIFICATE----- block)"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=data.decode("ascii", "replace"))
    except (ssl.SSLError, ValueError) as exc:
        reason = re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(exc))
        return f"the CA bundle {bundle} is not valid PEM: {reason}"
    if context.cert_store_stats().get("x509", 0) < 1:
        return f"the CA bundle {bundle} holds no certificate"
    return None
