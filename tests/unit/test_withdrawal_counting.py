"""Withdrawal counting (harvesters.lifecycle) and the decisions change detection makes without a portal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvesters import lifecycle
from harvesters.config import load_source
from harvesters.kinds.json_api import JsonApiSource
from harvesters.results import RemoteFile
from harvesters.settings import REPO_ROOT
from harvesters.stages import known_files

PM25 = REPO_ROOT / "include" / "sources" / "pcd" / "pm25-hourly.yaml"


def config(after_runs: int, after_days: float):
    cfg = load_source(PM25).config
    return cfg.model_copy(update={"withdrawal": cfg.withdrawal.model_copy(
        update={"after_runs": after_runs, "after_days": after_days})})


def offered(*keys: str) -> list[RemoteFile]:
    return [RemoteFile(source="s", url=f"http://x/{k}.csv", key=k, title=k) for k in keys]


def test_grace_period_needs_both_runs_and_days_and_counts_each_run_once(tmp_path):
    cfg = config(after_runs=2, after_days=3)
    path = lifecycle.state_path(tmp_path, cfg.id)
    state = lifecycle.load_state(path, cfg.id)
    lifecycle.observe(cfg, offered("a", "b"), state, "r1", now="2026-01-01T00:00:00+00:00")
    day = lambda d: f"2026-01-{d:02d}T00:00:00+00:00"  # noqa: E731
    assert [(m.key, m.status, m.missing_runs) for m in lifecycle.observe(cfg, offered("a"), state, "r2", day(2))] \
        == [("b", "missing", 1)]
    # The same run again (a retried task): not counted twice.
    assert lifecycle.observe(cfg, offered("a"), state, "r2", day(2))[0].missing_runs == 1
    assert lifecycle.observe(cfg, offered("a"), state, "r3", day(3))[0].status == "missing"  # 2 runs, 1 day
    assert lifecycle.observe(cfg, offered("a"), state, "r4", day(5))[0].status == "withdrawn"  # 3 runs, 3 days
    # Saved atomically and read back; a file that is back starts again from zero.
    lifecycle.save_state(path, state)
    again = lifecycle.load_state(path, cfg.id)
    assert again.files["b"].missing_since == day(2) and again.files["b"].missing_runs == 3
    assert lifecycle.observe(cfg, offered("a", "b"), again, "r5", day(6)) == []
    assert again.files["b"].missing_runs == 0 and again.files["b"].missing_since is None
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temporary file left behind


def test_a_drop_in_move_mode_never_counts_files_missing(tmp_path):
    cfg = load_source(REPO_ROOT / "include" / "sources" / "gistda" / "burned-area-folder-drop.yaml").config
    state = lifecycle.SourceState(source=cfg.id)
    lifecycle.observe(cfg, offered("a"), state, "r1")
    assert lifecycle.observe(cfg, offered("b"), state, "r2") == []  # a was moved to _processed/ by design


def test_withdrawal_note_is_removed_exactly():
    note = lifecycle.note("2026-01-05T00:00:00+00:00", "2026-01-02T00:00:00+00:00", 3)
    assert note.startswith("[ถอนการเผยแพร่ 2026-01-05]") and "2026-01-02" in note and "Withdrawn" in note
    mark = {"note": note}
    assert lifecycle.without_note(f"{note}\n\nคำอธิบายเดิม", mark) == "คำอธิบายเดิม"
    assert lifecycle.without_note("คำอธิบายที่แก้ไขแล้ว", mark) == "คำอธิบายที่แก้ไขแล้ว"  # someone edited it: kept


def test_known_files_reads_the_portal_resources_per_source_file():
    res = lambda key, file, sha, **kw: {"harvest_key": key, "harvest_file": file, "harvest_sha256": sha, **kw}  # noqa
    known = known_files({"resources": [
        res("a.csv", "a", "s1", harvest_etag='"e1"', harvest_last_modified="Mon, 05 Jan 2026 00:00:00 GMT",
            resource_last_updated_date="2026-01-05"),
        res("a.parquet", "a", "s1"),
        res("b__t1.csv", "b", "s2"), res("b__t2.csv", "b", "s3"),  # two tables, two checksums: half-updated
        {"harvest_key": "old.csv", "harvest_sha256": "s4"},  # before harvest_file existed
        {"name": "a hand-made resource"},
    ]})
    assert known["a"].fingerprint == "s1" and known["a"].etag == '"e1"' and known["a"].formats == ["csv", "parquet"]
    assert known["a"].last_updated == "2026-01-05"
    assert known["b"].fingerprint is None  # not trusted: the file is fetched and published again
    assert known["old"].sha256 == "s4" and set(known) == {"a", "b", "old"}


def test_json_api_fingerprint_ignores_key_order(tmp_path: Path):
    source = JsonApiSource(kind="json_api", url="http://127.0.0.1:9/api")
    one, two = tmp_path / "1.json", tmp_path / "2.json"
    one.write_text(json.dumps([{"สถานี": "ก", "pm25": 41.5}], ensure_ascii=False), encoding="utf-8")
    two.write_text(json.dumps([{"pm25": 41.5, "สถานี": "ก"}], ensure_ascii=False), encoding="utf-8")
    assert source.fingerprint(one) == source.fingerprint(two)
    two.write_text(json.dumps([{"pm25": 41.6, "สถานี": "ก"}], ensure_ascii=False), encoding="utf-8")
    assert source.fingerprint(one) != source.fingerprint(two)


@pytest.mark.parametrize("value", [0, 1000.5])
def test_withdrawal_settings_are_checked(value, tmp_path):
    from harvesters.config import WithdrawalSettings

    with pytest.raises(ValueError):
        WithdrawalSettings(after_runs=value)
