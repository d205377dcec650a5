"""The scheduling manifests (docs/scheduling.md) validated by the tools their engines' users run, offline:
check-jsonschema's vendored schemas for the GitHub workflows and the GitLab pipeline,
kubernetes-validate's bundled Kubernetes schemas (strict: an unknown field is an error) for the
CronJobs, hadolint and dockerfile-parse for the Dockerfile, `systemd-analyze verify` for the units,
and a parser of our own for the crontab line. Then what each must say: Forbid, the deadlines, non-root,
read-only root filesystem, the secrets, the artefacts, the rollback gate, the splay and the heartbeat
(its URL from a secret, never on the command line); and every healthsuite option a manifest passes is
one `pytest --help` lists."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from healthsuite.environment.loader import load_environment
from healthsuite.testing.ports import free_port
from tests.conftest import PROJECT

EXAMPLES = PROJECT / "examples"
BIN = Path(sys.executable).parent
DOCKERFILE = PROJECT / "Dockerfile"
GITHUB = sorted((EXAMPLES / "github").glob("*.yml"))
GITLAB = EXAMPLES / "gitlab" / "healthsuite.gitlab-ci.yml"
KUBERNETES = sorted((EXAMPLES / "kubernetes").glob("*.yaml"))
CRONJOBS = [path for path in KUBERNETES if path.name.startswith("cronjob-")]
SERVICE = EXAMPLES / "systemd" / "healthsuite@.service"
TIMER = EXAMPLES / "systemd" / "healthsuite@.timer"
CRONTAB = EXAMPLES / "cron" / "healthsuite.cron"


def tool(name: str) -> str:
    """A validator installed with the test extras (pyproject.toml), from this virtualenv."""
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed: .venv/bin/pip install -e .[test]")
    return str(path)


def offline() -> list[str]:
    """A prefix that runs a command with no network at all (a new network namespace), where possible."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, cwd=cwd)


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def cronjob(path: Path) -> dict[str, Any]:
    (job,) = [doc for doc in documents(path) if doc["kind"] == "CronJob"]
    return job


# --- GitHub Actions and GitLab CI -----------------------------------------------------------------


def test_the_workflows_and_the_pipeline_validate_offline_against_check_jsonschemas_vendored_schemas() -> None:
    checker = tool("check-jsonschema")
    assert GITHUB and GITLAB.is_file()
    for schema, files in (("vendor.github-workflows", GITHUB), ("vendor.gitlab-ci", [GITLAB])):
        done = run(*offline(), checker, "--builtin-schema", schema, *map(str, files))
        assert done.returncode == 0, done.stdout + done.stderr


