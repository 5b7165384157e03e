"""The demo: local services + `airflow standalone`, harvest the demo sources, print where to look.

    bin/demo          start everything (reusing what already runs), trigger every
                      demo source's DAG, wait for the runs, print the results
    bin/demo stop     stop Airflow and the local services (by PID)

Airflow runs on its embedded default (SQLite), parallelism 4, bound to
127.0.0.1. Its home is ``$HARVEST_LOCAL/airflow``; login admin / the password
printed at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
LOCAL = Path(os.environ.get("HARVEST_LOCAL") or REPO / ".local")
STATE = LOCAL / "state"
AIRFLOW_HOME = LOCAL / "airflow"
VENV_BIN = LOCAL / "venv" / "bin"
PID_FILE = STATE / "airflow.pid"
PORT_FILE = STATE / "airflow.port"
RUN_TIMEOUT = 900  # seconds to wait for the demo runs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import services  # noqa: E402  (include/devstack/services.py, standard library only)


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def spare_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def airflow_env(svc: dict, port: int) -> dict[str, str]:
    ckan = svc["ckan"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",  # standalone starts its parts as `airflow` from PATH
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW_CONN_GDC_PORTAL": json.dumps({"conn_type": "http", "host": ckan["url"], "password": ckan["token"]}),
        "HARVEST_STAGING_DIR": str(LOCAL / "staging"),
        "DEMO_SITE_URL": svc["demo_site"]["url"],
        "GX_ANALYTICS_ENABLED": "False",
    })
    return env


def admin_password() -> str:
    """Choose the admin password by pre-writing the file SimpleAuthManager reads."""
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    path = AIRFLOW_HOME / "simple_auth_manager_passwords.json.generated"
    if path.exists():
        return json.loads(path.read_text())["admin"]
    password = secrets.token_urlsafe(12)
    path.write_text(json.dumps({"admin": password}))
    return password


def running_airflow() -> int | None:
    if PID_FILE.exists() and PORT_FILE.exists():
        pid = int(PID_FILE.read_text())
        try:
            os.kill(pid, 0)
            return int(PORT_FILE.read_text())
        except ProcessLookupError:
            pass
    return None


def start_airflow(svc: dict) -> int:
    port = running_airflow()
    if port:
        say(f"Airflow already running on 127.0.0.1:{port}")
        return port
    port = spare_port(8080)
    env = airflow_env(svc, port)
    admin_password()
    subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (STATE / "logs").mkdir(parents=True, exist_ok=True)
    log = open(STATE / "logs" / "airflow.log", "ab")
    # Its own process group: `stop` then ends the scheduler, API server and workers together.
    proc = subprocess.Popen([str(VENV_BIN / "airflow"), "standalone"], env=env, stdout=log, stderr=log,
                            start_new_session=True, cwd=str(AIRFLOW_HOME))
    PID_FILE.write_text(str(proc.pid))
    PORT_FILE.write_text(str(port))
    say(f"Airflow standalone starting on 127.0.0.1:{port} (log: {STATE / 'logs' / 'airflow.log'})")
    return port


def stop_airflow() -> None:
    if not PID_FILE.exists():
        return
    pid = int(PID_FILE.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(60):
            os.killpg(pid, 0)
            time.sleep(0.5)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    PID_FILE.unlink(missing_ok=True)
    PORT_FILE.unlink(missing_ok=True)
    say("Airflow stopped")


class AirflowAPI:
    def __init__(self, base: str, password: str):
        self.base = base
        self.password = password
        self.http = requests.Session()

    def login(self, deadline: float) -> None:
        while True:
            try:
                r = self.http.post(f"{self.base}/auth/token", json={"username": "admin", "password": self.password},
                                   timeout=5)
                if r.status_code in (200, 201):
                    self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
                    return
            except requests.ConnectionError:
                pass
            if time.time() > deadline:
                raise SystemExit(f"[demo] Airflow API did not come up; see {STATE / 'logs' / 'airflow.log'}")
            time.sleep(2)

    def get(self, path: str, **params):
        r = self.http.get(f"{self.base}/api/v2{path}", params=params, timeout=30)
        r.raise_for_status()
        return r.json()

    def send(self, method: str, path: str, body: dict):
        r = self.http.request(method, f"{self.base}/api/v2{path}", json=body, timeout=30)
        r.raise_for_status()
        return r.json()


def wait_for_dags(api: AirflowAPI, wanted: set[str], deadline: float) -> None:
    while True:
        found = {d["dag_id"] for d in api.get("/dags", limit=100)["dags"]}
        if wanted <= found:
            return
        errors = api.get("/importErrors")["import_errors"]
        if errors:
            for err in errors:
                say(f"import error in {err['filename']}: {err['stack_trace'].strip().splitlines()[-1]}")
        if time.time() > deadline:
            raise SystemExit(f"[demo] DAGs not parsed in time: missing {sorted(wanted - found)}")
        time.sleep(3)


def failure_reason(api: AirflowAPI, dag_id: str, run_id: str) -> str:
    """The failed task and its one-line error, read from the task's structured log."""
    tis = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    failed = [t for t in tis if t["state"] == "failed"]
    if not failed:
        return "no failed task"
    ti = failed[0]
    where = ti["task_id"] + (f"[{ti.get('rendered_map_index') or ti['map_index']}]" if ti["map_index"] >= 0 else "")
    try:
        events = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}",
                         map_index=ti["map_index"])["content"]
    except requests.RequestException:
        events = []
    details = [d for e in events if isinstance(e, dict) for d in e.get("error_detail") or []]
    message = details[-1].get("exc_value", "") if details else ""
    return f"task {where} failed" + (f": {message}" if message else "")


