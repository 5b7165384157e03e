"""The demo: local services + `airflow standalone`, harvest the demo sources, print where to look.

    bin/demo          start everything (reusing what already runs), trigger every
                      demo source's DAG, wait for the runs, print the results
    bin/demo stop     stop Airflow and the local services (by PID)

Airflow runs on its embedded default (SQLite), parallelism 4, bound to
127.0.0.1. Its home is ``$HARVEST_LOCAL/airflow``; login admin / the password
printed at the end. New datasets wait for their agency's approver; the demo
logs in as each approver and approves, so the approval step shows in the UI.
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
EXPECTED_TO_FAIL = "ddc-respiratory-patients"  # its demo data breaks its suite on purpose

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


def airflow_env(svc: dict, port: int, users: list[str]) -> dict[str, str]:
    ckan = svc["ckan"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",  # standalone starts its parts as `airflow` from PATH
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        # LocalExecutor with the fix for approvals answered at once (plugins/harvest_executors.py).
        "AIRFLOW__CORE__EXECUTOR": "harvest_executors.HarvestLocalExecutor",
        # admin, plus each agency's approver (role "user": may answer the approvals addressed to them).
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(["admin:admin"] + [f"{u}:user" for u in users]),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW_CONN_GDC_PORTAL": json.dumps({"conn_type": "http", "host": ckan["url"], "password": ckan["token"]}),
        # The report task writes each run's summary as the run's note through Airflow's own API.
        "AIRFLOW_CONN_AIRFLOW_API": json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{port}",
                                                "login": "admin", "password": passwords(["admin"])["admin"]}),
        "HARVEST_STAGING_DIR": str(LOCAL / "staging"),
        "HARVEST_CFG_DEMO_SITE_URL": svc["demo_site"]["url"],
        "HARVEST_CFG_DEMO_CATALOG_URL": ckan["url"],  # the demo agency catalog (gistda/catalog.yaml) lives in the same CKAN
        "HARVEST_CFG_DEMO_DROP_DIR": svc["demo_site"].get("drop_dir", ""),
        # Deployment allowlists: the demo's servers listen on loopback, which harvesting refuses otherwise;
        # its folder drop lives under the demo's own drop folder.
        "HARVEST_ALLOW_HOSTS": "127.0.0.1",
        "HARVEST_DROP_ROOTS": svc["demo_site"].get("drop_dir", ""),
        "GX_ANALYTICS_ENABLED": "False",
    })
    # The demo drops' credentials, as Airflow connections (demo_s3, demo_sftp).
    env.update({f"AIRFLOW_CONN_{name.upper()}": value for name, value in services.demo_connections(svc).items()})
    return env


def approvers(sources) -> list[str]:
    return sorted({a.id for s in sources for a in s.config.approval.approvers})


def passwords(users: list[str]) -> dict[str, str]:
    """Choose the users' passwords by pre-writing the file SimpleAuthManager reads (kept across runs)."""
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    path = AIRFLOW_HOME / "simple_auth_manager_passwords.json.generated"
    known = json.loads(path.read_text()) if path.exists() else {}
    for user in users:
        known.setdefault(user, secrets.token_urlsafe(12))
    path.write_text(json.dumps(known))
    return known


def running_airflow() -> int | None:
    if PID_FILE.exists() and PORT_FILE.exists():
        pid = int(PID_FILE.read_text())
        try:
            os.kill(pid, 0)
            return int(PORT_FILE.read_text())
        except ProcessLookupError:
            pass
    return None


def start_airflow(svc: dict, users: list[str]) -> int:
    port = running_airflow()
    if port:
        say(f"Airflow already running on 127.0.0.1:{port}")
        return port
    port = spare_port(8080)
    env = airflow_env(svc, port, users)
    passwords(["admin", *users])
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
    def __init__(self, base: str, password: str, user: str = "admin"):
        self.base = base
        self.user = user
        self.password = password
        self.http = requests.Session()

    def login(self, deadline: float) -> None:
        while True:
            try:
                r = self.http.post(f"{self.base}/auth/token", json={"username": self.user, "password": self.password},
                                   timeout=5)
                if r.status_code in (200, 201):
                    self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
                    return
            except requests.ConnectionError:
                pass
            if time.time() > deadline:
                raise SystemExit(f"[demo] Airflow API did not come up; see {STATE / 'logs' / 'airflow.log'}")
            time.sleep(2)

    def _call(self, method: str, path: str, **kwargs):
        # airflow standalone keeps its metadata in SQLite: under load a write can hit "database is
        # locked" and the API answers 500 for a moment. Such answers are retried, not fatal.
        for attempt in range(5):
            try:
                r = self.http.request(method, f"{self.base}/api/v2{path}", timeout=30, **kwargs)
            except (requests.ConnectionError, requests.Timeout):  # a busy machine: ask again
                if attempt == 4:
                    raise
            else:
                if r.status_code < 500 or attempt == 4:
                    r.raise_for_status()
                    return r.json()
            time.sleep(2 * (attempt + 1))

    def get(self, path: str, **params):
        return self._call("GET", path, params=params)

    def send(self, method: str, path: str, body: dict):
        return self._call(method, path, json=body)


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
    # The pipeline's failure block (harvesters/explain.py) spans lines: indent them under the task.
    return f"task {where} failed" + (":\n      " + message.replace("\n", "\n      ") if message else "")