def test_check_jsonschema_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """The validation is real: a misspelt key and a schedule without its cron fail it."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on:\n  schedule:\n    - crn: '*/5 * * * *'\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    done = run(*offline(), tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken))
    assert done.returncode == 1 and "stepz" in done.stdout, done.stdout


def test_the_scheduled_workflow_runs_every_5_minutes_and_keeps_its_reports_whatever_happened() -> None:
    workflow = documents(EXAMPLES / "github" / "scheduled-checks.yml")[0]
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"] == [{"cron": "*/5 * * * *"}] and "workflow_dispatch" in triggers
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    command = next(step for step in steps if "pytest" in step.get("run", ""))
    assert "--junitxml reports/junit.xml" in command["run"] and "--env" in command["run"]
    assert all(value.startswith("${{ secrets.") for value in command["env"].values())
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "reports/"
    assert "pip install" in " ".join(step.get("run", "") for step in steps)


def test_the_post_deploy_gate_fails_on_a_failing_smoke_set_and_then_rolls_back() -> None:
    jobs = documents(EXAMPLES / "github" / "post-deploy-gate.yml")[0]["jobs"]
    gate = " ".join(step.get("run", "") for step in jobs["gate"]["steps"])
    assert "-m smoke --expected-version ${{ github.sha }}" in gate and "|| true" not in gate
    assert jobs["gate"]["needs"] == "deploy" and set(jobs["rollback"]["needs"]) == {"deploy", "gate"}
    assert jobs["rollback"]["if"] == "failure() && needs.deploy.result == 'success'"
    assert "rollback" in " ".join(step.get("run", "") for step in jobs["rollback"]["steps"])


def test_the_gitlab_job_runs_on_a_schedule_and_reports_junit() -> None:
    pipeline = documents(GITLAB)[0]
    scheduled = pipeline["healthsuite-scheduled"]
    assert {"if": '$CI_PIPELINE_SOURCE == "schedule"'} in scheduled["rules"]
    assert pipeline[scheduled["extends"]]["artifacts"]["reports"]["junit"] == "reports/junit.xml"
    assert pipeline[scheduled["extends"]]["artifacts"]["when"] == "always"
    gate = pipeline["post-deploy-gate"]
    assert '--expected-version "$CI_COMMIT_SHA"' in " ".join(gate["script"])
    assert pipeline["rollback-production"]["rules"][0]["when"] == "on_failure"
    assert pipeline["rollback-production"]["needs"] == ["post-deploy-gate"]
    assert not (PROJECT / ".gitlab-ci.yml").exists(), "this project's CI is .ci/run: the GitLab file is an example"


# --- Kubernetes -----------------------------------------------------------------------------------


def test_the_kubernetes_manifests_validate_strictly_against_the_bundled_schemas() -> None:
    assert len(CRONJOBS) >= 3, CRONJOBS
    done = run(tool("kubernetes-validate"), "--strict", "--quiet", *map(str, KUBERNETES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_kubernetes_validate_rejects_a_misspelt_field(tmp_path: Path) -> None:
    broken = tmp_path / "cronjob.yaml"
    broken.write_text(CRONJOBS[0].read_text().replace("concurrencyPolicy:", "concurencyPolicy:"))
    done = run(tool("kubernetes-validate"), "--strict", "--quiet", str(broken))
    assert done.returncode != 0 and "concurencyPolicy" in done.stdout + done.stderr


@pytest.mark.parametrize("path", CRONJOBS, ids=lambda path: path.stem)
def test_a_cronjob_runs_once_at_a_time_within_its_deadlines_as_non_root_on_a_read_only_root(path: Path) -> None:
    job = cronjob(path)
    spec, template = job["spec"], job["spec"]["jobTemplate"]["spec"]
    assert spec["concurrencyPolicy"] == "Forbid" and spec["startingDeadlineSeconds"] > 0
    assert template["backoffLimit"] == 0
    pod = template["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    run_deadline = float(args[args.index("--run-deadline") + 1])
    splay = float(args[args.index("--splay") + 1])
    assert template["activeDeadlineSeconds"] > splay + run_deadline, "the suite must write its reports before the kill"
    assert pod["hostname"] == job["metadata"]["name"], "a pod's own name changes every run, and its splay with it"
    (variable,) = re.fullmatch(r"\$\{([A-Z0-9_]+)\}", args[args.index("--heartbeat") + 1]).groups()  # type: ignore[union-attr]
    secret = documents(EXAMPLES / "kubernetes" / "secret-healthsuite.yaml")[0]
    assert variable in secret["stringData"], f"{variable}: the heartbeat's URL comes from the Secret"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"limits", "requests"} <= set(container["resources"]) and set(container["resources"]["limits"]) == {"cpu", "memory"}
    assert container["envFrom"] == [{"secretRef": {"name": "healthsuite-secrets"}}]
    assert args[args.index("--pushgateway") + 1] == "http://pushgateway.monitoring:9091"
    assert "--prom-instance" in args, "without it each pod's name is a new group on the Pushgateway"
    assert "/reports/junit.xml" in args and args[args.index("--reports-dir") + 1] == "/reports"
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes[mounts["/environments"]]["configMap"]["name"] == "healthsuite-environments"
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert {"emptyDir", "persistentVolumeClaim"} & set(volumes[mounts["/reports"]])
    claim = volumes[mounts["/reports"]].get("persistentVolumeClaim")
    if claim:  # the claim is in the same file
        assert claim["claimName"] in {doc["metadata"]["name"] for doc in documents(path) if doc["kind"] == "PersistentVolumeClaim"}
    env = args[args.index("--env") + 1]
    assert f"{env}.yaml" in documents(EXAMPLES / "kubernetes" / "configmap-environments.yaml")[0]["data"]


def test_the_instances_claims_and_heartbeats_of_the_cronjobs_are_distinct() -> None:
    arguments = [cronjob(path)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] for path in CRONJOBS]
    instances = [args[args.index("--prom-instance") + 1] for args in arguments]
    assert len(set(instances)) == len(instances), instances
    heartbeats = [args[args.index("--heartbeat") + 1] for args in arguments]
    assert len(set(heartbeats)) == len(heartbeats), f"one Healthchecks.io check per CronJob: {heartbeats}"
    names = [cronjob(path)["metadata"]["name"] for path in CRONJOBS]
    assert len(set(names)) == len(names), names


def test_the_configmaps_environment_files_load(tmp_path: Path) -> None:
    data = documents(EXAMPLES / "kubernetes" / "configmap-environments.yaml")[0]["data"]
    for name, text in data.items():
        path = tmp_path / name
        path.write_text(text)
        assert load_environment(path, {}).model.name == path.stem


# --- Dockerfile -----------------------------------------------------------------------------------


def test_hadolint_passes_the_dockerfile() -> None:
    done = run(tool("hadolint"), "--no-color", str(DOCKERFILE))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_pytest_as_a_non_root_user_writing_only_to_reports_and_tmp() -> None:
    from dockerfile_parse import DockerfileParser  # noqa: PLC0415 - a test extra

    parser = DockerfileParser(str(DOCKERFILE))
    instructions = parser.structure
    assert parser.baseimage == "python:3.11-slim"
    users = [item["value"] for item in instructions if item["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"} and users[-1].split(":")[0].isdigit()
    assert not any(item["instruction"] == "ADD" for item in instructions), "COPY, never ADD (no remote URLs, no tar magic)"
    assert any(item["instruction"] == "RUN" and "pip install --no-cache-dir ." in item["value"] for item in instructions)
    env = parser.envs
    assert env["HOME"] == "/tmp" and env["TMPDIR"] == "/tmp" and env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTEST_ADDOPTS"] == "-p no:cacheprovider --reports-dir /reports"
    (entrypoint,) = [item["value"] for item in instructions if item["instruction"] == "ENTRYPOINT"]
    assert entrypoint == '["python", "-m", "pytest"]'


def test_the_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    from dockerfile_parse import DockerfileParser  # noqa: PLC0415

    allowed = {line[1:].rstrip("/") for line in (PROJECT / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    copied = set()
    for item in DockerfileParser(str(DOCKERFILE)).structure:
        if item["instruction"] == "COPY":
            copied.update(source.rstrip("/").removeprefix("./") for source in item["value"].split()[:-1])
    assert copied and copied <= allowed, copied - allowed
    assert all((PROJECT / path).exists() for path in copied)


READY = "healthsuite-test: read-only mounts in place"


def _read_only_binds(directories: list[str]) -> str:
    """A shell command that bind-mounts each directory over itself, read-only."""
    return " && ".join(f"mount --bind {shlex.quote(d)} {shlex.quote(d)} && mount -o remount,ro,bind {shlex.quote(d)}"
                       for d in directories)


def _why_no_read_only_mounts(probe: Path) -> str | None:
    """Why read-only bind mounts in a new mount namespace cannot be made here (None: they can): not
    root, no unshare(1), or the namespace refused (a container without CAP_SYS_ADMIN says e.g.
    `unshare: cannot change root filesystem propagation: Permission denied`)."""
    if os.geteuid() != 0:
        return "read-only bind mounts need root"
    unshare = shutil.which("unshare")
    if unshare is None:
        return "unshare(1) is not installed (Debian: util-linux)"
    probe.mkdir()
    done = subprocess.run([unshare, "-m", "sh", "-c", f"{_read_only_binds([str(probe)])} && echo {shlex.quote(READY)}"],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0 or READY not in done.stdout:
        said = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        return f"no read-only bind mount in a new mount namespace here: {said}"
    return None


def test_a_run_as_the_image_runs_it_writes_nothing_but_reports_and_tmp(tmp_path: Path) -> None:
    """The image's settings on this machine: the run directory holds only the `environments` link, and
    it, the environment files, this checkout (the editable install) and the virtualenv are mounted
    read-only; only the reports directory and the temporary one are writable. A check that fails
    (a closed port) still writes its reports there, and nothing is written anywhere else."""
    why_not = _why_no_read_only_mounts(tmp_path / "probe")
    if why_not is not None:
        pytest.skip(why_not)
    environments, run_dir, reports, tmp = (tmp_path / name for name in ("environments", "srv", "reports", "tmp"))
    for directory in (environments, run_dir, reports, tmp):
        directory.mkdir()
    (environments / "ro.yaml").write_text(
        f"name: ro\nkind: test\nbase_urls:\n  app: http://127.0.0.1:{free_port()}\npages:\n  - {{name: home, path: /}}\n"
    )
    (run_dir / "environments").symlink_to(environments)
    venv = Path(sys.prefix)
    read_only = sorted({str(run_dir), str(environments), str(PROJECT), str(venv)})
    command = [sys.executable, "-m", "pytest", "--env", "ro", "--junitxml", f"{reports}/junit.xml", "-q"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "TMPDIR": str(tmp), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTEST_ADDOPTS": f"-p no:cacheprovider --reports-dir {reports}"}
    # READY on stderr once the mounts are made: without it, the exit status is unshare's or mount's, not the run's
    script = (f"{_read_only_binds(read_only)} && echo {shlex.quote(READY)} >&2 && cd {shlex.quote(str(run_dir))} "
              f"&& exec {shlex.join(command)}")
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert READY in done.stderr, f"the read-only mounts were not made (exit status {done.returncode}): {done.stderr[-3000:]}"
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # the closed port's check failed
    assert "Read-only file system" not in done.stdout + done.stderr, done.stdout[-3000:]
    written = sorted(path.name for path in reports.iterdir())
    assert {"junit.xml", "latest.json"} <= set(written), written
    assert sorted(path.name for path in run_dir.iterdir()) == ["environments"]


# --- systemd and cron -----------------------------------------------------------------------------


def test_systemd_analyze_verifies_the_service_and_the_timer(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    # verify also checks that ExecStart's program exists: this virtualenv's python stands in for
    # /opt/healthsuite/bin/python
    (tmp_path / SERVICE.name).write_text(SERVICE.read_text().replace("/opt/healthsuite/bin/python", sys.executable))
    shutil.copy(TIMER, tmp_path / TIMER.name)
    done = run(analyze, "verify", str(tmp_path / "healthsuite@production.service"), str(tmp_path / "healthsuite@production.timer"), cwd=tmp_path)
    # it exits 0 on an unknown key too, and says so on stderr: any line about our units fails the test
    ours = [line for line in done.stderr.splitlines() if "healthsuite@" in line]
    assert done.returncode == 0 and not ours, done.stderr


def test_systemd_analyze_reports_a_misspelt_key(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    broken = SERVICE.read_text().replace("/opt/healthsuite/bin/python", sys.executable).replace("TimeoutStartSec=", "TimeoutStartSecs=")
    (tmp_path / SERVICE.name).write_text(broken)
    done = run(analyze, "verify", str(tmp_path / "healthsuite@production.service"), cwd=tmp_path)
    assert "TimeoutStartSecs" in done.stderr, done.stderr


def test_the_timer_fires_every_5_minutes() -> None:
    assert "OnCalendar=*:0/5" in TIMER.read_text().splitlines()
    analyze = shutil.which("systemd-analyze")
    if analyze:
        done = run(analyze, "calendar", "*:0/5")
        assert done.returncode == 0 and "*-*-* *:00/5:00" in done.stdout, done.stdout + done.stderr


CRON_FIELDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def cron_field_ok(field: str, low: int, high: int) -> bool:
    for part in field.split(","):
        match = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
        if not match:
            return False
        numbers = [int(n) for n in match.group(2, 3, 4)[:2] if n is not None]
        if any(not low <= n <= high for n in numbers) or (match.group(4) and int(match.group(4)) == 0):
            return False
    return True


def crontab_entries() -> list[tuple[list[str], str, str]]:
    """The system crontab's entries: (the 5 time fields, the user, the command)."""
    entries = []
    for line in CRONTAB.read_text().splitlines():
        if not line.strip() or line.startswith("#") or re.fullmatch(r"[A-Z_]+=.*", line):
            continue
        *fields, user, command = line.split(None, 6)
        entries.append((fields, user, command))
    return entries


