"""Auth data: users without a role (AUTH5) and session hygiene (AUTH6), read from the declared
`data.users` and `data.sessions` tables. Runbook 000 §4 "Authentication Problems" (Step 3: Check
Database Auth Records; Solution B: Session Management).

Sign-in and tokens (AUTH1-AUTH4) and refresh tokens in Redis (AUTH7), declared under `auth`: see the
section below."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite import plans
from healthsuite.assessments import auth as auth_judge
from healthsuite.assessments import pg_data as judge
from healthsuite.checkapi import check
from healthsuite.probes import auth as auth_probes
from healthsuite.probes import pg_data

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.auth import OidcDiscovery, ProtectedEndpoint, RefreshTokens, SignIn, TokenVerify
    from healthsuite.model.environment import PostgresDatabase
    from healthsuite.probes.pgreader import PgReader
    from healthsuite.probes.session import ProbeSession

# What each check reads (the plan runs it on the probe pool first: healthsuite.plans.on_database).


def roleless_users(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_data.RolelessUsers:
    users = postgres.data.users
    assert users is not None  # needs="data.users": only databases that declare it are checked
    return pg_data.roleless_users(db, users)


def session_counts(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_data.SessionCounts:
    sessions = postgres.data.sessions
    assert sessions is not None  # needs="data.sessions"
    return pg_data.session_counts(
        db,
        sessions,
        stale_after_days=threshold("stale_after_days"),
        window_h=threshold("window_h"),
        max_sessions_per_user=threshold("max_sessions_per_user"),
    )


@check("AUTH5", needs="data.users", plan=plans.on_database(roleless_users))
def test_every_user_has_a_role(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(roleless_users(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.roleless_users(observation))


@check("AUTH6", needs="data.sessions", plan=plans.on_database(session_counts))
def test_sessions_are_cleaned_up_and_not_piling_up(
    postgres: PostgresDatabase, probes: ProbeSession, expect: Expect
) -> None:
    observation = expect.reached(session_counts(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.session_counts(
        observation,
        max_stale_sessions=expect.threshold("max_stale_sessions"),
        max_stale_share_pct=expect.threshold("max_stale_share_pct"),
    ))


# --- sign-in and tokens: runbook 000 §4 steps 1-2, error codes AUTH001/AUTH002; 002 "Authentication
# Failures"; 004 "JWT Configuration Problems", "Token Refresh Issues" ------------------------------------


@check("AUTH1", plan=plans.discovery)
def test_oidc_discovery_document_is_well_formed(
    oidc_discovery: OidcDiscovery, probes: ProbeSession, expect: Expect
) -> None:
    issuer, source = auth_probes.expected_issuer(expect.env, oidc_discovery)
    observation = expect.reached(auth_probes.discovery(probes, oidc_discovery))
    expect.finding(auth_judge.discovery(observation, issuer, source, expect.catalogue))


@check("AUTH2", plan=plans.get)
def test_sign_in_answers_without_server_error(sign_in: SignIn, probes: ProbeSession, expect: Expect) -> None:
    env = expect.env
    redirect_to = env.resolve(sign_in.redirect_to, env.where(sign_in, "redirect_to")) if sign_in.redirect_to else None
    observation = expect.reached(probes.http(sign_in), expected="the sign-in endpoint answers 200 or a redirect")
    expect.finding(auth_judge.sign_in(sign_in, observation, redirect_to, expect.catalogue))


@check("AUTH3", plan=plans.bad_tokens)
def test_protected_endpoint_refuses_bad_tokens(
    protected_endpoint: ProtectedEndpoint, probes: ProbeSession, expect: Expect
) -> None:
    settings = auth_probes.protected_settings(expect.env, protected_endpoint)
    observation = expect.reached(auth_probes.bad_tokens(probes, protected_endpoint, settings))
    expect.finding(auth_judge.bad_tokens_refused(protected_endpoint, observation, expect.catalogue))


@check("AUTH4", plan=plans.fresh_token)
def test_token_minted_with_configured_secret_is_accepted(
    token_verify: TokenVerify, probes: ProbeSession, expect: Expect
) -> None:
    settings = auth_probes.verify_settings(expect.env, token_verify)  # an unset secret skips, naming it
    observation = expect.reached(auth_probes.verify_fresh_token(probes, token_verify, settings))
    expect.finding(auth_judge.fresh_token_accepted(token_verify, observation, expect.catalogue))


@check("AUTH7", plan=plans.refresh_tokens)
def test_refresh_tokens_have_a_ttl(refresh_tokens: RefreshTokens, probes: ProbeSession, expect: Expect) -> None:
    cache = auth_probes.cache_of(expect.env, refresh_tokens)
    if cache is None:  # a failing finding: expect.finding fails the check
        expect.finding(auth_judge.no_such_cache(refresh_tokens, [c.name for c in expect.env.model.caches]))
        return
    observation = expect.reached(auth_probes.refresh_token_ttls(probes, refresh_tokens, cache))
    expect.finding(auth_judge.refresh_tokens_expire(refresh_tokens, observation))
