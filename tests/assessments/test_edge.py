"""healthsuite.assessments.edge on its own: the deployed version's comparison (DEP2)."""

from __future__ import annotations

from healthsuite.assessments.edge import versions_match


def test_DEP2_accepts_abbreviated_git_commits_only() -> None:
    assert versions_match("0f3c2a1", "0f3c2a1e9d8b7c6a5f4e3d2c1b0a9f8e7d6c5b4a")
    assert versions_match("0F3C2A1E9D", "0f3c2a1")
    assert not versions_match("0f3c2a", "0f3c2a1")  # under 7 digits is not a commit id
    assert not versions_match("v1.2", "v1.2.3")
