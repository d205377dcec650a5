"""Deployment configuration (DEP3-DEP6): required variables, env files, wrangler.toml, the bundle.

Every path is relative to the environment file and may use `${VAR}`. The checks only read these files
(bounded reads); a value of a variable or of an env file never reaches an output, only names do."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from .targets import Target
from .types import Model, Name, Text, rule_error

VariableName = Annotated[
    str,
    Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="A variable name, e.g. DATABASE_URL (never its value)."),
]
# Cloudflare Workers: 3 MB (Free plan) after gzip; 10 MB on the Paid plan (set `max_kb: 10240`)
CLOUDFLARE_WORKER_LIMIT_KB = 3072.0


def _unique(values: list[str], what: str) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise rule_error(f"{what} lists {', '.join(repeated)} more than once", "list each name once")
    return values


class RequiredVariables(Target):
    """DEP3: variables/secrets that must be set and non-empty (names only; values are never read out)."""

    name: Name = "variables"
    names: list[VariableName] = Field(min_length=1, description="Names of the variables that must be set, non-empty.")
    file: Text | None = Field(
        None,
        description="A dotenv file the application reads (e.g. /opt/app/backend/.env.production): the names are "
        "looked up there. Without it: in what ${VAR} resolves from (the process environment, then `secrets_file`).",
    )

    kind_label: ClassVar[str] = "required variables"
    collection: ClassVar[str] = "deployment.variables"

    @field_validator("names")
    @classmethod
    def _once(cls, names: list[str]) -> list[str]:
        return _unique(names, "names")


class EnvFilePair(Target):
    """DEP4: every key of the example env file is present in the deployed one."""

    example: Text = Field(description="The example env file (the keys that must exist), e.g. backend/.env.example.")
    deployed: Text = Field(description="The deployed env file, e.g. backend/.env.production.")

    kind_label: ClassVar[str] = "env file pair"
    collection: ClassVar[str] = "deployment.env_files"


class WranglerConfig(Target):
    """DEP5: wrangler.toml has the route, [vars] and the D1/KV bindings."""

    name: Name = "wrangler"
    path: Text = Field(description="wrangler.toml.")
    env: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Wrangler environment, e.g. production: vars and bindings are read from [env.production] "
        "(they are not inherited); the route from there, else from the top level.",
    )
    route: str | None = Field(None, description="Expected route pattern, e.g. example.com/* (in `routes` or `route`).")
    vars: bool = Field(True, description="A [vars] section must exist.")
    d1: list[str] = Field([], description="D1 binding names that must be declared ([[d1_databases]] binding).")
    kv: list[str] = Field([], description="KV binding names that must be declared ([[kv_namespaces]] binding).")

    kind_label: ClassVar[str] = "wrangler config"
    collection: ClassVar[str] = "deployment.wrangler"


class WorkerBundle(Target):
    """DEP6: the built worker bundle is under the platform limit."""

    name: Name = "worker"
    path: Text = Field(description="The built bundle: a file (dist/worker.js) or a directory (its files are summed).")
    max_kb: float | None = Field(
        None, gt=0, description="Limit in KiB (default: thresholds.DEP6.max_kb, Cloudflare's 3 MB after gzip)."
    )
    measure: Literal["gzip", "raw"] = Field(
        "gzip", description="Judge the gzip-compressed size (what Cloudflare limits) or the raw size."
    )

    kind_label: ClassVar[str] = "worker bundle"
    collection: ClassVar[str] = "deployment.bundle"


class DeploymentSettings(Model):
    variables: RequiredVariables | None = Field(None, description="Required variables and secrets (DEP3).")
    env_files: list[EnvFilePair] = Field([], description="Example/deployed env file pairs (DEP4).")
    wrangler: WranglerConfig | None = Field(None, description="wrangler.toml expectations (DEP5).")
    bundle: WorkerBundle | None = Field(None, description="The built worker bundle (DEP6).")
