"""The benchmark: every measurement of issue 10 side by side, printed as one table.

    bench/run [--quick] [--reps N] [--only GROUP,...] [--services STATE_DIR] [--keep]

It generates its inputs into a temp dir (removed at the end; the large ones are kept in
``$HARVEST_LOCAL/bench-inputs`` and reused by later runs, as they are generated the same way
each time: ``--fresh-inputs`` makes them anew), starts the local portal
(CKAN and what it needs, include/devstack/services.py) unless ``--services`` names the
state dir of a running stack, and runs the measurements in rounds: each round runs
every measurement once, in a rotating order, so the repetitions of all tools are
interleaved and a busy spell of the machine hits them alike. Each measurement is
its own process started through bench/measure.py, whose ``RUSAGE_CHILDREN`` peak RSS
belongs to that process alone. The table shows medians over the rounds.

Groups (``--only``): convert, big, excel, parse, publish, reharvest, sched, and
concurrency (not in the default run: 200 sources through one scheduler take longer than the
rest together). A measurement that overruns its time cap is reported as "> cap" and not
repeated; the slowest ones run fewer rounds than the rest (``rounds``: the table's notes say so).
``sched`` and ``concurrency`` run bench/scheduler.py (real Airflow components; it runs its own
cycles, so it is one round here) and report several rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import inputs
from loopback import AgencySite, CountingProxy

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PY = sys.executable
HARVEST = str(Path(sys.executable).with_name("harvest"))
MB = 1_000_000
GROUPS = ("convert", "big", "excel", "parse", "publish", "reharvest", "sched", "concurrency")
DEFAULT_GROUPS = GROUPS[:-1]

FULL = {"csv": 300 * MB, "big": 1024 * MB, "xlsx": 50 * MB, "xls": 20 * MB, "html": 50 * MB, "files": 20, "file": 1 * MB,
        "parse": (1_000, 10_000), "publish": (1 * MB, 100 * MB), "reps": 3, "cap": 150,
        # 1 and 20 sources keep the default run under 10 minutes; --sched-sources 1,100 gives the figure.
        "sched": ["--sources", "1,20", "--reps", "3", "--big-reps", "1"],
        "concurrency": ["--sources", "200", "--files", "2", "--file-bytes", "20000", "--hosts", "4", "--delay", "0.3"],
        # The slowest measurements run this many rounds (the rest run "reps"); the notes say so.
        "slow_rounds": 1}
QUICK = {"csv": 3 * MB, "big": 6 * MB, "xlsx": MB // 2, "xls": MB // 4, "html": MB // 2, "files": 20, "file": 20_000,
         "parse": (20,), "publish": (MB // 10, 1 * MB), "reps": 1, "cap": 180,
         "sched": ["--sources", "1", "--reps", "1"],
         "concurrency": ["--sources", "8", "--files", "2", "--file-bytes", "20000", "--hosts", "2", "--delay", "0.3"],
         "slow_rounds": 1}


@dataclass
class Job:
    group: str
    measurement: str  # the table's first column
    tool: str
    argv: list[str]
    env: dict = field(default_factory=dict)
    size: float | None = None  # input bytes, for MB/s
    before: object = None  # callable run before each repetition
    after: object = None  # callable(result) run after each repetition (counters, cleanup)
    results: list[dict] = field(default_factory=list)
    timed_out: bool = False
    cap_scale: float = 1.0  # the 1 GB file gets a cap in proportion to its size
    requires: "Job | None" = None  # runs only when this job's run of the same round succeeded
    rounds: int | None = None  # fewer rounds than the others (the slowest measurements)


def measure(job: Job, cap: float) -> dict:
    if job.before:
        job.before()
    proc = subprocess.run([PY, str(BENCH / "measure.py"), "--timeout", str(cap), "--", *job.argv],
                          capture_output=True, text=True, env={**os.environ, **job.env}, cwd=REPO)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if job.after:
        job.after(result)
    return result


class Bench:
    def __init__(self, args):
        self.sizes = dict(QUICK if args.quick else FULL)
        self.reps = args.reps or self.sizes["reps"]
        self.cap = args.cap or self.sizes["cap"]
        self.groups = [g for g in GROUPS if g in args.only.split(",")] if args.only else list(DEFAULT_GROUPS)
        if args.sched_sources:
            self.sizes["sched"] = [*self.sizes["sched"], "--sources", args.sched_sources]
        self.work = Path(tempfile.mkdtemp(prefix="harvest-bench-"))
        # Large inputs are kept across runs (minutes to generate; the same bytes every time), keyed by the
        # generators' source so a change to them makes new ones. --quick keeps everything in the temp dir.
        local = Path(os.environ.get("HARVEST_LOCAL") or REPO / ".local")
        self.inputs_dir = None if args.quick else local / "bench-inputs"
        self.fresh_inputs = args.fresh_inputs
        self.work.chmod(0o755)  # the local PostgreSQL runs as its own OS user and must reach the stack's folder
        self.services_dir = args.services
        self.own_stack: Path | None = None
        self.site: AgencySite | None = None
        self.proxy: CountingProxy | None = None
        self.jobs: list[Job] = []
        self.notes: list[str] = []
        self.env = {"HARVEST_STAGING_DIR": str(self.work / "staging"), "GX_ANALYTICS_ENABLED": "False",
                    "HARVEST_DEBUG": "1",
                    # The bench's agency site and portal are on loopback: allowed by deployment setting.
                    "HARVEST_ALLOW_HOSTS": "127.0.0.1"}

    # ------------------------------------------------------------------ inputs and jobs

    def out_dir(self, name: str) -> Path:
        path = self.work / "out" / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def convert_jobs(self, src: Path, group: str, label: str, peers: bool) -> None:
        size = src.stat().st_size
        scale = max(1.0, size / self.sizes["csv"])
        harvest_out = self.work / "out" / f"harvest-{group}"

        def fresh(path: Path):
            return lambda: (shutil.rmtree(path, ignore_errors=True), path.mkdir(parents=True))

        rounds = self.sizes["slow_rounds"] if group == "big" else None  # the 1 GB file: its peak is the figure
        convert = Job(group, label, "harvest convert", [HARVEST, "convert", str(src), "--out", str(harvest_out)],
                      self.env, size, before=fresh(harvest_out), cap_scale=scale, rounds=rounds)
        suite = BENCH / "rain_suite.json"
        self.jobs += [convert, Job(group, f"validate the {label[8:]} output", "harvest (GX suite as DuckDB SQL)",
                                   [PY, str(BENCH / "tools.py"), "validate", str(harvest_out / f"{src.stem}.parquet"),
                                    str(suite), str(harvest_out)], self.env, size, cap_scale=scale, requires=convert,
                                   rounds=rounds)]
        if peers:
            for tool, name in (("pyarrow", "pyarrow alone (no cleaning)"), ("polars", "Polars, hand-written cleaning"),
                               ("duckdb", "DuckDB cleaning, iconv pipe")):
                out = self.work / "out" / tool
                self.jobs.append(Job(group, label, name, [PY, str(BENCH / "tools.py"), tool, str(src), str(out)],
                                     self.env, size, before=fresh(out), after=lambda r, o=out: shutil.rmtree(o)))

    def excel_jobs(self, src: Path, label: str) -> None:
        size = src.stat().st_size
        out = self.work / "out" / f"excel-{src.suffix}"
        rounds = self.sizes["slow_rounds"] if src.suffix == ".xlsx" else None  # minutes a round at 50 MB
        self.jobs.append(Job("excel", label, "harvest convert", [HARVEST, "convert", str(src), "--out", str(out)],
                             self.env, size, after=lambda r: shutil.rmtree(out, ignore_errors=True), rounds=rounds))
        for tool, name in (("pandas-excel", "pandas.read_excel (read only)"), ("calamine", "python-calamine (read only)")):
            # pandas needs minutes for the 50 MB XLSX: a shorter cap ("> N s") says enough about it.
            scale = 0.4 if tool == "pandas-excel" and rounds else 1.0
            self.jobs.append(Job("excel", label, name, [PY, str(BENCH / "tools.py"), tool, str(src)], self.env, size,
                                 rounds=rounds, cap_scale=scale))

    def html_job(self, src: Path, label: str) -> None:
        """One big table on one page: harvest convert only (no peer reads HTML tables in bounded memory)."""
        out = self.work / "out" / "excel-html"
        # ~20 s a round at 50 MB: one round, as the XLSX (keeps the whole run under 10 minutes).
        self.jobs.append(Job("excel", label, "harvest convert", [HARVEST, "convert", str(src), "--out", str(out)],
                             self.env, src.stat().st_size, after=lambda r: shutil.rmtree(out, ignore_errors=True),
                             rounds=self.sizes["slow_rounds"]))

    def parse_jobs(self, count: int) -> None:
        sources = inputs.sources_for_parsing(self.work / f"sources-{count}", count)
        home = self.work / "airflow"
        home.mkdir(exist_ok=True)
        env = {**self.env, "HARVEST_SOURCES_DIR": str(sources), "AIRFLOW_HOME": str(home),
               "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
               "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
               "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"}
        argv = [PY, str(BENCH / "tools.py"), "dagbag", str(REPO / "dags")]
        label = f"DAG parse, {count:,} configs"
        slow = self.sizes["slow_rounds"] if count >= 10_000 else None  # ~1 min a round
        self.jobs.append(Job("parse", label, "whole dags/ folder (DagBag)", argv, env, count, rounds=slow))
        one = f"bench-{count // 2:05d}"
        self.jobs.append(Job("parse", label, "task start on a worker (parsing context)", argv,
                             {**env, "_AIRFLOW_PARSING_CONTEXT_DAG_ID": one}, count))

    def input_file(self, name: str, make) -> Path:
        """``make(path)`` writes the input; kept in the inputs cache when there is one."""
        if self.inputs_dir is None:
            return make(self.work / "data" / name)
        stem, dot, suffix = name.partition(".")
        version = hashlib.sha256(b"".join((BENCH / f).read_bytes() for f in ("inputs.py", "generate_large_csv.py")))
        path = self.inputs_dir / f"{stem}-{version.hexdigest()[:10]}{dot}{suffix}"
        if self.fresh_inputs or not path.exists():
            self.inputs_dir.mkdir(parents=True, exist_ok=True)
            for old in self.inputs_dir.glob(f"{stem}-*{dot}{suffix}"):  # an older generator's file
                old.unlink()
            started = time.perf_counter()
            part = make(path.with_name(f"{path.stem}.part{dot}{suffix}"))  # the suffix stays: writers check it
            part.rename(path)
            self.notes.append(f"generated {name} in {time.perf_counter() - started:.0f} s")
        return path

    def build(self) -> None:
        s = self.sizes
        data = self.work / "data"
        data.mkdir()
        if "convert" in self.groups:
            src = self.input_file(f"thai_cp874_{s['csv']}.csv", lambda p: inputs.csv_file(p, s["csv"]))
            self.convert_jobs(src, "convert", f"convert {s['csv'] / MB:,.0f} MB cp874 CSV", peers=True)
        if "big" in self.groups:
            src = self.input_file(f"thai_cp874_big_{s['big']}.csv", lambda p: inputs.csv_file(p, s["big"], seed=2))
            self.convert_jobs(src, "big", f"convert {s['big'] / MB:,.0f} MB cp874 CSV", peers=False)
        if "excel" in self.groups:
            for path in (self.input_file(f"thai_{s['xlsx']}.xlsx", lambda p: inputs.xlsx_file(p, s["xlsx"])),
                         self.input_file(f"thai_{s['xls']}.xls", lambda p: inputs.xls_file(p, s["xls"]))):
                self.excel_jobs(path, f"read/convert {path.stat().st_size / MB:.1f} MB {path.suffix[1:].upper()}")
            page = self.input_file(f"thai_{s['html']}.html", lambda p: inputs.html_file(p, s["html"]))
            self.html_job(page, f"read/convert {page.stat().st_size / MB:.1f} MB HTML")
        if "parse" in self.groups:
            for count in s["parse"]:
                self.parse_jobs(count)
        if {"publish", "reharvest", "sched", "concurrency"} & set(self.groups):
            self.start_stack()
        if "publish" in self.groups:
            for size in s["publish"]:
                self.publish_job(size)
        if "reharvest" in self.groups:
            self.reharvest_jobs()
        for group in ("sched", "concurrency"):
            if group in self.groups:
                self.scheduler_job(group)

    # ------------------------------------------------------------------ the portal

    def start_stack(self) -> None:
        sys.path.insert(0, str(REPO / "include" / "devstack"))
        import services as devstack

        if self.services_dir:
            info = json.loads((Path(self.services_dir) / "services.json").read_text())
        else:
            self.own_stack = self.work / "devstack"
            print("starting the local portal (CKAN) ...", file=sys.stderr)
            info = devstack.start(self.own_stack, only=["ckan"])
        self.stack_dir = Path(self.services_dir) if self.services_dir else self.own_stack
        ckan = info["ckan"]
        site_dir = self.work / "site"
        site_dir.mkdir()
        self.site = AgencySite(site_dir)
        host, port = ckan["url"].split("//")[1].split(":")
        self.proxy = CountingProxy((host, int(port.rstrip("/"))))
        self.portal_env = {**self.env, "HARVEST_PORTAL_TOKEN": ckan["token"],
                           "HARVEST_SOURCES_DIR": str(self.work / "portal-sources")}
        self.direct_url = ckan["url"]

    def publish_job(self, size: int) -> None:
        name = f"publish{size // 1000}k.csv"
        inputs.csv_file(self.work / "site" / name, size, seed=5)
        state = {"n": 0}
        tag = secrets.token_hex(3)
        label = f"publish one dataset, {size / MB:g} MB CSV"

        def before():
            state["n"] += 1
            path = inputs.portal_source(self.work / "portal-sources", f"bench-publish-{tag}-{size // 1000}k-{state['n']}",
                                        [f"{self.site.url}/{name}"])
            job.argv[-2] = str(path)

        job = Job("publish", label, "prepare + publish (new dataset)",
                  [PY, str(BENCH / "tools.py"), "publish", "", "pcd-approver"],
                  {**self.portal_env, "HARVEST_PORTAL_URL": self.direct_url}, size, before=before)
        self.jobs.append(job)

    def reharvest_jobs(self) -> None:
        count, size = self.sizes["files"], self.sizes["file"]
        names = [f"f{i:02d}.csv" for i in range(1, count + 1)]
        for i, name in enumerate(names):
            inputs.csv_file(self.work / "site" / name, size, seed=10 + i)
        self.site.age()
        source_id = f"bench-reharvest-{secrets.token_hex(3)}"
        inputs.portal_source(self.work / "portal-sources", source_id, [f"{self.site.url}/{n}" for n in names])
        env = {**self.portal_env, "HARVEST_PORTAL_URL": self.proxy.url}
        label = f"harvest run, {count}-file source ({count * size / MB:g} MB)"

        activities = {"before": 0}

        def before():
            self.site.reset()
            self.proxy.reset()
            activities["before"] = self.activity_count(source_id)

        def after(result):
            result["counters"] = {"agency requests": self.site.requests, "bytes down": self.site.bytes_down,
                                  "portal requests": self.proxy.requests, "bytes up": self.proxy.bytes_up,
                                  # what the portal's users see as "changed": an unchanged run must add none
                                  "portal activities": self.activity_count(source_id) - activities["before"]}

        first = Job("reharvest", label, "first run (new dataset)", [HARVEST, "run", source_id, "--approved-by",
                                                                     "pcd-approver"], env, None, before, after)
        first.results.append(measure(first, self.cap))  # once: later rounds find the dataset published
        self.jobs.append(first)
        self.jobs.append(Job("reharvest", label, "unchanged re-run", [HARVEST, "run", source_id], env, None, before, after))

    def scheduler_job(self, group: str) -> None:
        """bench/scheduler.py: its own cycles, so one round here; its rows go into the table."""
        mode = "unchanged" if group == "sched" else "concurrency"
        label = "unchanged sources through the scheduler" if group == "sched" else "sources through one scheduler"
        self.jobs.append(Job(group, label, "bench/scheduler.py",
                             [PY, str(BENCH / "scheduler.py"), mode, *self.sizes[group], "--services",
                              str(self.stack_dir)], {**self.env, "HARVEST_STAGING_DIR": str(self.work / group)},
                             rounds=1, cap_scale=12))

    def activity_count(self, dataset: str) -> int:
        """Activities the portal recorded on the dataset (0 before it exists)."""
        import requests

        r = requests.get(f"{self.direct_url.rstrip('/')}/api/3/action/package_activity_list",
                         params={"id": dataset, "limit": 1000}, headers={"Authorization": self.portal_env[
                             "HARVEST_PORTAL_TOKEN"]}, timeout=60)
        return len(r.json()["result"]) if r.status_code == 200 else 0

    # ------------------------------------------------------------------ running

    def run(self) -> None:
        start = time.perf_counter()
        repeated = [j for j in self.jobs if not j.results]
        for rnd in range(self.reps):
            # Rotate the order within each group, keeping each convert job before its validation.
            for job in _rotated(repeated, rnd):
                if job.timed_out or (job.rounds and len(job.results) >= job.rounds) or (
                        job.requires and (len(job.requires.results) <= rnd or job.requires.results[rnd]["rc"] != 0)):
                    continue
                result = measure(job, self.cap * job.cap_scale)
                job.results.append(result)
                job.timed_out = result["rc"] == "timeout"
                status = "timeout" if job.timed_out else ("FAILED: " + str(result["error"]) if result["rc"] else "")
                print(f"  round {rnd + 1}/{self.reps} {job.measurement} / {job.tool}: {result['seconds']:.2f} s, "
                      f"{result['peak_mib']:.0f} MiB {status}", file=sys.stderr)
        self.elapsed = time.perf_counter() - start

    def close(self) -> None:
        for server in (self.site, self.proxy):
            if server:
                server.stop()
        if self.own_stack:
            sys.path.insert(0, str(REPO / "include" / "devstack"))
            import services as devstack

            devstack.stop(self.own_stack)
        shutil.rmtree(self.work, ignore_errors=True)

    # ------------------------------------------------------------------ the table

    def table(self) -> str:
        rows = []
        by_key = {(j.measurement, j.tool): j for j in self.jobs}
        for job in self.jobs:
            ok = [r for r in job.results if r["rc"] == 0]
            seconds = _median([r["seconds"] for r in ok])
            peak = _median([r["peak_mib"] for r in ok])
            out = [r["out"] or {} for r in ok]
            notes, ratio, rate = [], "", ""
            if job.group in ("sched", "concurrency"):
                rows += self.scheduler_rows(job)
                continue
            if job.timed_out:
                notes.append(f"> {self.cap * job.cap_scale:.0f} s cap, not repeated")
            elif job.rounds and job.rounds < self.reps and ok:
                notes.append(f"{len(ok)} round(s) only (slow)")
            if len(ok) < len(job.results) and not job.timed_out:
                notes.append(f"{len(job.results) - len(ok)} run(s) failed: {job.results[-1]['error']}")
            figure = seconds
            if job.group in ("convert", "big", "excel") and seconds and job.size:
                rate = f"{job.size / MB / seconds:.1f}"
                if job.tool.startswith("harvest (GX"):
                    convert = by_key.get((job.measurement.replace("validate the ", "convert ").replace(" output", ""),
                                          "harvest convert"))
                    base = convert and _median([r["seconds"] for r in convert.results if r["rc"] == 0])
                    ratio = f"{seconds / base:.2f}× convert" if base else ""
                    rate = ""
                    imports = _median([o.get("import_s", 0) for o in out])
                    gx = "GX imported" if any(o.get("gx_imported") for o in out) else "no GX import"
                    notes.append(f"imports {imports:.1f} s, {gx}; {out[0].get('evaluated')} expectations" if out else "")
                else:
                    base_job = by_key.get((job.measurement, "harvest convert"))
                    base = base_job and _median([r["seconds"] for r in base_job.results if r["rc"] == 0])
                    ratio = f"{seconds / base:.2f}× harvest" if base else ""
            if job.group == "parse" and out:
                figure = _median([o["parse_s"] for o in out])
                timeouts = sum(1 for o in out if o["import_errors"])
                if "DagBag" in job.tool and not timeouts:
                    ratio = f"{figure / job.size * 1000:.2f} s per 1,000 configs"
                errors = [o["first_error"] for o in out if o["first_error"]]
                notes.append("DAGs per run " + ", ".join(str(o["dags"]) for o in out)
                             + (f"; {timeouts} run(s) with import errors ({errors[0]})" if timeouts else "")
                             + f"; Airflow import {_median([o['airflow_import_s'] for o in out]):.1f} s")
            if job.group == "publish" and out:
                figure = _median([o["publish_s"] for o in out])
                notes.append(f"{_median([o['bytes'] for o in out]) / MB:.1f} MB uploaded (CSV + Parquet); process "
                             f"{seconds:.1f} s incl. convert")
            if job.group == "reharvest":
                counters = [r.get("counters", {}) for r in ok]
                if counters:
                    notes.append(", ".join(f"{k} {_median([c[k] for c in counters]):,.0f}" for k in counters[0]))
            rows.append([job.measurement, job.tool, _fmt(figure), rate, f"{peak:.0f}" if peak else "", ratio,
                         "; ".join(n for n in notes if n)])
        head = ["measurement", "tool", "median s", "MB/s", "peak RSS MiB", "ratio", "notes"]
        lines = [_row(head), _row(["---"] * len(head))] + [_row(r) for r in rows]
        return "\n".join(lines)


    def scheduler_rows(self, job: Job) -> list[list]:
        """bench/scheduler.py's own rows; its peak RSS is all Airflow processes together (notes: the largest)."""
        result = job.results[0] if job.results else None
        if not result or not (result["out"] or {}).get("rows"):
            why = "timeout" if result and result["rc"] == "timeout" else (result or {}).get("error")
            return [[job.measurement, job.tool, "", "", "", "", f"failed: {why}"]]
        # A non-zero exit with rows: a pool did not hold (its row says where).
        return [[r["measurement"], r["tool"], _fmt(r["seconds"]), "", f"{r['peak_mib']:.0f} (all processes)" if r["peak_mib"] else "",
                 r["ratio"], r["notes"]] for r in result["out"]["rows"]]


