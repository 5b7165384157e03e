"""Team policy as tests: every source config renders a DAG that loads, with tags and retries.

A broken config must fail loudly for that source only (a placeholder DAG that
names the file and its problem), never hide the other sources' DAGs.
"""

import shutil
import subprocess
import sys
import textwrap


from harvesters.config import discover
from harvesters.settings import REPO_ROOT

DAGS = REPO_ROOT / "dags"
SOURCES = REPO_ROOT / "include" / "sources"


def load_dagbag(monkeypatch, sources_dir):
    monkeypatch.setenv("HARVEST_SOURCES_DIR", str(sources_dir))
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_every_source_renders_a_dag_with_policy(monkeypatch):
    bag = load_dagbag(monkeypatch, SOURCES)
    assert bag.import_errors == {}
    ids = {p.stem for p in discover(SOURCES)}
    assert len(bag.dags) == len(ids) == 10  # 3 http sources + one demo source per other kind
    for dag in bag.dags.values():
        assert "harvest" in dag.tags and any(t.startswith("agency:") for t in dag.tags), dag.dag_id
        assert dag.default_args["retries"] >= 2, dag.dag_id
        assert dag.doc_md and "harvest run" in dag.doc_md
        assert dag.max_active_runs == 1
        tasks = {t.task_id: t for t in dag.tasks}
        assert set(tasks) == {"gather", "missing", "file.fetch", "file.convert", "file.validate", "datasets",
                              "dataset.prepare", "dataset.approve", "dataset.publish", "assets", "report"}
        # Files the source stopped offering are counted right after a gather that succeeded (and only then).
        assert tasks["missing"].upstream_task_ids == {"gather"} and tasks["missing"].trigger_rule == "all_success"
        assert dag.params["force"] is False  # `force`: re-harvest everything on demand
        # Files fan out in a mapped task group (a failed file stops only its own tasks), and so do the
        # portal datasets the source feeds.
        for group_id in ("file", "dataset"):
            assert type(dag.task_group_dict[group_id]).__name__ == "MappedTaskGroup"
        assert tasks["file.convert"].upstream_task_ids == {"file.fetch"}
        assert tasks["file.validate"].upstream_task_ids == {"file.convert"}
        assert tasks["datasets"].upstream_task_ids == {"gather"}
        # prepare waits for every file, even failed ones (a failure holds back its own dataset only)…
        assert tasks["dataset.prepare"].upstream_task_ids == {"file.validate", "datasets"}
        assert tasks["dataset.prepare"].trigger_rule == "all_done"
        # …then (approve →) publish; publish also runs when the approval skips itself.
        assert tasks["dataset.approve"].upstream_task_ids == {"dataset.prepare"}
        assert {"dataset.approve", "dataset.prepare"} <= tasks["dataset.publish"].upstream_task_ids
        assert tasks["dataset.publish"].trigger_rule == "none_failed"
        # Last, whatever failed before: asset events for changed datasets, then the run report.
        assert tasks["assets"].upstream_task_ids == {"dataset.publish"} and tasks["assets"].trigger_rule == "all_done"
        assert [a.name for a in tasks["assets"].outlets] == [f"harvest:{dag.dag_id}"]
        assert tasks["report"].upstream_task_ids == {"assets"} and tasks["report"].trigger_rule == "all_done"
        assert not tasks["report"].downstream_task_ids
        # The approval is addressed to the agency's approver.
        approve = tasks["dataset.approve"]
        assert approve.assigned_users == [{"id": f"{dag.dag_id.split('-')[0]}-approver",
                                           "name": approve.assigned_users[0]["name"]}]
    # The docs name the portal dataset, or say the source feeds several.
    assert "| Portal dataset | `pcd-pm25-hourly` |" in bag.dags["pcd-pm25-hourly"].doc_md
    assert "| Portal dataset | several: one per file or remote dataset" in bag.dags["gistda-catalog"].doc_md


def test_broken_config_shows_as_its_own_failing_dag(monkeypatch, tmp_path):
    sources = tmp_path / "sources"
    shutil.copytree(SOURCES, sources)
    broken = sources / "pcd" / "pm25-hourly.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("geo_coverage: province", "geo_coverage: mars"),
                      encoding="utf-8")
    bag = load_dagbag(monkeypatch, sources)
    assert bag.import_errors == {}
    assert {"gistda-hotspots", "ddc-respiratory-patients"} <= set(bag.dag_ids)
    placeholder = bag.dags.get("invalid__pcd__pm25-hourly")
    assert placeholder is not None, bag.dag_ids
    assert "config-error" in placeholder.tags
    assert "pm25-hourly.yaml" in placeholder.doc_md and "geo_coverage" in placeholder.doc_md
    assert "mars" in placeholder.description or "geo_coverage" in placeholder.description


def test_dag_file_parses_without_heavy_imports():
    """Parsing must not import pandas, pyarrow, GX or ckanapi (seconds per parse, on every scheduler loop)."""
    code = textwrap.dedent(f"""
        import runpy, sys
        runpy.run_path({str(DAGS / 'harvest_sources.py')!r})
        heavy = [m for m in ('pandas', 'pyarrow', 'great_expectations', 'ckanapi', 'requests_toolbelt', 'openpyxl')
                 if m in sys.modules]
        print('heavy=' + ','.join(heavy))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "heavy=", f"heavy modules imported at parse time: {out.stdout}"
