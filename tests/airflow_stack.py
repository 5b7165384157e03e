"""Real Airflow components (api-server, scheduler, dag-processor) over a throwaway AIRFLOW_HOME.

One home for the end-to-end tests that need Airflow's own processes rather than ``dag.test()``
(task logs as the UI reads them, the HITL race, the plugin pages). Everything binds 127.0.0.1
on a spare port; each component runs in its own process group and is stopped by PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from demo import AirflowAPI  # include/devstack/demo.py (on sys.path: tests/conftest.py)
from harvesters.settings import REPO_ROOT


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AirflowStack:
    """Airflow over ``home``: ``users`` maps login → (password, role); ``env`` adds or overrides settings."""

    def __init__(self, home: Path, *, dags_folder: Path = REPO_ROOT / "dags",
                 users: dict[str, tuple[str, str]] | None = None, env: dict[str, str] | None = None):
        self.home, self.port = home, spare_port()
        self.base = f"http://127.0.0.1:{self.port}"
        users = users or {"admin": ("admin", "admin")}
        (home / "simple_auth_manager_passwords.json.generated").write_text(
            json.dumps({name: password for name, (password, _) in users.items()}))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        self.env.update({
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{n}:{role}" for n, (_, role) in users.items()),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        })
        self.env.update(env or {})
        self.procs: list[subprocess.Popen] = []
        self.clients = {name: AirflowAPI(self.base, password, user=name) for name, (password, _) in users.items()}

    @property
    def log_path(self) -> Path:
        return self.home / "airflow.log"

    def start(self, components: tuple[str, ...] = ("api-server", "scheduler", "dag-processor")) -> None:
        """Migrate the database, start the API server, log every user in, then the other components
        (a task started before the API server answers fails on the execution API)."""
        airflow = [sys.executable, "-m", "airflow"]
        subprocess.run([*airflow, "db", "migrate"], env=self.env, check=True, capture_output=True, timeout=300)
        log = self.log_path.open("ab")
        argv = {"api-server": [*airflow, "api-server", "--port", str(self.port)],
                "scheduler": [*airflow, "scheduler", "--skip-serve-logs"],
                "dag-processor": [*airflow, "dag-processor"]}
        for name in sorted(components, key=lambda c: c != "api-server"):
            self.procs.append(subprocess.Popen(argv[name], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))
            if name == "api-server":
                deadline = time.time() + 300
                for client in self.clients.values():
                    client.login(deadline)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)

    def wait_for_dags(self, wanted: set[str], deadline: float, client: str = "admin") -> None:
        """Until the DAG processor has parsed every DAG in ``wanted``."""
        found: set[str] = set()
        while time.time() < deadline:
            found = {d["dag_id"] for d in self.clients[client].get("/dags", limit=1000)["dags"]}
            if wanted <= found:
                return
            time.sleep(1)
        raise RuntimeError(f"DAGs {sorted(wanted - found)} never parsed; see {self.log_path}")
