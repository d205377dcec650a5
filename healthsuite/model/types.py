"""The building blocks of the environment file's models: templated strings, names, the strict base
model and `rule_error` (a validation error that carries its fix). Kept apart so that the models of
one area (schema declarations, data mappings) can live in their own modules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from .addresses import http_url_problem
from .templates import Template


class SecretTemplate(Template):
    """A template whose resolved value is a secret: masked in every output."""


def template_validator(cls: type[Template]) -> Any:
    def validate(value: Any) -> Template:
        if isinstance(value, Template):
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise PydanticCustomError("string_type", "Input should be a valid string")
        return cls(str(value))

    return validate


TEMPLATE_DOC = "May reference variables: ${NAME} or ${NAME:-default}."
Text = Annotated[
    Template,
    PlainValidator(template_validator(Template)),
    PlainSerializer(lambda t: t.raw, return_type=str),
    WithJsonSchema({"type": "string", "description": TEMPLATE_DOC}),
]
SecretText = Annotated[
    SecretTemplate,
    PlainValidator(template_validator(SecretTemplate)),
    PlainSerializer(lambda t: t.raw, return_type=str),
    WithJsonSchema({"type": "string", "description": "A secret: write it as ${VARIABLE}, never literally."}),
]
Name = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$",
        description="Lower-case name used in check ids: letters, digits, '-', '_', '.'.",
    ),
]
Seconds = Annotated[float, Field(gt=0, le=600)]
HttpStatusCode = Annotated[int, Field(ge=100, le=599)]


def rule_error(problem: str, fix: str, at: tuple[str | int, ...] = ()) -> PydanticCustomError:
    """A validation error that carries its own fix (shown after the problem). `at`: the entry below
    the validated field that is wrong (`("DB3", "max_conn")` under `thresholds`), so the message
    names the line of that entry, not of the field."""
    return PydanticCustomError(
        "healthsuite_rule", "{problem}", {"problem": problem, "fix": fix, "at": json.dumps(list(at))}
    )


def problem_error(found: tuple[str, str] | None, at: tuple[str | int, ...] = ()) -> None:
    """Raise the rule error of a (problem, fix) pair from model.addresses, if there is one."""
    if found is not None:
        raise rule_error(*found, at=at)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False, defer_build=True)


def refuse_literal_secret(
    what: str = "a secret", reference: str = "${VARIABLE_NAME}"
) -> Callable[[SecretTemplate | None], SecretTemplate | None]:
    """A field validator: the value must reference a variable (`${NAME}`), never be the secret itself."""

    def validate(value: SecretTemplate | None) -> SecretTemplate | None:
        if value is not None and value.is_literal and value.raw:
            raise rule_error(
                f"{what} is written literally in the file",
                f"reference it instead: {reference}, and set that variable where the checks run",
            )
        return value

    return validate


def refuse_non_http_url(example: str) -> Callable[[Template], Template]:
    """A field validator: a literal URL must be http(s); a `${VAR}` one is checked when resolved."""

    def validate(value: Template) -> Template:
        problem_error(http_url_problem(value, example=example))
        return value

    return validate

