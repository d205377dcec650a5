"""Find, read and validate an environment file, and resolve its `${VAR}` references.

Every problem is reported as `file: line N: key.path: problem` plus a `fix:` line, all problems of
the file at once, so one edit fixes them all.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import BaseModel, ValidationError

from healthsuite.catalogue.diagnoses import Catalogue, load_catalogue
from healthsuite.environment import yamltext
from healthsuite.environment.redaction import Redactor
from healthsuite.model.addresses import http_url_problem, postgres_dsn_problem, redis_url_problem
from healthsuite.model.environment import Environment, HttpTarget, PostgresDatabase, Target
from healthsuite.model.templates import MissingVariable, Template, dotenv_lines
from healthsuite.model.types import SecretTemplate

ENV_VARIABLE = "HEALTHSUITE_ENV"
MAX_PROBLEMS = 50  # problems listed in one message; the count says how many more


class EnvironmentFileError(Exception):
    """The environment file cannot be used; the message names the file, the key path and the fix."""


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


# --- positions of keys ----------------------------------------------------------------------------


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest YAML node on the path `loc` (pydantic's error location)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part or str(key_node.value) == str(part):
                    # an unknown key is reported at the key itself
                    line = key_node.start_mark.line + 1
                    node = value_node
                    if not isinstance(value_node, (yaml.MappingNode, yaml.SequenceNode)):
                        line = value_node.start_mark.line + 1
                    break
            else:
                continue  # a tag of a union or a missing key: stay on the parent
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
    return line


# --- explaining validation errors -----------------------------------------------------------------


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return Environment.model_json_schema()


def _deref(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = _schema()["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _schema_at(loc: tuple[Any, ...]) -> dict[str, Any] | None:
    """Walk the JSON schema along an error location (skipping union tags)."""
    schema = _deref(_schema())
    for part in loc:
        if "anyOf" in schema or "oneOf" in schema:
            variants = [_deref(v) for v in schema.get("anyOf", schema.get("oneOf", []))]
            tagged = [v for v in variants if any(p.get("const") == part for p in v.get("properties", {}).values())]
            if tagged:
                schema = tagged[0]
                continue
            objects = [v for v in variants if v.get("type") in ("object", "array")]
            if len(objects) == 1:
                schema = objects[0]
        if isinstance(part, int) and schema.get("type") == "array":
            schema = _deref(schema.get("items", {}))
        elif isinstance(part, str) and part in schema.get("properties", {}):
            schema = _deref(schema["properties"][part])
        elif isinstance(part, str) and isinstance(schema.get("additionalProperties"), dict):
            schema = _deref(schema["additionalProperties"])
        else:
            return None
    return schema


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    schema_loc: list[Any] = []
    for part in loc:
        if isinstance(part, str) and schema_loc and _schema_at(tuple(schema_loc)) is not None:
            parent = _schema_at(tuple(schema_loc)) or {}
            members = [_deref(m) for m in parent.get("anyOf", parent.get("oneOf", [])) if isinstance(m, dict)]
            member_keys = {key for member in members for key in member.get("properties", {})}
            optional_model = len([m for m in members if m.get("type") != "null"]) == 1  # `X | None`: no tag
            if members and not optional_model and part not in parent.get("properties", {}) and part not in member_keys:
                schema_loc.append(part)  # a union tag, not a key the user wrote
                continue
        schema_loc.append(part)
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _fix_for(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    if kind == "healthsuite_rule":
        return str(ctx.get("fix", ""))
    if kind == "extra_forbidden":
        parent = _schema_at(loc[:-1]) or {}
        models = [v for v in map(_deref, parent.get("anyOf", [])) if v.get("type") == "object"]
        parent = models[0] if len(models) == 1 else parent  # a model or None (a declared check's probe block)
        allowed = sorted(parent.get("properties", {}))
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        guess = f"did you mean `{close[0]}`? " if close else ""
        return f"{guess}remove it or correct the spelling; allowed here: {', '.join(allowed)}"
    if kind == "missing":
        here = _schema_at(loc) or {}
        about = f" ({here['description']})" if here.get("description") else ""
        return f"add `{loc[-1]}`{about}"
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        tags = ctx.get("expected_tags") or "'postgresql', 'sqlite'"
        return f"add `{ctx.get('discriminator', 'engine')}` with one of {tags}".replace("'", "")
    if kind == "literal_error":
        return f"use one of: {ctx.get('expected', '')}".replace("'", "")
    if kind == "string_pattern_mismatch":
        return "use lower-case letters, digits, '-', '_' or '.', starting with a letter or digit, e.g. main-db"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "write a whole number, e.g. 200"
    if kind in ("float_parsing", "float_type"):
        return "write a number, e.g. 5 or 2.5"
    if kind in ("bool_parsing", "bool_type"):
        return "write true or false"
    if kind in ("string_type",):
        return "write a string (quote it if it starts with a special character)"
    if kind in ("list_type", "tuple_type"):
        return "write a list: one `- item` per line"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "write a mapping of `key: value` lines under this key"
    if kind == "value_error" and "variable reference" in str(error.get("msg")):
        return "write ${NAME} or ${NAME:-default}; write $$ for a literal $"
    if kind.startswith(("greater_than", "less_than")):
        return "give a value within the limits stated above"
    return "see environments/schema.json, or the README section 'Environment files'"


def _explain(path: Path, errors: list[Any], count: int, root: yaml.Node | None) -> str:
    located: dict[tuple[Any, ...], tuple[int, Any]] = {}
    for error in errors:
        loc = tuple(error["loc"]) + tuple(json.loads((error.get("ctx") or {}).get("at", "[]")))
        user_loc = tuple(part for part in loc if not _is_union_member(part))
        if user_loc not in located:  # one value refused by each member of a union: its first reason only
            located[user_loc] = (_line_of(root, loc) or 0, {**error, "loc": loc})
    count -= len(errors) - len(located)
    lines = [f"{path}: invalid environment file ({count} problem{'s' * (count > 1)})"]
    for line, error in sorted(located.values(), key=lambda item: item[0]):
        loc = error["loc"]
        where = f"line {line}: " if line else ""
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        given = error.get("input")
        if (
            error["type"] not in ("healthsuite_rule", "missing", "extra_forbidden")
            and isinstance(given, (str, int, float, bool))
            and len(str(given)) <= 60
        ):
            message += f" (got {given!r})"
        lines.append(f"  {where}{_key_path(loc)}: {message}")
        lines.append(f"    fix: {_fix_for(error)}")
    if count > len(located):
        lines.append(f"  ... and {count - len(located)} more; fix these first (the first {len(located)} are shown)")
    return "\n".join(lines)


def _is_union_member(part: Any) -> bool:
    """pydantic names the member of a union that refused a value: `int`, `list[int]`, `function-after[...]`."""
    return isinstance(part, str) and (
        "[" in part or part.startswith("constrained-") or part in ("int", "float", "str", "bool")
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


# --- the loaded environment -----------------------------------------------------------------------


@dataclass
class LoadedEnvironment:
    """An environment file, validated, with the variables its `${VAR}` references read from."""

    path: Path
    model: Environment
    variables: Mapping[str, str]
    redactor: Redactor = field(default_factory=Redactor)
    notes: list[str] = field(default_factory=list)
    # the shipped catalogue with the team's own diagnoses (diagnoses_file, healthsuite.environment.extension)
    catalogue: Catalogue = field(default_factory=load_catalogue)

    @property
    def name(self) -> str:
        return self.model.name

    def where(self, target: Target, key: str) -> str:
        return f"{target.collection}[{target.name}].{key} in {self.path.name}"

    def resolve(self, template: Template, where: str = "") -> str:
        """The value of a template; raises MissingVariable naming the unset variable."""
        value = template.resolve(self.variables, where)
        if isinstance(template, SecretTemplate):
            self._register(value, tuple(self.variables.get(name, "") for name in template.variables))
        return value

    def try_resolve(self, template: Template) -> str | None:
        """The value, or None while a variable it needs is unset."""
        try:
            return self.resolve(template)
        except MissingVariable:
            return None

    def resolve_path(self, template: Template, where: str = "") -> Path:
        path = Path(self.resolve(template, where)).expanduser()
        return path if path.is_absolute() else (self.path.parent / path).resolve()

    def url_of(self, target: HttpTarget) -> str:
        if target.url is not None:
            return self.resolve(target.url, self.where(target, "url"))
        base_name = self.model.base_name(target)
        base = self.resolve(self.model.base_urls[base_name], f"base_urls.{base_name} in {self.path.name}")
        return base.rstrip("/") + (target.path or "/")

    def display_url(self, target: HttpTarget) -> str:
        """The URL for people: resolved where possible, `${VAR}` where not, secrets masked."""
        try:
            return self.redactor.redact(self.url_of(target))
        except MissingVariable:
            base = target.url or self.model.base_urls.get(self.model.base_name(target))
            return f"{base}{target.path or ''}"

    def missing_variables(self) -> list[str]:
        return sorted({name for t in self._templates() for name in t.missing(self.variables)})

    def _register(self, value: str, parts_of_value: tuple[str, ...] = ()) -> None:
        """Register the secret parts of a resolved secret: a URL's password and query values, or
        the whole value when it is not a URL (a password, a token, a header value)."""
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is None or not parts.scheme or not parts.netloc:
            self.redactor.add(value)
            for part in parts_of_value:
                self.redactor.add(part)
            return
        if parts.password:
            self.redactor.add(parts.password)
            self.redactor.add(unquote(parts.password))
        for item in parts.query.split("&"):
            self.redactor.add(unquote(item.partition("=")[2]))

    def _templates(self) -> Iterator[Template]:
        yield from _templates_in(self.model)

    def register_secrets(self) -> None:
        """Register every secret that can be resolved now, so nothing prints it, even by accident."""
        for template in self._templates():
            if isinstance(template, SecretTemplate) and not template.missing(self.variables):
                values = tuple(self.variables.get(name, "") for name in template.variables)
                self._register(template.resolve(self.variables), values)


def _templates_in(value: Any) -> Iterator[Template]:
    if isinstance(value, Template):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _templates_in(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _templates_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _templates_in(item)


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
        raise EnvironmentFileError(_explain(path, errors, count, yamltext.compose_nodes(text))) from None

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
            line = _line_of(root, loc)
            where = f"line {line}: " if line else ""
            lines += [f"  {where}{_key_path(loc)}: {loaded.redactor.redact(problem)}", f"    fix: {fix}"]
        raise EnvironmentFileError("\n".join(lines))
    from healthsuite.environment.extension import attach

    attach(loaded, text)  # the team's own diagnoses and declared checks
    # titles and checked lines name the thresholds in force here, not the catalogue's defaults
    loaded.catalogue = loaded.catalogue.in_force(model.thresholds)
    return loaded


def _rule_message(path: Path, text: str, loc: tuple[Any, ...], problem: str, fix: str) -> str:
    line = _line_of(yamltext.compose_nodes(text), loc)
    where = f"line {line}: " if line else ""
    return f"{path}: invalid environment file (1 problem)\n  {where}{_key_path(loc)}: {problem}\n    fix: {fix}"


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