def create_pools(api: AirflowAPI, sources) -> None:
    """Per-host pools (a task naming a missing pool never runs)."""
    from harvesters.kinds import pools

    for name, slots in pools(sources).items():
        # The pool's name goes as `pool` in the patch body; a missing pool answers 404.
        body = {"pool": name, "slots": slots, "include_deferred": False}
        r = api.http.patch(f"{api.base}/api/v2/pools/{name}", json=body, timeout=30)
        if r.status_code == 404:
            api.send("POST", "/pools", {"name": name, "slots": slots,
                                        "description": "harvest: concurrent requests to one agency server"})
        else:
            r.raise_for_status()


def answer_approvals(api: AirflowAPI, approver_apis: dict[str, AirflowAPI], answered: set) -> None:
    """Play each agency's approver: approve what waits for them (the demo has no humans at hand)."""
    pending = api.get("/dags/~/dagRuns/~/hitlDetails", response_received="false")["hitl_details"]
    for detail in pending:
        ti = detail["task_instance"]
        key = (ti["dag_id"], ti["dag_run_id"], ti["task_id"], ti["map_index"])  # one approval per dataset
        users = [u["id"] for u in detail.get("assigned_users") or []] or ["admin"]
        who = next((u for u in users if u in approver_apis), None)
        if key in answered or who is None:
            continue
        try:  # answered at once, as a quick approver would: plugins/harvest_executors.py makes that safe
            approver_apis[who].send("PATCH", f"/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/"
                                             f"{ti['task_id']}/{ti['map_index']}/hitlDetails",
                                    {"chosen_options": ["Approve"], "params_input": {"reason": "approved in the demo"}})
        except requests.HTTPError as exc:
            say(f"{ti['dag_id']}: answering its approval failed ({exc.response.status_code}); trying again")
            continue
        answered.add(key)
        say(f"{ti['dag_id']}: {detail.get('subject', 'approval')} approved as {who} "
            "(Required Actions in the UI shows what they saw)")


PUBLISH_TASK = "dataset.publish"  # mapped: one instance per portal dataset of the source


def published_results(api: AirflowAPI, dag_id: str, run_id: str) -> tuple[list[dict], str | None]:
    """The publish results of this run, else of the latest other run that published (or none)."""
    others = [r["dag_run_id"] for r in api.get(f"/dags/{dag_id}/dagRuns", order_by="-start_date", limit=5)["dag_runs"]]
    for candidate in [run_id] + [r for r in others if r != run_id]:
        where = f"/dags/{dag_id}/dagRuns/{candidate}/taskInstances/{PUBLISH_TASK}/xcomEntries"
        entries = api.get(where, xcom_key="return_value", limit=100)["xcom_entries"]
        values = [api.get(f"{where}/return_value", map_index=e["map_index"], deserialize="true")["value"]
                  for e in sorted(entries, key=lambda e: e["map_index"])]
        if values:  # none: every publish skipped in that run (e.g. nothing new in a drop)
            return [json.loads(v) if isinstance(v, str) else v for v in values], candidate
    return [], None


