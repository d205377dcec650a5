"""Database: connectivity. Runbook 000 §2 step 2 and §6 step 1, 001 post-deploy, 002 "Connection
Refused", 004 "Database Connection Issues". Every session is read-only."""

from healthsuite import assessments
from healthsuite.checkapi import check


@check("DB1")
def test_database_answers_select_1(database, probes, expect):
    observation = expect.reached(probes.database(database), expected="SELECT 1 answers within the timeout")
    expect.finding(assessments.select_one(observation))
