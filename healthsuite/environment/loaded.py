"""An environment file once loaded: its model, the variables its `${VAR}` references read, its secrets."""


from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel

from healthsuite.catalogue.diagnoses import Catalogue, load_catalogue
from healthsuite.environment.redaction import Redactor
from healthsuite.model.environment import Environment, HttpTarget, Target
from healthsuite.model.templates import MissingVariable, Template
from healthsuite.model.types import SecretTemplate

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
        yield from templates_in(self.model)

    def register_secrets(self) -> None:
        """Register every secret that can be resolved now, so nothing prints it, even by accident."""
        for template in self._templates():
            if isinstance(template, SecretTemplate) and not template.missing(self.variables):
                values = tuple(self.variables.get(name, "") for name in template.variables)
                self._register(template.resolve(self.variables), values)


def templates_in(value: Any) -> Iterator[Template]:
    if isinstance(value, Template):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from templates_in(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from templates_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from templates_in(item)