def start_runs(api: AirflowAPI, schedules: dict[str, str | None], deadline: float) -> dict[str, str]:
    """One run per DAG. Unpausing a scheduled DAG makes the scheduler start its latest interval: that is
    its run (a manual trigger beside it would make two). A DAG without a schedule, or one already unpaused
    by an earlier demo, is triggered."""
    runs, waiting = {}, []
    for dag_id, schedule in sorted(schedules.items()):
        was_paused = api.get(f"/dags/{dag_id}")["is_paused"]
        api.send("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        if schedule and was_paused:
            waiting.append(dag_id)
            continue
        run = api.send("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "note": "triggered by bin/demo"})
        runs[dag_id] = run["dag_run_id"]
        say(f"triggered {dag_id}")
    while waiting and time.time() < deadline:
        for dag_id in list(waiting):
            found = api.get(f"/dags/{dag_id}/dagRuns", order_by="-run_after", limit=1)["dag_runs"]
            if found:
                runs[dag_id] = found[0]["dag_run_id"]
                waiting.remove(dag_id)
                say(f"{dag_id}: unpaused; the scheduler started its latest interval ({runs[dag_id]})")
        time.sleep(2)
    for dag_id in waiting:  # the scheduler did not start one in time: trigger it after all
        runs[dag_id] = api.send("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]
        say(f"triggered {dag_id}")
    return runs


def run_demo() -> int:
    from harvesters.config import load_all

    svc = services.start(STATE)
    os.environ["HARVEST_CFG_DEMO_SITE_URL"] = svc["demo_site"]["url"]  # pool names follow the hosts Airflow will see
    os.environ["HARVEST_CFG_DEMO_CATALOG_URL"] = svc["ckan"]["url"]
    os.environ["HARVEST_CFG_DEMO_DROP_DIR"] = svc["demo_site"].get("drop_dir", "")
    os.environ["HARVEST_DROP_ROOTS"] = svc["demo_site"].get("drop_dir", "")
    sources, errors = load_all(REPO / "include" / "sources")
    for err in errors:
        say(f"invalid config: {err}")
    dag_ids = {s.config.id for s in sources}
    users = approvers(sources)

    port = start_airflow(svc, users)
    base = f"http://127.0.0.1:{port}"
    pw = passwords(["admin", *users])
    api = AirflowAPI(base, pw["admin"])
    api.login(time.time() + 180)
    approver_apis = {u: AirflowAPI(base, pw[u], u) for u in users}
    for approver in approver_apis.values():
        approver.login(time.time() + 60)
    wait_for_dags(api, dag_ids, time.time() + 180)
    create_pools(api, sources)

    runs = start_runs(api, {s.config.id: s.config.schedule for s in sources}, time.time() + 180)

    deadline = time.time() + RUN_TIMEOUT
    states: dict[str, str] = {}
    answered: set = set()
    while len(states) < len(runs) and time.time() < deadline:
        answer_approvals(api, approver_apis, answered)
        for dag_id, run_id in runs.items():
            if dag_id not in states:
                state = api.get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
                if state in ("success", "failed"):
                    states[dag_id] = state
                    say(f"{dag_id}: {state}")
        time.sleep(3)

    print()
    print("Airflow UI:   ", base, " (login: admin / " + pw["admin"] + ")")
    print("  approvers:  ", ", ".join(f"{u} / {pw[u]}" for u in users))
    print("Portal (CKAN):", svc["ckan"]["url"])
    for dag_id, run_id in sorted(runs.items()):
        state = states.get(dag_id, "still running")
        print(f"\n  {dag_id}  [{state}]  {base}/dags/{dag_id}/runs/{run_id}")
        if state == "success":
            results, by_run = published_results(api, dag_id, run_id)
            if not results:
                print("    nothing new to publish")
                continue
            if by_run != run_id:  # an earlier run (a previous demo) already took the drop's files
                print(f"    nothing new in this run; published by {base}/dags/{dag_id}/runs/{by_run}")
            for result in results:
                if result.get("status") == "unchanged":  # an earlier demo published it; its files are the same
                    print(f"    unchanged on the portal (nothing new at the source): {result['url']}")
                    continue
                approved = f", approved by {result['approved_by']}" if result.get("approved_by") else ""
                print(f"    published: {result['url']}  ({result['rows']} rows, {len(result['resources'])} "
                      f"resources{approved})")
        elif state == "failed":
            print(f"    {failure_reason(api, dag_id, run_id)}")
            if dag_id == EXPECTED_TO_FAIL:
                print("    (expected: this demo source's data breaks its suite, so its publish is blocked)")
    print("\nStop everything with: bin/demo stop")
    unexpected = [d for d, s in states.items() if s != "success" and d != EXPECTED_TO_FAIL]
    return 1 if unexpected or len(states) < len(runs) else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["stop"]:
        stop_airflow()
        services.stop(STATE)
        return 0
    return run_demo()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