def test_the_crontab_line_is_a_valid_system_crontab_entry_every_5_minutes() -> None:
    (entry,) = crontab_entries()
    fields, user, command = entry
    assert all(cron_field_ok(field, *bounds) for field, bounds in zip(fields, CRON_FIELDS, strict=True)), fields
    assert fields == ["*/5", "*", "*", "*", "*"] and user == "healthsuite"
    assert "%" not in command, "cron turns an unescaped % into a newline"
    assert "flock -n" in command, "a run still going must not be started twice"
    assert not cron_field_ok("*/0", 0, 59) and not cron_field_ok("60", 0, 59)


# --- the healthsuite command lines of every manifest ------------------------------------------------


def _github_commands() -> list[str]:
    return [step["run"] for path in GITHUB for job in documents(path)[0]["jobs"].values() for step in job["steps"] if "pytest" in step.get("run", "")]


def command_lines() -> dict[str, list[str]]:
    """Every pytest command line of the manifests, split like a shell would (placeholders filled in)."""
    lines: dict[str, list[str]] = {}
    for index, command in enumerate(_github_commands()):
        for number, line in enumerate(command.splitlines() if "\n" in command.strip() else [command]):
            if "pytest" in line:
                lines[f"github-{index}-{number}"] = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "x", line))
    pipeline = documents(GITLAB)[0]
    for name, job in pipeline.items():
        for index, line in enumerate(job.get("script", []) if isinstance(job, dict) else []):
            if "pytest" in line:
                lines[f"gitlab-{name}-{index}"] = shlex.split(line)
    for path in CRONJOBS:
        lines[path.stem] = ["pytest", *cronjob(path)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]]
    service = SERVICE.read_text().replace("\\\n", " ")
    (exec_start,) = re.findall(r"^ExecStart=(.*)$", service, re.M)
    lines["systemd"] = shlex.split(exec_start.replace("%i", "production"))
    (_, _, cron) = crontab_entries()[0]
    lines["cron"] = shlex.split(re.search(r"exec (.*?)'", cron).group(1))  # type: ignore[union-attr]
    from dockerfile_parse import DockerfileParser  # noqa: PLC0415

    docker = DockerfileParser(str(DOCKERFILE))
    (cmd,) = [item["value"] for item in docker.structure if item["instruction"] == "CMD"]
    lines["docker"] = ["pytest", *shlex.split(docker.envs["PYTEST_ADDOPTS"]), *yaml.safe_load(cmd)]
    return lines


