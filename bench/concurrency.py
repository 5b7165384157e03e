"""Concurrency that respects agencies: many sources run by one Airflow scheduler, per-host pools checked.

Sets up, all on 127.0.0.1 and stopped by PID at the end:
- ``--hosts`` loopback HTTP servers standing in for agency web servers. Each answers every file
  after ``--delay`` seconds and records how many requests it was serving at once (robots.txt
  included), so the peak per host can be compared with the pool's slots.
- ``--sources`` http source configs (``--files`` files each, the demo PM2.5 CSV, with its
  validation suite) spread over the hosts, scheduled ``@once``, in a temporary sources folder.
- Airflow with the LocalExecutor and its own SQLite metadata DB: ``airflow api-server``,
  ``airflow scheduler --skip-serve-logs`` and ``airflow dag-processor`` with the project's
  ``dags/`` folder; the pools come from ``harvest sources pools`` + ``airflow pools import``.

Runs end at ``dataset.prepare``, which needs a portal and finds none here: the agency side
(gather, fetch, convert, validate) is what this measures; publish time is measured against
the real local CKAN elsewhere. Prints peak concurrent requests per host against the pool's
slots, peak memory (the largest single process below the scheduler, and all Airflow
processes together), task states and the total time.

    .local/venv/bin/python bench/concurrency.py --sources 20            # a few minutes: development
    .local/venv/bin/python bench/concurrency.py --sources 200 --files 3 # the issue's figure (long on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DEMO_CSV = REPO / "include" / "demo" / "site" / "pcd" / "pm25_hourly.csv"
TEMPLATE = REPO / "include" / "sources" / "pcd" / "pm25-hourly.yaml"
AGENCY_DEFAULTS = REPO / "include" / "sources" / "pcd" / "_agency.yaml"
TERMINAL = ("success", "failed")


class AgencyHost:
    """A loopback web server that counts the requests it is serving at once."""

    def __init__(self, delay: float):
        self.delay, self.active, self.peak, self.total = delay, 0, 0, 0
        self.lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                with host.lock:
                    host.active += 1
                    host.total += 1
                    host.peak = max(host.peak, host.active)
                try:
                    time.sleep(host.delay)
                    if self.path.endswith("/robots.txt"):
                        self.send_response(404)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    body = DEMO_CSV.read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/csv")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with host.lock:
                        host.active -= 1

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_sources(root: Path, hosts: list[AgencyHost], sources: int, files: int) -> None:
    template = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    defaults = AGENCY_DEFAULTS.read_text(encoding="utf-8")
    for h in range(len(hosts)):  # one agency per host
        (root / f"ag{h}").mkdir(parents=True)
        (root / f"ag{h}" / "_agency.yaml").write_text(defaults.replace("agency: pcd", f"agency: ag{h}"),
                                                      encoding="utf-8")
    for i in range(sources):
        h = i % len(hosts)
        cfg = dict(template, id=f"ag{h}-bench{i:04d}", schedule="@once", retries=0)
        cfg["source"] = {"kind": "http", "files": [
            {"url": f"{hosts[h].url}/s{i}/pm25_{j}.csv", "title": f"PM2.5 file {j}", "key": f"f{j}"}
            for j in range(files)]}
        (root / f"ag{h}" / f"bench{i:04d}.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True),
                                                            encoding="utf-8")


def wait_for_api(port: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(1)
    raise SystemExit("the Airflow API server did not come up")


def airflow_env(home: Path, sources: Path, port: int, parallelism: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HARVEST_PORTAL"))}
    env.update({
        "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(24),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "2",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        # SQLite and a busy 2-core machine: the Execution API can take seconds to answer a task's first call.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "HARVEST_SOURCES_DIR": str(sources),
        "HARVEST_STAGING_DIR": str(home / "staging"),
        "GX_ANALYTICS_ENABLED": "False",
    })
    return env


class Memory(threading.Thread):
    """Samples the RSS of every Airflow process twice a second."""

    def __init__(self, roots: list[int]):
        super().__init__(daemon=True)
        self.roots, self.stop = roots, threading.Event()
        self.peak_one, self.peak_one_cmd, self.peak_total = 0, "", 0

    def run(self):
        while not self.stop.is_set():
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
                            self.peak_one_cmd = " ".join(p.cmdline())[:80]
                        except psutil.NoSuchProcess:
                            pass
            self.peak_total = max(self.peak_total, total)
            self.stop.wait(0.5)


def db_counts(db: Path) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            runs = dict(con.execute("select state, count(*) from dag_run group by state").fetchall())
            tis = {(t, s or "none"): n for t, s, n in con.execute(
                "select task_id, state, count(*) from task_instance group by task_id, state").fetchall()}
        finally:
            con.close()
    except sqlite3.Error:
        return {}, {}
    return runs, tis


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", type=int, default=200)
    ap.add_argument("--files", type=int, default=3, help="files per source")
    ap.add_argument("--hosts", type=int, default=4, help="agency hosts (loopback servers)")
    ap.add_argument("--delay", type=float, default=0.5, help="seconds each request takes on the agency host")
    ap.add_argument("--parallelism", type=int, default=8, help="AIRFLOW__CORE__PARALLELISM")
    ap.add_argument("--timeout", type=float, default=3600, help="give up (and still report) after this many seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (Airflow home, logs)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="harvest-bench-concurrency-"))
    home, sources = work / "airflow", work / "sources"
    home.mkdir()
    hosts = [AgencyHost(args.delay) for _ in range(args.hosts)]
    write_sources(sources, hosts, args.sources, args.files)
    port = free_port()
    env = airflow_env(home, sources, port, args.parallelism)
    log = open(work / "airflow.log", "ab")
    procs: list[subprocess.Popen] = []
    memory = None
    t0 = time.monotonic()
    try:
        subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], env=env, check=True, stdout=log, stderr=log)
        pools = subprocess.run([str(VENV_BIN / "harvest"), "sources", "pools"], env=env, check=True,
                               capture_output=True, text=True).stdout
        (work / "pools.json").write_text(pools)
        subprocess.run([str(VENV_BIN / "airflow"), "pools", "import", str(work / "pools.json")], env=env, check=True,
                       stdout=log, stderr=log)
        slots = {name: p["slots"] for name, p in json.loads(pools).items()}
        for argv in (["api-server"], ["dag-processor"], ["scheduler", "--skip-serve-logs"]):
            procs.append(subprocess.Popen([str(VENV_BIN / "airflow"), *argv], env=env, stdout=log, stderr=log,
                                          start_new_session=True, cwd=str(home)))
            if argv == ["api-server"]:  # tasks call it from their first second: start the rest once it answers
                wait_for_api(port, procs[0])
        memory = Memory([p.pid for p in procs])
        memory.start()
        t_start = time.monotonic()
        db = home / "airflow.db"
        last = ""
        while time.monotonic() - t_start < args.timeout:
            time.sleep(5)
            runs, tis = db_counts(db)
            done = sum(runs.get(s, 0) for s in TERMINAL)
            line = f"[{time.monotonic() - t_start:6.0f} s] runs {dict(sorted(runs.items()))}, peaks " + \
                   ", ".join(f"{h.url.rsplit(':', 1)[1]}={h.peak}" for h in hosts)
            if line.split("]")[1] != last:
                print(line, flush=True)
                last = line.split("]")[1]
            if done >= args.sources:
                break
            if any(p.poll() is not None for p in procs):
                print("an Airflow process ended early; see", work / "airflow.log", file=sys.stderr)
                break
        elapsed = time.monotonic() - t_start
    finally:
        if memory:
            memory.stop.set()
        for p in procs:  # each started in its own session: end its whole group (workers included)
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        for h in hosts:
            h.server.shutdown()

    runs, tis = db_counts(home / "airflow.db")
    print(f"\n{args.sources} sources x {args.files} files on {args.hosts} agency hosts, {args.delay} s per request, "
          f"LocalExecutor parallelism {args.parallelism}")
    print(f"{'agency host':<28} {'pool':<28} {'slots':>5} {'peak concurrent':>16} {'requests':>9}  holds")
    ok = True
    for h in hosts:
        name = "host_" + h.url.split("//")[1].replace(".", "_").replace(":", "_")
        held = h.peak <= slots.get(name, 0)
        ok &= held
        print(f"{h.url:<28} {name:<28} {slots.get(name, 0):>5} {h.peak:>16} {h.total:>9}  {'yes' if held else 'NO'}")
    per_task: dict[str, dict[str, int]] = {}
    for (task, state), n in sorted(tis.items()):
        per_task.setdefault(task, {})[state] = n
    print("task instances:", json.dumps(per_task, sort_keys=True))
    print(f"runs: {dict(sorted(runs.items()))}")
    print(f"peak RSS: largest single process {memory.peak_one / 2**20:.0f} MB ({memory.peak_one_cmd}); "
          f"all Airflow processes together {memory.peak_total / 2**20:.0f} MB")
    print(f"time: {elapsed:.0f} s from scheduler start until every run ended"
          + ("" if sum(runs.get(s, 0) for s in TERMINAL) >= args.sources else " (TIMED OUT: not all runs ended)")
          + f"; {time.monotonic() - t0:.0f} s in all")
    if args.keep:
        print("kept:", work)
    else:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
