"""A made-up queue service beside the booking platform: the example of a team's own runbook turned into
its own diagnoses and declared checks (examples/own-runbook/).

Its jobs live in the demo database's `jobs` table (pending, running, done, failed), and the service
reports itself at `/queue/stats` (JSON: pending, running, stuck, oldest_pending_s, workers_alive). The
switch `queue` (`python -m healthsuite.demo break queue`, not a shipped diagnosis, so not part of `all`)
makes it fail the way its runbook describes: the workers gone, three jobs stuck running for 25 minutes
and the backlog growing, 20 minutes old.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from healthsuite.demo.faults.switches import Faults, register_modes

if TYPE_CHECKING:
    from healthsuite.testing.postgres_server import PostgresServer

STATS_PATH = "/queue/stats"
SWITCH = (
    "the made-up queue service of examples/own-runbook: its workers gone, 3 jobs stuck running for 25 min and "
    "the backlog 20 min old (its own diagnoses QUEUE-1 and QUEUE-2 fail; not part of all)"
)
register_modes({"queue": ("flowing", "stuck")})

SCHEMA = """
CREATE TABLE jobs (
    id serial PRIMARY KEY, queue text NOT NULL DEFAULT 'default', kind text NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    enqueued_at timestamptz NOT NULL DEFAULT now(), started_at timestamptz, finished_at timestamptz);
CREATE INDEX idx_jobs_state_started ON jobs (state, started_at);
"""
SEED = """
DELETE FROM jobs;
INSERT INTO jobs (kind, state, enqueued_at, started_at, finished_at) VALUES
    ('reminder.send', 'done', now() - interval '9 minutes', now() - interval '9 minutes',
     now() - interval '8 minutes'),
    ('invoice.render', 'done', now() - interval '4 minutes', now() - interval '4 minutes',
     now() - interval '4 minutes'),
    ('reminder.send', 'running', now() - interval '20 seconds', now() - interval '15 seconds', NULL),
    ('calendar.sync', 'pending', now() - interval '3 seconds', NULL, NULL);
"""
STUCK = """
UPDATE jobs SET started_at = now() - interval '25 minutes' WHERE state = 'running';
INSERT INTO jobs (kind, state, enqueued_at, started_at) VALUES
    ('invoice.render', 'running', now() - interval '26 minutes', now() - interval '25 minutes'),
    ('calendar.sync', 'running', now() - interval '26 minutes', now() - interval '24 minutes');
UPDATE jobs SET enqueued_at = now() - interval '20 minutes' WHERE state = 'pending';
INSERT INTO jobs (kind, state, enqueued_at)
    SELECT 'reminder.send', 'pending', now() - interval '1 minute' * n FROM generate_series(1, 41) AS n;
"""
HEALTHY_STATS = {"queue": "default", "pending": 1, "running": 1, "stuck": 0, "oldest_pending_s": 3, "workers_alive": 2}
STUCK_STATS = {"queue": "default", "pending": 42, "running": 3, "stuck": 3, "oldest_pending_s": 1200,
               "workers_alive": 0}


def prepare(postgres: PostgresServer, database: str, monitor_role: str) -> None:
    """The `jobs` table, seeded healthy, readable by the monitoring role."""
    postgres.psql(SCHEMA + SEED + f"GRANT SELECT ON jobs TO {monitor_role};", dbname=database)


def jam(faults: Faults, postgres: PostgresServer | None, database: str) -> Callable[[], None]:
    """The `queue` switch: jobs stuck, the workers gone; returns what undoes it."""
    faults.set_mode("queue", "stuck")
    if postgres is not None and postgres.is_running():
        postgres.psql(STUCK, dbname=database)

    def undo() -> None:
        if postgres is not None and postgres.is_running():
            postgres.psql(SEED, dbname=database)

    return undo


def routes(faults: Faults) -> list[BaseRoute]:
    async def stats(request: Request) -> Response:
        return JSONResponse(STUCK_STATS if faults.mode("queue") == "stuck" else HEALTHY_STATS)

    return [Route(STATS_PATH, stats)]