@cache
def pytest_options() -> frozenset[str]:
    done = run(sys.executable, "-m", "pytest", "--help", cwd=PROJECT)
    assert done.returncode == 0, done.stderr
    return frozenset(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", done.stdout))


def test_every_option_a_manifest_passes_is_one_pytest_knows() -> None:
    lines = command_lines()
    assert {"systemd", "cron", "docker", "github-0-0"} <= set(lines), sorted(lines)
    known = pytest_options()
    for name, argv in lines.items():
        options = {arg.split("=")[0] for arg in argv if arg.startswith("--")}
        assert "--env" in options or name == "docker-addopts", (name, argv)
        assert options <= known, f"{name}: {sorted(options - known)} not in `pytest --help`"


def test_every_scheduled_run_splays_and_pings_a_heartbeat_whose_url_is_a_secret() -> None:
    """The scheduled runs (not the post-deploy gates, which run once, after a deploy) wait a splay and
    ping their heartbeat; the URL is a `${VARIABLE}` healthsuite reads from its environment, so it is
    neither in the manifest nor on the process's command line."""
    scheduled = {name: argv for name, argv in command_lines().items() if name != "docker" and "smoke" not in argv}
    assert {"systemd", "cron", "gitlab-healthsuite-scheduled-0", *(path.stem for path in CRONJOBS)} < set(scheduled)
    assert any(name.startswith("github-") for name in scheduled), sorted(scheduled)
    for name, argv in scheduled.items():
        assert "--splay" in argv and "--heartbeat" in argv, (name, argv)
        assert 0 < float(argv[argv.index("--splay") + 1]) <= 60, name
        url = argv[argv.index("--heartbeat") + 1].replace("$${", "${")  # systemd's `$$` is a literal `$`
        assert re.fullmatch(r"\$\{[A-Z0-9_]+\}", url), (name, url)
    service = SERVICE.read_text()
    timeout = int(re.search(r"^TimeoutStartSec=(\d+)$", service, re.M).group(1))  # type: ignore[union-attr]
    (github,) = [argv for name, argv in scheduled.items() if name.startswith("github-")]
    (job,) = documents(EXAMPLES / "github" / "scheduled-checks.yml")[0]["jobs"].values()
    gitlab = documents(GITLAB)[0]["healthsuite-scheduled"]
    # the scheduler's own limit covers the splay and the run's deadline (k8s: the CronJobs' test above)
    for argv, limit_s in ((scheduled["systemd"], timeout), (github, job["timeout-minutes"] * 60),
                          (scheduled["gitlab-healthsuite-scheduled-0"], int(gitlab["timeout"].split()[0]) * 60)):
        assert limit_s > float(argv[argv.index("--splay") + 1]) + float(argv[argv.index("--run-deadline") + 1])
    assert not re.search(r"^RandomizedDelaySec=", TIMER.read_text(), re.M), "the splay spreads the hosts, at fixed offsets"


def test_the_textfile_of_the_systemd_unit_and_of_cron_is_the_collectors_per_environment() -> None:
    lines = command_lines()
    for name in ("systemd", "cron"):
        argv = lines[name]
        assert argv[argv.index("--prom-textfile") + 1] == "/var/lib/prometheus/node-exporter/healthsuite-production.prom"
        assert "-p" in argv and argv[argv.index("-p") + 1] == "no:cacheprovider"


def test_the_readmes_scheduling_snippets_are_the_examples() -> None:
    readme = (PROJECT / "README.md").read_text()
    assert "(docs/scheduling.md)" in readme
    section = (PROJECT / "docs" / "scheduling.md").read_text()
    job = cronjob(EXAMPLES / "kubernetes" / "cronjob-production-eu.yaml")
    template = job["spec"]["jobTemplate"]["spec"]
    for line in (f'schedule: "{job["spec"]["schedule"]}"', f"concurrencyPolicy: {job['spec']['concurrencyPolicy']}",
                 f"startingDeadlineSeconds: {job['spec']['startingDeadlineSeconds']}",
                 f"backoffLimit: {template['backoffLimit']}", f"activeDeadlineSeconds: {template['activeDeadlineSeconds']}"):
        assert line in section, line
    assert "OnCalendar=*:0/5" in section and "--prom-textfile /var/lib/prometheus/node-exporter/healthsuite-%i.prom" in SERVICE.read_text()
    assert 'cron: "*/5 * * * *"' in section and re.search(r"-m\s+smoke --expected-version", section)
    for path in ("examples/kubernetes/", "examples/github/scheduled-checks.yml", "examples/github/post-deploy-gate.yml",
                 "examples/gitlab/healthsuite.gitlab-ci.yml", "examples/systemd/", "examples/cron/healthsuite.cron"):
        assert path in section and (PROJECT / path).exists(), path
