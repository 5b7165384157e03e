"""Measurements through a real Airflow scheduler: per-source cost of an unchanged source, and
concurrency that respects agencies (per-host pools) with many sources.

    python bench/scheduler.py unchanged   --sources 1,100 [--reps 3] [--services STATE_DIR]
    python bench/scheduler.py concurrency --sources 200 --files 2 --hosts 4 --delay 0.3 [--services STATE_DIR]

Both set up, on 127.0.0.1 and stopped by PID at the end:
- agency web servers (bench/loopback.py ``AgencySite``: Last-Modified/304, counting requests and
  the most it serves at once) with http source configs of the demo agency ``pcd``;
- the local CKAN (``--services`` names a running stack's state dir, else one is started);
- Airflow on a throwaway home: ``api-server``, ``scheduler`` with the deployment's
  executor (``harvest_executors.HarvestLocalExecutor``, a LocalExecutor) and ``dag-processor``
  over the project's ``dags/``; pools from ``harvest sources pools`` + ``airflow pools import``.
  Its metadata DB is a database of its own in the stack's PostgreSQL (dropped at the end), as in
  production: SQLite's one writer locks up the scheduler under a few hundred runs.

``unchanged``: every source is first harvested once outside Airflow (``harvest run``'s code,
approved, in this process, not measured), so its dataset is on the portal; then nothing changes
on the agency site, and a cycle triggers the DAGs of the first N sources at once and waits
until every run ended (an unchanged run asks no approver and publishes nothing). Reported per
cycle: wall time, CPU seconds (task processes and their LocalExecutor workers; scheduler,
dag-processor, api-server apart), task instances started, XCom bytes written (from the
metadata DB), peak memory. ``--importtime`` adds what each task imports.

``concurrency``: new sources, each agency host answering every request after ``--delay`` s;
one cycle runs every source's agency side (gather, fetch, convert, validate) and stages each new
dataset privately (prepare); a cycle ends when every run waits for its agency's approver (no
human here: nothing is opened) or ended. Reported: the most requests each host served at once
against its pool's slots (exit 1 when a pool did not hold), peak memory (all Airflow processes
together, and the largest one), time, task states.

CPU: each Airflow component's process tree is read with psutil before and after a cycle; a
process's ``children_user/system`` hold its ended children (LocalExecutor workers wait for the
task processes they fork), so short-lived task processes are counted whole.
The last stdout line is JSON (``{"rows": [...]}``) for bench/run's table; the rest is for people.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV_BIN = Path(sys.executable).parent
sys.path[:0] = [str(BENCH), str(REPO / "include" / "devstack")]

import inputs  # noqa: E402
from loopback import AgencySite  # noqa: E402

HEAVY = ("pandas", "pyarrow", "great_expectations", "duckdb", "polars", "numpy", "openpyxl", "xlrd", "python_calamine",
         "lxml", "bs4", "boto3", "botocore", "paramiko", "ckanapi", "sqlalchemy", "charset_normalizer")
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)([\w.]+)")
DEMO_CSV = REPO / "include" / "demo" / "site" / "pcd" / "pm25_hourly.csv"
TERMINAL = ("success", "failed")
COMPONENTS = ("api-server", "scheduler", "dag-processor")


def say(message: str) -> None:
    print(f"[scheduler bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_cpu(pid: int) -> tuple[float, float]:
    """(CPU s of the process itself, CPU s of all its descendants, live and ended)."""
    try:
        root = psutil.Process(pid)
        t = root.cpu_times()
        kids = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0, 0.0
    below = t.children_user + t.children_system
    for kid in kids:
        try:
            k = kid.cpu_times()
        except psutil.NoSuchProcess:
            continue  # ended between listing and reading: its parent's children_* will hold it
        below += k.user + k.system + k.children_user + k.children_system
    return t.user + t.system, below


class Memory(threading.Thread):
    """Samples the RSS of every process below the given roots twice a second."""

    def __init__(self, roots: list[int]):
        super().__init__(daemon=True)
        self.roots, self.halt = roots, threading.Event()
        self.peak_one, self.peak_one_cmd, self.peak_total = 0, "", 0

    def run(self):
        while not self.halt.is_set():
            total = 0
            for pid in self.roots:
                try:
                    root = psutil.Process(pid)
                    procs = [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    continue
                for p in procs:
                    try:
                        rss = p.memory_info().rss
                    except psutil.NoSuchProcess:
                        continue
                    total += rss
                    if p.pid not in self.roots and rss > self.peak_one:
                        self.peak_one = rss
                        try:
                            self.peak_one_cmd = " ".join(p.cmdline())[:100]
                        except psutil.NoSuchProcess:
                            pass
            self.peak_total = max(self.peak_total, total)
            self.halt.wait(0.5)

    def stop(self) -> None:
        self.halt.set()
        self.join()


class Airflow:
    """api-server + scheduler + dag-processor of one throwaway home, each its own process group; the
    metadata DB a new database in the stack's PostgreSQL."""

    def __init__(self, work: Path, sources: Path, stack: dict, parallelism: int, importtime: bool = False):
        import sqlalchemy

        portal, pg = stack["ckan"], stack["postgres"]
        self.home = work / "airflow"
        self.home.mkdir()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.pg = dict(host=pg["host"], port=pg["port"], user=pg["superuser"], password=pg["superuser_password"])
        self.db_name = f"airflow_bench_{secrets.token_hex(4)}"
        self._admin(f'CREATE DATABASE "{self.db_name}"')
        self.db_url = (f"postgresql+psycopg2://{pg['superuser']}:{pg['superuser_password']}@{pg['host']}:{pg['port']}/"
                       f"{self.db_name}")
        self.engine = sqlalchemy.create_engine(self.db_url, pool_size=1)
        (self.home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({"admin": "admin"}))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HARVEST_PORTAL"))}
        env.update({
            "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # The deployment's executor (a LocalExecutor that drops the stale exit of an approval answered at once).
            "AIRFLOW__CORE__EXECUTOR": "harvest_executors.HarvestLocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url,
            "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "16",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base,
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(24),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # As docs/scale.md advises for many configs: re-parse a DAG file every 5 min, not every 30 s,
            # so the measurement is the tasks' cost, not a parse loop's.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # SQLite and a busy 2-core machine: the Execution API can take seconds to answer a task's first call.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_GDC_PORTAL": json.dumps({"conn_type": "http", "host": portal["url"],
                                                   "password": portal["token"]}),
            # The report task writes each run's summary as the run's note through Airflow's own API.
            "AIRFLOW_CONN_AIRFLOW_API": json.dumps({"conn_type": "http", "host": self.base, "login": "admin",
                                                    "password": "admin"}),
            "HARVEST_SOURCES_DIR": str(sources),
        })
        if importtime:  # every process prints what it imports; a task's own imports land in its log
            env["PYTHONPROFILEIMPORTTIME"] = "1"
        self.env = env
        self.procs: dict[str, subprocess.Popen] = {}
        self.log = open(work / "airflow.log", "ab")

    def airflow(self, *argv: str) -> None:
        subprocess.run([str(VENV_BIN / "airflow"), *argv], env=self.env, check=True, stdout=self.log,
                       stderr=self.log, timeout=600)

    def start(self, pools_json: Path) -> None:
        from demo import AirflowAPI  # include/devstack/demo.py: login and retried calls

        self.airflow("db", "migrate")
        self.airflow("pools", "import", str(pools_json))
        for name in COMPONENTS:
            argv = [name, "--skip-serve-logs"] if name == "scheduler" else [name]
            self.procs[name] = subprocess.Popen([str(VENV_BIN / "airflow"), *argv], env=self.env, stdout=self.log,
                                                stderr=self.log, start_new_session=True, cwd=str(self.home))
        self.api = AirflowAPI(self.base, "admin")
        self.api.login(time.time() + 240)

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs.values())

    def query(self, sql: str) -> list[tuple]:
        import sqlalchemy

        with self.engine.connect() as con:
            return [tuple(r) for r in con.execute(sqlalchemy.text(sql))]

    def wait_dags(self, dag_ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            try:
                found = {r[0] for r in self.query("select dag_id from serialized_dag")}
            except Exception:  # noqa: BLE001 - the tables are being created
                found = set()
            if dag_ids <= found:
                return
            time.sleep(2)
        raise SystemExit(f"DAGs not parsed in time ({len(dag_ids - found)} missing); see the Airflow log")

    def trigger(self, dag_ids: list[str]) -> set[tuple[str, str]]:
        import requests

        runs = set()
        for dag_id in dag_ids:
            for attempt in range(10):  # SQLite under a busy scheduler: a write may fail for a while
                try:
                    run = self.api.send("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None})
                    break
                except requests.HTTPError:
                    if attempt == 9:
                        raise
                    time.sleep(10)
            runs.add((dag_id, run["dag_run_id"]))
        return runs

    def run_states(self, runs: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        return {(d, r): s for d, r, s in self.query("select dag_id, run_id, state from dag_run") if (d, r) in runs}

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: each component itself, and the scheduler's descendants (the task processes)."""
        out = {}
        for name, proc in self.procs.items():
            own, below = tree_cpu(proc.pid)
            if name == "scheduler":
                out["scheduler"], out["tasks"] = own, below
            else:
                out[name] = own + below
        return out

    def stop(self) -> None:
        for proc in self.procs.values():  # each its own session: end its whole group (workers included)
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.log.close()
        self.engine.dispose()
        self._admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        import psycopg2

        con = psycopg2.connect(dbname="postgres", **self.pg)
        try:
            con.autocommit = True  # CREATE/DROP DATABASE run outside a transaction
            con.cursor().execute(sql)
        finally:
            con.close()


def waiting_for_approval(af: Airflow, runs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(d, r) for d, r in af.query("select dag_id, run_id from task_instance where task_id = 'dataset.approve' "
                                        "and state in ('deferred', 'awaiting_input')") if (d, r) in runs}


def pool_peaks(spans: list[tuple]) -> dict[str, int]:
    """The most task instances of each pool that ran at once, from Airflow's own start and end
    times (a task still running counts until now): what the pool itself promises to bound."""
    events: dict[str, list[tuple]] = {}
    for pool, start, end in spans:
        events.setdefault(pool, []).extend([(start, 1), (end or datetime.max.replace(tzinfo=start.tzinfo), -1)])
    peaks = {}
    for pool, marks in events.items():
        running = peak = 0
        for _, step in sorted(marks, key=lambda m: (m[0], m[1])):  # an end before a start at the same instant
            running += step
            peak = max(peak, running)
        peaks[pool] = peak
    return peaks


def cycle(af: Airflow, dag_ids: list[str], timeout: float, label: str, until_approval: bool = False) -> dict:
    """Trigger the DAGs at once, wait until every run ended (or, ``until_approval``, waits for its
    approver); the cycle's figures."""
    memory = Memory([p.pid for p in af.procs.values()])
    memory.start()
    before = af.cpu()
    t0 = time.monotonic()
    runs = af.trigger(dag_ids)
    states: dict = {}
    last = 0.0
    waiting: set = set()
    while time.monotonic() - t0 < timeout and af.alive():
        states = af.run_states(runs)
        ended = {k for k, s in states.items() if s in TERMINAL}
        if until_approval:
            waiting = waiting_for_approval(af, runs)
        if len(ended | waiting) >= len(runs):
            break
        if time.monotonic() - last > 30:
            last = time.monotonic()
            counts = {s: list(states.values()).count(s) for s in set(states.values())}
            say(f"{label}: {time.monotonic() - t0:.0f} s, runs {counts}"
                + (f", {len(waiting)} waiting for approval" if until_approval else ""))
        time.sleep(0.5)
    wall = time.monotonic() - t0
    time.sleep(2)  # let the last task processes exit and be reaped, so their CPU is counted
    after = af.cpu()
    memory.stop()
    tis = [(d, r, t, s, start, dur) for d, r, t, s, start, dur in af.query(
        "select dag_id, run_id, task_id, state, start_date, duration from task_instance") if (d, r) in runs]
    xcom = [(d, r, t, n) for d, r, t, n in af.query(
        "select dag_id, run_id, task_id, octet_length(cast(value as text)) from xcom") if (d, r) in runs]
    spans = [(pool, start, end) for d, r, pool, start, end in af.query(
        "select dag_id, run_id, pool, start_date, end_date from task_instance where start_date is not null")
        if (d, r) in runs]
    by_task: dict[str, dict[str, int]] = {}
    for _, _, task, state, _, _ in tis:
        by_task.setdefault(task, {}).setdefault(state or "none", 0)
        by_task[task][state or "none"] += 1
    xcom_by_task: dict[str, int] = {}
    for _, _, task, n in xcom:
        xcom_by_task[task] = xcom_by_task.get(task, 0) + (n or 0)
    cpu = {k: after[k] - before.get(k, 0.0) for k in after}
    ended = {k for k, s in states.items() if s in TERMINAL}
    run_states = {s: list(states.values()).count(s) for s in set(states.values())}
    if until_approval:
        run_states = {s: n for s, n in {"waiting for approval": len(waiting - ended),
                                        **{s: sum(1 for k in ended if states[k] == s) for s in TERMINAL}}.items() if n}
    return {
        "sources": len(dag_ids), "wall_s": wall, "cpu_s": cpu, "runs": run_states,
        "timed_out": len(ended | waiting) < len(runs),
        "tis_started": sum(1 for t in tis if t[4]), "tis": len(tis),
        "task_seconds": sum(t[5] or 0 for t in tis), "tasks": by_task,
        "xcom_bytes": sum(xcom_by_task.values()), "xcom_by_task": xcom_by_task,
        "pool_peaks": pool_peaks(spans),
        "peak_total_mib": memory.peak_total / 2**20, "peak_one_mib": memory.peak_one / 2**20,
        "peak_one_cmd": memory.peak_one_cmd,
    }


def task_imports(home: Path) -> dict[str, dict]:
    """Per task id: which heavy packages its process imported itself, and the seconds its imports took.

    Task processes are forked from a LocalExecutor worker that has Airflow loaded already, so a
    task's log holds only the imports that task paid for (PYTHONPROFILEIMPORTTIME's lines on stderr).
    """
    out: dict[str, dict] = {}
    for log in (home / "logs").glob("dag_id=*/run_id=*/task_id=*/**/attempt=*.log"):
        task = next(p for p in log.parts if p.startswith("task_id=")).split("=", 1)[1]
        heavy, seconds = set(), 0.0
        for m in IMPORT_LINE.finditer(log.read_text(encoding="utf-8", errors="replace")):
            if len(m.group(3)) == 1:  # a top-level import (one space): its cumulative time holds its nested ones
                seconds += int(m.group(2)) / 1e6
            top = m.group(4).split(".")[0]
            if top in HEAVY:
                heavy.add(top)
        entry = out.setdefault(task, {"logs": 0, "import_s": [], "heavy": set()})
        entry["logs"] += 1
        entry["import_s"].append(seconds)
        entry["heavy"] |= heavy
    return {t: {"logs": e["logs"], "import_s": statistics.median(e["import_s"]), "heavy": sorted(e["heavy"])}
            for t, e in sorted(out.items())}


def stack_info(args, work: Path) -> tuple[dict, Path | None]:
    """services.json of the local stack (CKAN and its PostgreSQL), and its state dir when started here."""
    import services as devstack

    if args.services:
        return json.loads((Path(args.services) / "services.json").read_text()), None
    state = work / "devstack"
    say("starting the local portal (CKAN) ...")
    return devstack.start(state, only=["ckan"]), state


def first_runs(paths: list[Path], portal: dict, threads: int) -> None:
    """Harvest every source once, approved, outside Airflow: its dataset is then on the portal."""
    from harvesters.config import load_source
    from harvesters.runner import run_source
    from harvesters.settings import PortalSettings, Settings

    settings = PortalSettings(url=portal["url"], token=portal["token"])
    t0 = time.monotonic()

    def one(path: Path) -> None:
        report = run_source(load_source(path), settings=Settings.from_env(), portal_settings=settings,
                            approved_by="pcd-approver")
        if not all((d.published or {}).get("status") for d in report.datasets):
            raise SystemExit(f"{path.stem}: first run published nothing")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, paths))
    say(f"first runs of {len(paths)} sources (outside Airflow, not measured): {time.monotonic() - t0:.0f} s")


def write_pools(work: Path, sources: Path) -> tuple[Path, dict[str, int]]:
    out = subprocess.run([str(VENV_BIN / "harvest"), "sources", "pools"], check=True, capture_output=True, text=True,
                         env={**os.environ, "HARVEST_SOURCES_DIR": str(sources)}).stdout
    path = work / "pools.json"
    path.write_text(out)
    return path, {name: p["slots"] for name, p in json.loads(out).items()}


def pool_of(config: Path) -> str:
    """The pool a source's tasks hold (harvesters.kinds.pool_name, as the DAG names it)."""
    from harvesters.config import load_source
    from harvesters.kinds import pool_name

    return pool_name(load_source(config))


def _cpu_note(c: dict, per: float) -> str:
    return (f"CPU per source {sum(c['cpu_s'].values()) / per:.2f} s (tasks {c['cpu_s']['tasks'] / per:.2f}, "
            f"scheduler {c['cpu_s']['scheduler'] / per:.2f}, dag-processor {c['cpu_s']['dag-processor'] / per:.2f}, "
            f"api-server {c['cpu_s']['api-server'] / per:.2f})")


def unchanged(args, work: Path, stack: dict, tag: str) -> list[dict]:
    sizes = sorted(int(n) for n in args.sources.split(","))
    # As on data.go.th (~3,000 sources of ~300 agencies): 10 sources per agency host, each host its own pool.
    sites = []
    for h in range(-(-max(sizes) // args.per_host)):
        (work / f"site{h}").mkdir()
        sites.append(AgencySite(work / f"site{h}"))
    sources = work / "sources"
    paths = []
    for i in range(max(sizes)):
        site = sites[i // args.per_host]
        name = f"pm25_hourly_{i:03d}.csv"
        shutil.copy(DEMO_CSV, site.folder / name)
        paths.append(inputs.portal_source(sources, f"bench-sched-{tag}-{i:03d}", [f"{site.url}/{name}"]))
    for site in sites:
        site.age()
    ids = [p.stem for p in paths]
    rows = []
    af = None
    try:
        first_runs(paths, stack["ckan"], args.threads)
        pools_json, _ = write_pools(work, sources)
        af = Airflow(work, sources, stack, args.parallelism, args.importtime)
        say("starting Airflow ...")
        af.start(pools_json)
        af.wait_dags(set(ids), 600)
        for n in sizes:
            reps = args.reps if n <= 10 else args.big_reps
            cycles = []
            for rep in range(reps):
                for site in sites:
                    site.reset()
                c = cycle(af, ids[:n], args.timeout, f"{n} unchanged source(s), round {rep + 1}/{reps}")
                c["agency_requests"] = sum(site.requests for site in sites)
                c["bytes_down"] = sum(site.bytes_down for site in sites)
                cycles.append(c)
                say(f"{n} source(s), round {rep + 1}: {json.dumps(c, default=str)}")
            rows.append(_unchanged_row(n, cycles, args.parallelism, -(-n // args.per_host)))
        if args.importtime:
            imports = task_imports(af.home)
            say("imports per task: " + json.dumps(imports))
            rows.append({"measurement": "imports per task of an unchanged source", "tool": "PYTHONPROFILEIMPORTTIME",
                         "seconds": sum(e["import_s"] for e in imports.values()), "peak_mib": 0,
                         "ratio": "s of imports, all tasks of one source", "notes": "; ".join(
                             f"{t} {e['import_s']:.2f} s" + (f" ({', '.join(e['heavy'])})" if e["heavy"] else "")
                             for t, e in imports.items())})
    finally:
        if af:
            af.stop()
        for site in sites:
            site.stop()
    return rows


def _unchanged_row(n: int, cycles: list[dict], parallelism: int, hosts: int) -> dict:
    med = lambda key: statistics.median(c[key] for c in cycles)  # noqa: E731
    mid = sorted(cycles, key=lambda c: c["wall_s"])[len(cycles) // 2]  # the median cycle's breakdown
    failed = [c["runs"] for c in cycles if c["runs"].get("failed") or c["timed_out"]]
    notes = [f"{len(cycles)} cycle(s), figures of the median one", f"{hosts} agency host(s), pools of 2",f"wall per source {med('wall_s') / n:.2f} s", _cpu_note(mid, n),
             f"task instances started {mid['tis_started'] / n:.0f} per source ({mid['tis_started']} in all; "
             f"task run time {mid['task_seconds'] / n:.1f} s per source)",
             f"XCom {mid['xcom_bytes'] / n:,.0f} bytes per source",
             f"agency requests {mid['agency_requests']}, bytes down {mid['bytes_down']:,}",
             f"largest process {mid['peak_one_mib']:.0f} MiB (peak column: RSS of every Airflow process summed, "
             "pages forked processes share counted in each)"]
    if failed:
        notes.append(f"RUNS NOT ALL SUCCESSFUL: {failed}")
    return {"measurement": f"unchanged source through the scheduler, {n} source(s)",
            "tool": f"Airflow LocalExecutor, parallelism {parallelism}", "seconds": med("wall_s"),
            "peak_mib": mid["peak_total_mib"], "ratio": f"{sum(mid['cpu_s'].values()) / n:.2f} CPU s per source",
            "notes": "; ".join(notes), "detail": cycles}


def concurrency(args, work: Path, stack: dict, tag: str) -> tuple[list[dict], bool]:
    # The generated files' suite (its compound-uniqueness check fails: "warn" lets the runs go on).
    suite = {"suite": "rain_suite", "on_failure": "warn"} if args.validate else None
    os.environ["HARVEST_EXPECTATIONS_DIR"] = str(BENCH)
    sites = []
    for h in range(args.hosts):
        (work / f"site{h}").mkdir()
        sites.append(AgencySite(work / f"site{h}"))
    sources = work / "sources"
    paths, files = [], []
    for i in range(args.sources):
        site = sites[i % len(sites)]
        names = [f"s{i:03d}_f{j}.csv" for j in range(args.files)]
        for j, name in enumerate(names):
            files.append(inputs.csv_file(site.folder / name, args.file_bytes, seed=1000 + i * 10 + j))
        paths.append(inputs.portal_source(sources, f"bench-conc-{tag}-{i:03d}", [f"{site.url}/{n}" for n in names],
                                          validation=suite))
    for site in sites:
        site.age()
    ids = [p.stem for p in paths]
    af = None
    held = True
    try:
        pools_json, slots = write_pools(work, sources)
        af = Airflow(work, sources, stack, args.parallelism)
        say("starting Airflow ...")
        af.start(pools_json)
        af.wait_dags(set(ids), 900)
        for site in sites:
            site.delay = args.delay
            site.reset()
        c = cycle(af, ids, args.timeout, f"{len(ids)} new sources, {args.files} files each", until_approval=True)
    finally:
        if af:
            af.stop()
        for site in sites:
            site.stop()
    hosts = []
    for site in sites:
        pool = pool_of(paths[sites.index(site)])  # source i is on site i % hosts
        ran = c["pool_peaks"].get(pool, 0)
        ok = site.peak <= slots.get(pool, 0) and ran <= slots.get(pool, 0)
        held &= ok
        hosts.append(f"{pool.rsplit('_', 1)[1]}: {slots.get(pool, 0)} slots; at once: {ran} task instances "
                     f"(Airflow's start/end times), {site.peak} requests (the site's count), "
                     f"{site.requests} requests{'' if ok else ' POOL EXCEEDED'}")
    say("per host: " + "; ".join(hosts))
    say(f"cycle: {json.dumps(c, default=str)}")
    n = len(ids)
    notes = [f"{n} sources x {args.files} files of {args.file_bytes / 1e3:.0f} kB on {args.hosts} hosts, "
             f"{args.delay} s per request, " + ("validated (GX)" if args.validate else "no expectation suite"), "pools held" if held else "POOLS EXCEEDED",
             "per host (port): " + "; ".join(hosts), f"runs {c['runs']}",
             f"largest process {c['peak_one_mib']:.0f} MiB ({c['peak_one_cmd'][:60]})",
             _cpu_note(c, n), f"task instances started {c['tis_started']}", f"XCom {c['xcom_bytes']:,} bytes"]
    if c["timed_out"]:
        notes.append("TIMED OUT: not every run ended")
    row = {"measurement": f"{n} new sources through one scheduler (per-host pools), until approval",
           "tool": f"Airflow LocalExecutor, parallelism {args.parallelism}", "seconds": c["wall_s"],
           "peak_mib": c["peak_total_mib"], "ratio": f"{c['wall_s'] / n:.2f} s per source",
           "notes": "; ".join(notes), "detail": c, "held": held}
    return [row], held and not c["timed_out"] and not c["runs"].get("failed")



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("unchanged", "concurrency"))
    ap.add_argument("--sources", default=None, help="unchanged: comma-separated counts (default 1,100); "
                                                     "concurrency: one count (default 200)")
    ap.add_argument("--reps", type=int, default=3, help="unchanged: cycles per count up to 10 sources")
    ap.add_argument("--big-reps", type=int, default=1, help="unchanged: cycles per count above 10 sources")
    ap.add_argument("--per-host", type=int, default=10, help="unchanged: sources per agency host")
    ap.add_argument("--files", type=int, default=2, help="concurrency: files per source")
    ap.add_argument("--file-bytes", type=int, default=20_000, help="concurrency: bytes per file")
    ap.add_argument("--hosts", type=int, default=4, help="concurrency: agency hosts")
    ap.add_argument("--validate", action="store_true", help="concurrency: give the sources an expectation suite "
                    "(a GX run per file: ~5 s of CPU each on top)")
    ap.add_argument("--delay", type=float, default=0.3, help="concurrency: seconds each agency request takes")
    ap.add_argument("--parallelism", type=int, default=8, help="AIRFLOW__CORE__PARALLELISM")
    ap.add_argument("--threads", type=int, default=3, help="first runs at once (set-up, not measured)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds one cycle may take")
    ap.add_argument("--services", help="state dir of a running local stack (default: start CKAN, stop it after)")
    ap.add_argument("--importtime", action="store_true", help="unchanged: also report what each task imports "
                    "(PYTHONPROFILEIMPORTTIME; slows every process a little)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (Airflow home, logs)")
    args = ap.parse_args(argv)
    args.sources = args.sources or ("1,100" if args.mode == "unchanged" else "200")
    if args.mode == "concurrency":
        args.sources = int(args.sources)

    work = Path(tempfile.mkdtemp(prefix="harvest-bench-sched-"))
    work.chmod(0o755)  # a devstack started here runs PostgreSQL as its own OS user
    os.environ.setdefault("HARVEST_STAGING_DIR", str(work / "staging"))
    os.environ.setdefault("HARVEST_ALLOW_HOSTS", "127.0.0.1")  # the agency sites and the portal are on loopback
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    portal, own_stack = None, None
    ok = True
    try:
        stack, own_stack = stack_info(args, work)
        tag = secrets.token_hex(3)  # dataset names of their own on a shared portal
        if args.mode == "unchanged":
            rows = unchanged(args, work, stack, tag)
        else:
            rows, ok = concurrency(args, work, stack, tag)
    finally:
        if own_stack:
            import services as devstack

            devstack.stop(own_stack)
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for row in rows:
        print(f"{row['measurement']} | {row['tool']}: {row['seconds']:.1f} s, {row['peak_mib']:.0f} MiB, "
              f"{row['ratio']}; {row['notes']}")
    print(json.dumps({"rows": [{k: v for k, v in r.items() if k != "detail"} for r in rows]}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
