"""Auth data: users without a role (AUTH5) and session hygiene (AUTH6), read from the declared
`data.users` and `data.sessions` tables. Runbook 000 §4 "Authentication Problems" (Step 3: Check
Database Auth Records; Solution B: Session Management)."""

from healthsuite.assessments import pg_data as judge
from healthsuite.checkapi import check
from healthsuite.probes import pg_data


@check("AUTH5", needs="data.users")
def test_every_user_has_a_role(postgres, probes, expect):
    observation = expect.reached(pg_data.roleless_users(probes.postgres(postgres), postgres.data.users))
    expect.finding(judge.roleless_users(observation))


@check("AUTH6", needs="data.sessions")
def test_sessions_are_cleaned_up_and_not_piling_up(postgres, probes, expect):
    observation = expect.reached(
        pg_data.session_counts(
            probes.postgres(postgres),
            postgres.data.sessions,
            stale_after_days=expect.threshold("stale_after_days"),
            window_h=expect.threshold("window_h"),
            max_sessions_per_user=expect.threshold("max_sessions_per_user"),
        )
    )
    expect.finding(judge.session_counts(observation, max_stale_sessions=expect.threshold("max_stale_sessions")))
