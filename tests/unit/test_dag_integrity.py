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
        # ...which every task reads at run time (the factory adds the param after building the tasks).
        from airflow.sdk.definitions.param import process_params

        for conf, force in ((None, False), ({"force": True}, True)):  # (the second sets the Param: Airflow's way)
            assert process_params(dag, tasks["file.fetch"], conf, suppress_exception=False)["force"] is force
        # A task's record is one XCom: none pushes its dict key by key besides (multiple_outputs).
        assert not [t.task_id for t in dag.tasks if getattr(t, "multiple_outputs", False)]
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
    """Parsing must not import pandas, pyarrow, GX, ckanapi or even requests (every task start pays it again)."""
    code = textwrap.dedent(f"""
        import runpy, sys
        runpy.run_path({str(DAGS / 'harvest_sources_00.py')!r})
        heavy = [m for m in ('pandas', 'pyarrow', 'great_expectations', 'ckanapi', 'requests_toolbelt', 'openpyxl',
                             'requests') if m in sys.modules]
        print('heavy=' + ','.join(heavy))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "heavy=", f"heavy modules imported at parse time: {out.stdout}"


# -- Parsing at scale (harvesters/source_index.py): shards, a content-keyed cache, an index for workers --------

def _many_sources(root, n=300, agencies=6):
    """n copies of a demo http config with their own ids, spread over a few agencies (and so over every shard)."""
    template = (SOURCES / "pcd" / "pm25-hourly.yaml").read_text(encoding="utf-8")
    defaults = (SOURCES / "pcd" / "_agency.yaml").read_text(encoding="utf-8")
    for a in range(agencies):
        (root / f"ag{a}").mkdir(parents=True)
        (root / f"ag{a}" / "_agency.yaml").write_text(defaults.replace("agency: pcd", f"agency: ag{a}"), encoding="utf-8")
    for i in range(n):
        (root / f"ag{i % agencies}" / f"src{i:03d}.yaml").write_text(
            template.replace("id: pcd-pm25-hourly", f"id: ag{i % agencies}-src{i:03d}"), encoding="utf-8")
    return root


def _worker_parse(sources_dir, index_dir, dag_id):
    """Parse the DAG folder as a task start does (parsing context set), in a fresh process; returns the DAG ids
    built and every file under ``sources_dir`` that was opened (an audit hook sees every open())."""
    code = textwrap.dedent(f"""
        import json, sys
        opened = set()
        sys.addaudithook(lambda event, args: event == "open" and isinstance(args[0], str)
                         and args[0].startswith({str(sources_dir)!r}) and opened.add(args[0]))
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(DAGS)!r})
        print(json.dumps({{"dags": sorted(bag.dag_ids), "errors": list(bag.import_errors), "opened": sorted(opened)}}))
    """)
    import json
    import os

    env = {**os.environ, "HARVEST_SOURCES_DIR": str(sources_dir), "HARVEST_INDEX_DIR": str(index_dir),
           "_AIRFLOW_PARSING_CONTEXT_DAG_ID": dag_id}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_many_sources_parse_into_shards_and_a_task_start_reads_only_its_own_config(monkeypatch, tmp_path):
    sources = _many_sources(tmp_path / "sources")
    broken = sources / "ag2" / "src014.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("geo_coverage: province", "geo_coverage: mars"),
                      encoding="utf-8")
    monkeypatch.setenv("HARVEST_INDEX_DIR", str(tmp_path / "index"))
    bag = load_dagbag(monkeypatch, sources)
    assert bag.import_errors == {}
    assert len(bag.dags) == 300 and "invalid__ag2__src014" in bag.dags and "ag2-src014" not in bag.dags
    per_file = [s.dag_num for s in bag.dagbag_stats]
    assert len(per_file) >= 8 and max(per_file) < 100, per_file  # spread over the shard files, none holds most

    # A task start: only its own config and its agency's defaults are read, whatever the number of sources.
    seen = _worker_parse(sources, tmp_path / "index", "ag3-src123")
    assert seen["errors"] == [] and seen["dags"] == ["ag3-src123"]
    assert seen["opened"] == [str(sources / "ag3" / "_agency.yaml"), str(sources / "ag3" / "src123.yaml")]
    # The broken config's placeholder DAG too.
    seen = _worker_parse(sources, tmp_path / "index", "invalid__ag2__src014")
    assert seen["dags"] == ["invalid__ag2__src014"]
    assert seen["opened"] == [str(sources / "ag2" / "_agency.yaml"), str(broken)]


def test_a_shard_builds_its_dags_with_the_cyclic_gc_paused(monkeypatch, tmp_path):
    """The collector would walk every object built so far again and again (a third of a 3,000-config parse,
    a third again at 10,000): paused while a shard builds, its survivors frozen out of later passes."""
    import gc

    monkeypatch.syspath_prepend(str(DAGS))
    import harvest_sources

    states = []
    monkeypatch.setattr(harvest_sources, "render", lambda shard, wanted: states.append(gc.isenabled()) or {})
    monkeypatch.setenv("HARVEST_SOURCES_DIR", str(_many_sources(tmp_path / "sources", n=2, agencies=1)))
    frozen = gc.get_freeze_count()
    try:
        harvest_sources.render_shard(str(DAGS / "harvest_sources_00.py"), {})
        assert states == [False] and gc.isenabled()
        assert gc.get_freeze_count() > frozen  # what the build left standing is out of later collections
    finally:
        gc.unfreeze()


def test_parse_cache_never_shows_a_stale_dag(monkeypatch, tmp_path):
    sources = _many_sources(tmp_path / "sources", n=40, agencies=2)
    monkeypatch.setenv("HARVEST_INDEX_DIR", str(tmp_path / "index"))
    assert load_dagbag(monkeypatch, sources).dags["ag1-src001"].description.startswith("ค่าฝุ่น")
    assert any((tmp_path / "index").rglob("*.yaml.json"))  # the cache is in use from here on

    edited = sources / "ag1" / "src001.yaml"
    text = edited.read_text(encoding="utf-8").replace("  title: ค่าฝุ่นละออง", "  title: แก้แล้ว ค่าฝุ่นละออง")
    edited.write_text(text, encoding="utf-8")
    (sources / "ag0" / "src002.yaml").unlink()
    defaults = sources / "ag0" / "_agency.yaml"  # agency defaults are part of every source's config
    defaults.write_text(defaults.read_text(encoding="utf-8").replace("owner: pcd-open-data", "owner: ag0-team"),
                        encoding="utf-8")
    bag = load_dagbag(monkeypatch, sources)
    assert bag.import_errors == {}
    assert bag.dags["ag1-src001"].description.startswith("แก้แล้ว")
    assert "ag0-src002" not in bag.dags and len(bag.dags) == 39
    assert bag.dags["ag0-src000"].owner == "ag0-team"


def test_an_id_used_twice_across_shard_files_shows_as_an_error_for_the_later_file(monkeypatch, tmp_path):
    from harvesters.source_index import shard_of

    sources = _many_sources(tmp_path / "sources", n=40, agencies=2)
    monkeypatch.setenv("HARVEST_INDEX_DIR", str(tmp_path / "index"))
    load_dagbag(monkeypatch, sources)  # every shard publishes its ids
    shards = len(list(DAGS.glob("harvest_sources_[0-9]*.py")))
    first = "ag0/src000.yaml"
    later = next(f"ag1/src{i:03d}.yaml" for i in range(1, 40, 2)
                 if shard_of(f"ag1/src{i:03d}.yaml", shards) != shard_of(first, shards))
    path = sources / later
    path.write_text(path.read_text(encoding="utf-8").replace(f"id: ag1-{path.stem}", "id: ag0-src000"),
                    encoding="utf-8")
    bag = load_dagbag(monkeypatch, sources)
    assert bag.import_errors == {}
    assert bag.dags["ag0-src000"].fileloc.endswith(f"harvest_sources_{shard_of(first, shards):02d}.py")
    placeholder = bag.dags[f"invalid__ag1__{path.stem}"]
    assert "already used by" in placeholder.description and "ag0/src000.yaml" in placeholder.description


# The stage functions that send requests to the agency's server (gather reads catalogue and API pages too);
# acknowledge only for kinds that mark files processed on the server (drops).
TALKS_TO_AGENCY = ("stages.gather(", "stages.fetch(")
ACKNOWLEDGES = "stages.acknowledge("


def test_every_task_that_talks_to_the_agency_server_holds_its_pool(monkeypatch):
    """Per-host pools only bound the requests made in tasks that hold the pool: find those tasks by what their
    code calls (so a task added later is checked too), and check each demo DAG's pools."""
    import inspect

    from harvesters.config import load_all
    from harvesters.kinds import acknowledges_remotely, pool_name

    bag = load_dagbag(monkeypatch, SOURCES)
    configs = {s.config.id: s.config for s in load_all(SOURCES)[0]}
    checked = set()
    for dag in bag.dags.values():
        cfg = configs[dag.dag_id]
        pool = pool_name(cfg.source) or "default_pool"
        for t in dag.tasks:
            fn = getattr(t, "python_callable", None)
            code = inspect.getsource(inspect.unwrap(fn)) if fn else ""
            if any(call in code for call in TALKS_TO_AGENCY) or (
                    ACKNOWLEDGES in code and acknowledges_remotely(cfg.source)):
                checked.add((cfg.source.kind, t.task_id))
                assert t.pool == pool, (dag.dag_id, t.task_id, t.pool)
            else:  # the others leave the agency's slots to those that need them
                assert t.pool == "default_pool", (dag.dag_id, t.task_id, t.pool)
    # Every kind's gather and fetch, the catalogue and API page reads (in gather), and drops' acknowledgements.
    assert {("json_api", "gather"), ("ckan_catalog", "gather"), ("ckan_catalog", "file.fetch"),
            ("web_page", "gather"), ("s3_drop", "dataset.publish"), ("sftp_drop", "dataset.publish")} <= checked
    assert {c.source.kind for c in configs.values() if acknowledges_remotely(c.source)} == {"s3_drop", "sftp_drop"}
    assert pool_name(configs["pcd-air-stations"].source).startswith("host_127_0_0_1")
