"""docker-compose.yaml (the production path) is a valid Compose file and wires
the stack the way the pipeline expects. Nothing here starts a container."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
DOCKER_DIR = REPO / "include" / "docker"
ENV_EXAMPLE = DOCKER_DIR / "env.example"
AIRFLOW_SERVICES = [
    "airflow-init", "airflow-apiserver", "airflow-scheduler",
    "airflow-dag-processor", "airflow-triggerer", "airflow-worker",
]
LONG_RUNNING_WITHOUT_HEALTHCHECK_OK = {"airflow-init", "minio-init", "demo-catalog"}  # one-shot jobs
VAR_RE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _defaults(text: str) -> dict[str, str]:
    """Every ${VAR:-default} of the text outside comment lines (VAR -> default)."""
    text = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    return {m.group(1): m.group(2) or "" for m in VAR_RE.finditer(text)}


def _interpolate(value: str) -> str:
    return VAR_RE.sub(lambda m: m.group(2) or "", value).replace("$$", "$")


def _env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (v1) not on PATH")
@pytest.mark.parametrize("env_file", [None, ENV_EXAMPLE], ids=["defaults", "env.example"])
def test_docker_compose_config_is_valid(env_file):
    argv = ["docker-compose", "-f", str(COMPOSE)]
    if env_file:
        argv += ["--env-file", str(env_file)]
    proc = subprocess.run([*argv, "config", "-q"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_celery_executor_and_scalable_worker(services):
    for name in AIRFLOW_SERVICES:
        assert name in services, name
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "harvest_executors.HarvestCeleryExecutor", name
        assert "redis://" in env["AIRFLOW__CELERY__BROKER_URL"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    worker = services["airflow-worker"]
    assert worker["command"] == "celery worker"
    # `--scale airflow-worker=N` needs no fixed container name and no host port
    assert "container_name" not in worker and "ports" not in worker
    assert services["flower"]["profiles"] == ["flower"]


def test_airflow_image_is_built_from_the_official_one(services):
    for name in AIRFLOW_SERVICES:
        svc = services[name]
        assert svc["build"]["dockerfile"] == "include/docker/airflow.Dockerfile", name
        assert svc["image"], name
    dockerfile = (DOCKER_DIR / "airflow.Dockerfile").read_text(encoding="utf-8")
    assert "FROM apache/airflow:${AIRFLOW_VERSION}" in dockerfile
    assert "ARG AIRFLOW_VERSION=3.3.2" in dockerfile
    assert "-r /opt/airflow/build/requirements-prod.txt" in dockerfile
    assert "-c /opt/airflow/build/constraints.txt" in dockerfile
    assert services["airflow-worker"]["build"]["args"]["AIRFLOW_VERSION"] == "3.3.2"
    # the Dockerfile's test-dependency cut relies on this marker line
    assert "# tests" in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()


def test_real_images_for_solr_minio_ckan(services):
    assert services["solr"]["image"] == "ckan/ckan-solr:2.12-solr9"
    assert services["minio"]["image"].split(":")[0] == "minio/minio"
    ckan = services["ckan"]
    assert ckan["build"]["args"]["CKAN_BASE_IMAGE"] == "ckan/ckan-base:2.12"
    ckan_dockerfile = (DOCKER_DIR / "ckan.Dockerfile").read_text(encoding="utf-8")
    assert "ARG CKAN_BASE_IMAGE=ckan/ckan-base:2.12" in ckan_dockerfile
    assert "ckanext-scheming==" in ckan_dockerfile
    context = (COMPOSE.parent / ckan["build"]["context"]).resolve()
    assert (context / ckan["build"]["dockerfile"]).resolve() == (DOCKER_DIR / "ckan.Dockerfile").resolve()
    assert (context / "ckanext-gdcthai").is_dir()
    for db in ("airflow-postgres", "ckan-db"):
        assert services[db]["image"].startswith("postgres:")
    for redis in ("airflow-redis", "ckan-redis"):
        assert services[redis]["image"].startswith("redis:")


def test_ckan_enforces_the_gdc_schema(services):
    env = services["ckan"]["environment"]
    plugins = env["CKAN__PLUGINS"].split()
    assert "scheming_datasets" in plugins and "gdcthai" in plugins
    assert plugins[-1] == "envvars"
    assert env["CKAN___SCHEMING__DATASET_FALLBACK"] == "true"
    schema_url = env["CKAN___SCHEMING__DATASET_SCHEMAS"]
    assert schema_url.startswith("file:///")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["ckan"]["volumes"] if v.startswith("./")}
    assert mounts[schema_url.removeprefix("file://")] == "./include/portal/gdc_dataset.json"
    assert env["CKAN_SOLR_URL"].startswith("http://solr:8983/")


def test_airflow_mounts_staging_and_portal_connection(services):
    for name in AIRFLOW_SERVICES:
        svc = services[name]
        targets = {v.split(":")[1] for v in svc["volumes"]}
        assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include",
                "/opt/airflow/expectations", "/opt/airflow/staging"} <= targets, name
        assert "harvest-staging:/opt/airflow/staging" in svc["volumes"], name
        env = svc["environment"]
        assert env["HARVEST_STAGING_DIR"] == "/opt/airflow/staging"
        conn = json.loads(_interpolate(env["AIRFLOW_CONN_GDC_PORTAL"]))
        assert conn["conn_type"] == "http" and conn["host"] == "http://ckan:5000"
        assert "${GDC_PORTAL_TOKEN" in env["AIRFLOW_CONN_GDC_PORTAL"]
        json.loads(_interpolate(env["AIRFLOW_CONN_S3_DROPS"]))
    for host_path in ("dags", "plugins", "include", "expectations"):
        assert (REPO / host_path).is_dir(), host_path


def test_healthchecks_and_depends_on_conditions(services):
    for name, svc in services.items():
        if name not in LONG_RUNNING_WITHOUT_HEALTHCHECK_OK:
            assert "healthcheck" in svc, f"{name} has no healthcheck"
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on must use conditions"
        for dep, cond in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert cond["condition"] in {"service_healthy", "service_completed_successfully"}, (name, dep)
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no healthcheck"
    for name in AIRFLOW_SERVICES[1:]:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_env_example_documents_every_variable_with_the_same_default():
    compose_defaults = _defaults(COMPOSE.read_text(encoding="utf-8"))
    documented = _env_example()
    missing = sorted(set(compose_defaults) - set(documented))
    assert not missing, f"variables used by docker-compose.yaml but not in env.example: {missing}"
    differ = {k: (compose_defaults[k], documented[k]) for k in compose_defaults if compose_defaults[k] != documented[k]}
    assert not differ, f"default in docker-compose.yaml != env.example: {differ}"


def _users(env: dict) -> dict[str, str]:
    """SimpleAuthManager's users (name -> role) with compose's defaults filled in."""
    return dict(entry.split(":") for entry in _interpolate(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]).split(","))


def test_run_note_connection_logs_in_as_a_user_that_exists(services):
    init_env = services["airflow-init"]["environment"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        conn = json.loads(_interpolate(env["AIRFLOW_CONN_AIRFLOW_API"]))  # the id dags/harvest_runlog.py reads
        assert conn["host"] == "http://airflow-apiserver:8080", name
        assert _users(env)[conn["login"]] in {"user", "op", "admin"}, name  # roles that may edit a DAG run
        # airflow-init writes that user's password: the same variable, the same default
        assert conn["login"] == _interpolate(init_env["AIRFLOW_RUNLOG_USER"])
        assert conn["password"] == _interpolate(init_env["AIRFLOW_RUNLOG_PASSWORD"])


def test_every_configured_approver_is_an_airflow_user(services):
    from harvesters.config import load_all

    loaded, errors = load_all(REPO / "include" / "sources")
    assert not errors
    approvers = {a.id for s in loaded for a in s.config.approval.approvers}
    users = _users(services["airflow-apiserver"]["environment"])
    assert approvers and all(users.get(a) == "user" for a in approvers), (approvers, users)


def test_ckan_takes_the_uploads_the_pipeline_sends(services):
    from harvesters.portal import UPLOAD_TIMEOUT
    from harvesters.settings import Limits

    env = services["ckan"]["environment"]
    # ckanext-envvars maps CKAN__MAX_RESOURCE_SIZE to ckan.max_resource_size (MB)
    assert int(_interpolate(str(env["CKAN__MAX_RESOURCE_SIZE"]))) * 2**20 >= Limits().max_download_bytes
    # uWSGI (ckan-base) must not kill an upload the pipeline still waits for
    assert int(_interpolate(str(env["UWSGI_HARAKIRI"]))) >= UPLOAD_TIMEOUT[1]


def test_deployment_settings_of_the_pipeline(services):
    from harvesters.gdc.profiles import NAMES

    for name in AIRFLOW_SERVICES:
        svc, env = services[name], services[name]["environment"]
        # folder drops: the roots the pipeline reads are the drops volume
        drops = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
        for root in env["HARVEST_DROP_ROOTS"].replace(",", " ").split():
            assert drops.get(root) == "harvest-drops", (name, root)
        assert "HARVEST_ALLOW_HOSTS" in env and "HARVEST_ALLOW_NETWORKS" in env, name
        assert _interpolate(env["HARVEST_PORTAL_PROFILE"]) in NAMES, name
        assert int(_interpolate(str(env["AIRFLOW__CELERY__WORKER_CONCURRENCY"]))) >= 1, name
    # the per-host pools exist before any task asks for one: airflow-init imports them
    init = "\n".join(services["airflow-init"]["command"])
    assert "harvest sources pools > /tmp/pools.json" in init and "airflow pools import /tmp/pools.json" in init


def test_secrets_file_is_never_committed():
    ignored = {line.strip() for line in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()}
    assert ".env" in ignored
    tracked = subprocess.run(["git", "ls-files", "--", ".env"], cwd=REPO, capture_output=True, text=True)
    assert tracked.returncode == 0 and tracked.stdout.strip() == ""