def run_demo() -> int:
    from harvesters.config import load_all

    svc = services.start(STATE)
    os.environ["DEMO_SITE_URL"] = svc["demo_site"]["url"]
    sources, errors = load_all(REPO / "include" / "sources")
    if errors:
        for err in errors:
            say(f"invalid config: {err}")
    dag_ids = {s.config.id for s in sources}

    port = start_airflow(svc)
    base = f"http://127.0.0.1:{port}"
    api = AirflowAPI(base, admin_password())
    api.login(time.time() + 180)
    wait_for_dags(api, dag_ids, time.time() + 180)

    runs = {}
    for dag_id in sorted(dag_ids):
        api.send("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        run = api.send("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "note": "triggered by bin/demo"})
        runs[dag_id] = run["dag_run_id"]
        say(f"triggered {dag_id}")

    deadline = time.time() + RUN_TIMEOUT
    states: dict[str, str] = {}
    while len(states) < len(runs) and time.time() < deadline:
        for dag_id, run_id in runs.items():
            if dag_id not in states:
                state = api.get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
                if state in ("success", "failed"):
                    states[dag_id] = state
                    say(f"{dag_id}: {state}")
        time.sleep(3)

    print()
    print("Airflow UI:   ", base, " (login: admin / " + admin_password() + ")")
    print("Portal (CKAN):", svc["ckan"]["url"])
    by_id = {s.config.id: s.config for s in sources}
    for dag_id, run_id in runs.items():
        state = states.get(dag_id, "still running")
        print(f"\n  {dag_id}  [{state}]  {base}/dags/{dag_id}/runs/{run_id}")
        if state == "success":
            result = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/publish/xcomEntries/return_value",
                             deserialize="true")["value"]
            result = json.loads(result) if isinstance(result, str) else result
            print(f"    published: {result['url']}  ({result['rows']} rows, {len(result['resources'])} resources)")
        elif state == "failed":
            expected = by_id[dag_id].validation and dag_id == "ddc-respiratory-patients"
            print(f"    {failure_reason(api, dag_id, run_id)}")
            if expected:
                print("    (expected: this demo source's data breaks its suite, so its publish is blocked)")
    print("\nStop everything with: bin/demo stop")
    unexpected = [d for d, s in states.items() if s != "success" and d != "ddc-respiratory-patients"]
    return 1 if unexpected or len(states) < len(runs) else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["stop"]:
        stop_airflow()
        services.stop(STATE)
        return 0
    return run_demo()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