def _rotated(jobs: list[Job], rnd: int) -> list[Job]:
    """Each group's jobs in an order rotated by the round; a validation stays after its conversion."""
    out = []
    for group in GROUPS:
        members = [j for j in jobs if j.group == group]
        units, i = [], 0
        while i < len(members):  # a conversion and the validation after it move together
            step = 2 if members[i].tool == "harvest convert" and i + 1 < len(members) \
                and members[i + 1].tool.startswith("harvest (GX") else 1
            units.append(members[i:i + step])
            i += step
        if units:
            k = rnd % len(units)
            out += [j for unit in units[k:] + units[:k] for j in unit]
    return out


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(value) -> str:
    return "" if value is None else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, one round: a smoke run (figures meaningless)")
    parser.add_argument("--reps", type=int, help="rounds (default 3; --quick 1)")
    parser.add_argument("--only", help="comma-separated groups: " + ",".join(GROUPS))
    parser.add_argument("--cap", type=float, help="seconds one measurement may take (default 150; the 1 GB "
                        "conversion gets it in proportion to its size)")
    parser.add_argument("--services", help="state dir of a running local stack (default: start one, stop it after)")
    parser.add_argument("--sched-sources", help="sched: comma-separated source counts (default 1,20; the issue's "
                        "figure: 1,100, about 10 minutes more on 2 cores)")
    parser.add_argument("--fresh-inputs", action="store_true", help="generate the large inputs anew, not from "
                        "$HARVEST_LOCAL/bench-inputs")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    bench = Bench(args)
    try:
        print(f"generating inputs in {bench.work} ...", file=sys.stderr)
        bench.build()
        bench.run()
        mode = "quick smoke run, figures meaningless" if args.quick else "full"
        print(f"\nharvest bench ({mode}): median of {bench.reps} interleaved round(s), each measurement its own "
              f"process; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; "
              f"measuring took {bench.elapsed:.0f} s, {time.perf_counter() - started:.0f} s in all"
              + (f" ({'; '.join(bench.notes)})" if bench.notes else "") + "\n")
        print(bench.table())
    finally:
        bench.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
