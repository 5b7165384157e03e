"""What an unchanged source costs on its second run: a 20-file source on a loopback server, real local CKAN.

    .local/venv/bin/python bench/unchanged_reharvest.py [--files 20] [--rows 2000]

Starts the local services (as the tests do, in a temporary state folder, stopped
by PID at the end), serves N generated CSV files over HTTP on 127.0.0.1, and runs
the source with `harvest run`'s code twice (the first approved). Prints, per run:
requests to the agency server, bytes downloaded, portal API calls, bytes uploaded,
portal activities recorded, wall seconds, and the bytes of the records the DAG passes through XCom.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "include" / "devstack")]


def generate(site: Path, files: int, rows: int) -> list[str]:
    site.mkdir(parents=True)
    names = []
    for i in range(files):
        name = f"station_{i:02d}.csv"
        lines = ["วันที่,สถานี,PM2.5"] + [f"2025-01-{d % 28 + 1:02d},สถานี {i}-{d},{(d * 7 + i) % 150 + 0.5}"
                                          for d in range(rows)]
        (site / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        names.append(name)
    return names


def config(path: Path, source_id: str, base: str, names: list[str]) -> Path:
    import yaml

    pcd = REPO / "include" / "sources" / "pcd"
    folder = path / "pcd"
    folder.mkdir(parents=True)
    shutil.copy(pcd / "_agency.yaml", folder / "_agency.yaml")
    cfg = yaml.safe_load((pcd / "pm25-hourly.yaml").read_text(encoding="utf-8"))
    cfg.pop("validation")
    cfg.update(id=source_id, source={"kind": "http", "files": [f"{base}/{n}" for n in names]})
    out = folder / f"{source_id}.yaml"
    out.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rows", type=int, default=2000, help="rows per generated CSV")
    args = parser.parse_args()

    import ckanapi
    import services as devstack

    from harvesters import portal as portal_module
    from harvesters.config import load_source
    from harvesters.runner import run_source
    from harvesters.settings import PortalSettings, Settings
    from tests.loopback import serve_directory

    work = Path(tempfile.mkdtemp(prefix="bench-unchanged-"))
    state = Path(tempfile.mkdtemp(prefix="harvest-devstack-"))
    os.environ["HARVEST_STAGING_DIR"] = str(work / "staging")
    calls = {"n": 0}
    real_call = portal_module.Portal.call

    def counted(self, action, **kwargs):
        calls["n"] += 1
        return real_call(self, action, **kwargs)

    portal_module.Portal.call = counted
    try:
        svc = devstack.start(state, only=["ckan"])  # and what CKAN needs
        settings = PortalSettings(url=svc["ckan"]["url"], token=svc["ckan"]["token"])
        ckan = ckanapi.RemoteCKAN(settings.url, apikey=settings.token)
        names = generate(work / "site", args.files, args.rows)
        log: list[dict] = []
        source_id = f"bench-unchanged-{int(time.time())}"
        rows = []
        with serve_directory(work / "site", log=log) as base:
            loaded = load_source(config(work / "sources", source_id, base, names))
            for label, kwargs in (("first run", {"approved_by": "pcd-approver"}), ("second run, unchanged", {})):
                log.clear()
                calls["n"] = 0
                before = len(ckan.action.package_activity_list(id=source_id, limit=1000)) if rows else 0
                start = time.perf_counter()
                report = run_source(loaded, settings=Settings.from_env(), portal_settings=settings, **kwargs)
                seconds = time.perf_counter() - start
                after = len(ckan.action.package_activity_list(id=source_id, limit=1000))
                published = report.datasets[0].published or {}
                # What the DAG would carry through XCom: gather's list, each fetch's record, the plan, the result.
                xcom = sum(len(json.dumps(x, ensure_ascii=False).encode()) for x in
                           [report.gathered, *report.fetched, report.datasets[0].prepared, published])
                rows.append((label, len(log), sum(e["bytes"] for e in log), calls["n"],
                             published.get("uploaded_bytes", 0), after - before, seconds,
                             sum(f["status"] == "unchanged" for f in report.fetched), xcom))
    finally:
        portal_module.Portal.call = real_call
        devstack.stop(state)
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)

    print(f"{args.files}-file http source, {args.rows} rows per file, loopback server, local CKAN")
    head = ("run", "requests", "bytes down", "portal calls", "bytes up", "activities", "seconds", "unchanged files",
            "XCom bytes")
    print(" | ".join(head))
    for r in rows:
        print(" | ".join([r[0], str(r[1]), f"{r[2]:,}", str(r[3]), f"{r[4]:,}", str(r[5]), f"{r[6]:.1f}", str(r[7]),
                          f"{r[8]:,}"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
