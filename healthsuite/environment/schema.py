"""Write the JSON Schemas: `python -m healthsuite.environment.schema [environments/schema.json]`, the environment
file's, and docs/diagnoses.schema.json, a diagnoses file's (a team's own diagnoses, healthsuite.environment.extension).

Editors with a YAML language server validate environment files against it (each file starts with
`# yaml-language-server: $schema=schema.json`). A test fails when a committed file is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from healthsuite.model.environment import Environment

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "environments" / "schema.json"
DIAGNOSES_PATH = Path(__file__).resolve().parents[2] / "docs" / "diagnoses.schema.json"


def environment_schema() -> dict[str, Any]:
    schema = Environment.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://healthsuite.invalid/environment.schema.json",
        **schema,
    }


def render() -> str:
    return json.dumps(environment_schema(), indent=2, sort_keys=False) + "\n"


def render_diagnoses() -> str:
    from healthsuite.environment.extension import json_schema

    return json.dumps({"$id": "https://healthsuite.invalid/diagnoses.schema.json", **json_schema()}, indent=2) + "\n"


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_PATH
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    if not argv:
        DIAGNOSES_PATH.write_text(render_diagnoses(), encoding="utf-8")
        print(f"wrote {DIAGNOSES_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
