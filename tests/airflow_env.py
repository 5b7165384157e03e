"""pytest plugin: a throwaway Airflow home for the whole test session.

It must run before anything imports Airflow, which reads its config at import
time; hence a plugin loaded by ``-p`` (see pyproject), which pytest imports
before any conftest, and the environment is set when this module is imported
(pytest_configure would be too late: initial conftests load before it).
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _set_environment() -> str:
    home = tempfile.mkdtemp(prefix="airflow-test-")
    os.environ.update({
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        # The demo agencies' approvers (include/sources/*/_agency.yaml) answer approval tasks in e2e tests.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,pcd-approver:user,gistda-approver:user,ddc-approver:user",
        "GX_ANALYTICS_ENABLED": "False",
        # Deployment allowlists for the suite: its servers bind 127.0.0.1 (nothing else of loopback),
        # its drop folders are temp dirs. Tests of the refusals remove these.
        "HARVEST_ALLOW_HOSTS": "127.0.0.1",
        "HARVEST_DROP_ROOTS": f"{tempfile.gettempdir()},/srv/drops",  # temp dirs; the demo configs' default
    })
    # Tests never write into the repo's own staging area.
    os.environ["HARVEST_STAGING_DIR"] = str(Path(home) / "staging")
    return home


_home = _set_environment()


def pytest_unconfigure(config):
    if _home:
        shutil.rmtree(_home, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated SQLite metadata DB (about 4 s), for tests that run DAGs."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env=os.environ.copy(), timeout=300)
    return os.environ["AIRFLOW_HOME"]
