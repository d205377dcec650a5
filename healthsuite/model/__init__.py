"""The environment model: what an environment file declares, validated (pydantic), with no I/O.

`environment` is the file's top level (`Environment`) and the network targets; `targets` the base
classes; `types` the shared field types (names, templates, severities); one module per area of
declarations: `auth`, `backup`, `data` (the data checks' mappings), `deploy`, `flows`, `logs`,
`ops`, `schema` (PostgreSQL schema declarations), `sqlite`. Loading a file is `healthsuite.environment.loader`'s.
"""
