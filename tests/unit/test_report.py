"""The run report: built from stage records, rendered for the log, the UI note and `harvest report`."""

from __future__ import annotations

import json

import pytest

from harvesters import archive, cli
from harvesters.errors import FinalError, RefusedFile, RetryableError
from harvesters.report import FileError, RunReport, build, markdown, public_url, summary_lines
from harvesters.results import (Column, ConvertedFile, ConvertedTable, DatasetGroup, FetchedFile, MissingFile,
                                PublishPlan, PublishResult, RemoteFile, ValidationSummary)

SRC = "pcd-pm25"


def remote(key: str, url: str | None = None) -> RemoteFile:
    return RemoteFile(source=SRC, url=url or f"https://agency.example.go.th/{key}.csv", key=key, title=f"ไฟล์ {key}",
                      suffix=".csv")


def fetched(key: str, size: int = 1000, url: str | None = None, status: str = "changed") -> FetchedFile:
    return FetchedFile(remote=remote(key, url), path=f"/staging/{key}.csv", sha256="ab" * 32, size=size,
                       fetched_at="2026-12-01T10:00:00+00:00", status=status)


def converted(key: str, rows: int) -> ConvertedFile:
    table = ConvertedTable(key=key, title=key, csv=f"/c/{key}.csv", parquet=f"/c/{key}.parquet",
                           rows=rows, columns=[Column(name="a", type="integer")], table_schema={})
    return ConvertedFile(fetched=fetched(key), format="csv", encoding="cp874", stars_in=3, stars_out=3,
                         report="/r.json", tables=[table])


def check(key: str, outcome: str) -> ValidationSummary:
    return ValidationSummary(table=key, suite="s", success=outcome != "failed", outcome=outcome)


def published(name: str, created: bool, uploaded_bytes: int = 0, unchanged: list[str] = (),
              status: str | None = None) -> PublishResult:
    return PublishResult(dataset=name, url=f"http://portal/dataset/{name}", created=created, resources=[], rows=1,
                         status=status or ("create" if created else "update"), uploaded_bytes=uploaded_bytes,
                         unchanged=list(unchanged))


def test_counts_rows_bytes_and_the_failed_file():
    refusal = RefusedFile("pii", "column 'เลขประจำตัว': 12 Thai national ID numbers", source=SRC,
                          file="https://agency.example.go.th/people.csv")
    report = build(
        SRC, "manual__1", started_at="2026-12-01T10:00:00+00:00", finished_at="2026-12-01T10:00:12+00:00",
        gathered=[remote("a"), remote("b"), remote("people")],
        groups=[DatasetGroup(name=SRC, files=["a", "b", "people"])],
        fetched=[fetched("a"), fetched("b"), fetched("people", 70)],
        converted=[converted("a", 480), converted("b", 20)],
        checks=[check("a", "passed"), check("b", "warned")],
        published=[published(SRC, created=False, uploaded_bytes=1000)],
        errors=[FileError.of(refusal, file="people", stage="convert")],
        archived={"a": f"{SRC}/r/raw/a.csv", "people": f"_quarantine/{SRC}/r/people.csv"})
    assert report.state == "failed"
    assert report.counts == {"added": 0, "updated": 2, "unchanged": 0, "withdrawn": 0, "failed": 1, "missing": 0,
                             "pending": 0}
    assert (report.rows, report.bytes_downloaded, report.bytes_uploaded) == (500, 2070, 1000)
    assert report.validation == "warned" and report.seconds == 12.0
    bad = next(f for f in report.files if f.key == "people")
    assert bad.reason == "pii" and bad.error == str(refusal) and bad.archived.startswith("_quarantine/")
    assert report.datasets[0].status == "updated"
    # The JSON round-trips (computed fields included in the dump, ignored when loading).
    data = json.loads(json.dumps(report.dump()))
    assert data["counts"]["failed"] == 1 and data["state"] == "failed"
    assert RunReport.load(data) == report


def test_unchanged_files_upload_nothing_and_withdrawals_count():
    unchanged_b = FetchedFile(remote=remote("b"), path=None, sha256="cd" * 32, size=0, fetched_at="t",
                              status="unchanged", change="HTTP 304 Not Modified (conditional request)")
    report = build(SRC, "r", groups=[DatasetGroup(name=SRC, files=["a", "b"])], gathered=[remote("a"), remote("b")],
                   fetched=[fetched("a"), unchanged_b], converted=[converted("a", 1)],
                   published=[published(SRC, created=False, uploaded_bytes=500, unchanged=["b"])],
                   missing=[MissingFile(key="c", dataset=SRC, missing_since="2026-11-01T00:00:00+00:00",
                                        missing_runs=3, status="withdrawn"),
                            MissingFile(key="d", dataset=SRC, missing_since="2026-11-30T00:00:00+00:00",
                                        missing_runs=1)])
    assert [(f.key, f.status) for f in report.files] == [("a", "updated"), ("b", "unchanged"), ("c", "withdrawn"),
                                                         ("d", "missing")]
    assert report.files[1].note == "HTTP 304 Not Modified (conditional request)"
    assert (report.bytes_downloaded, report.bytes_uploaded, report.state) == (1000, 500, "success")
    assert report.counts["withdrawn"] == 1 and report.counts["missing"] == 1
    assert "missing 1" in summary_lines(report)[1] and "pending" not in summary_lines(report)[1]

    all_same = build(SRC, "r", groups=[DatasetGroup(name=SRC, files=["b"])], gathered=[remote("b")],
                     fetched=[unchanged_b], published=[published(SRC, False, status="unchanged", unchanged=["b"])])
    assert all_same.datasets[0].status == "unchanged" and all_same.bytes_uploaded == 0
    new = build(SRC, "r", groups=[DatasetGroup(name=SRC, files=["a"])], gathered=[remote("a")],
                fetched=[fetched("a", status="new")], published=[published(SRC, created=True, uploaded_bytes=9)])
    assert new.files[0].status == "added" and new.datasets[0].status == "created"


def test_several_datasets_one_held_back_one_rejected_one_waiting():
    groups = [DatasetGroup(name=n, files=[n]) for n in ("d1", "d2", "d3", "d4")]
    plan = lambda n: PublishPlan(dataset=n, url=f"http://portal/dataset/{n}", exists=False,  # noqa: E731
                                 approved_before=False, needs_approval=True, reasons=["new"], staged=True,
                                 summary_md="")
    report = build(SRC, "r", groups=groups, gathered=[remote(n) for n in ("d1", "d2", "d3", "d4")],
                   plans=[plan("d2"), plan("d3")], published=[published("d1", created=True)],
                   rejected={"d3": "rejected by pcd-approver (wrong year)"},
                   dataset_errors={"d4": "pcd-pm25: held back: its file d4 failed"},
                   errors=[FileError.of(FinalError("corrupt: truncated"), file="d4", stage="convert")])
    assert {d.name: d.status for d in report.datasets} == {
        "d1": "created", "d2": "awaiting approval", "d3": "rejected", "d4": "held back"}
    assert [f.status for f in report.files] == ["added", "pending", "pending", "failed"]
    assert report.datasets[2].note == "rejected by pcd-approver (wrong year)" and report.datasets[2].error is None
    assert report.state == "failed"  # d4 held back by its failed file; a rejection alone is no failure
    assert build(SRC, "r", groups=groups[2:3], rejected={"d3": "no"}).state == "success"


def test_run_level_error_and_retryable_flag():
    err = FileError.of(RetryableError("cannot reach agency.example.go.th: timeout", source=SRC), file=None,
                       stage="gather")
    report = build(SRC, "r", errors=[err])
    assert report.state == "failed" and report.errors == [f"{SRC}: cannot reach agency.example.go.th: timeout"]
    assert err.retryable and report.files == []


def test_userinfo_never_reaches_the_report():
    assert public_url("https://user:s3cret@host.example:8443/a.csv?x=1") == "https://host.example:8443/a.csv?x=1"
    assert public_url("https://host.example/a.csv") == "https://host.example/a.csv"
    report = build(SRC, "r", gathered=[remote("a", url="sftp://drop:s3cret@sftp.example/a.csv")])
    assert "s3cret" not in json.dumps(report.dump())


def test_text_summary_and_markdown_note():
    errors = [FileError.of(RefusedFile("size", f"over max_download_bytes {i}", source=SRC, file=f"f{i}"),
                           file=f"f{i}", stage="fetch") for i in range(40)]
    report = build(SRC, "manual__x", gathered=[remote(f"f{i}") for i in range(40)] + [remote("ok")],
                   groups=[DatasetGroup(name=SRC, files=[f"f{i}" for i in range(40)] + ["ok"])],
                   converted=[converted("ok", 7)], published=[published(SRC, created=False)], errors=errors)
    lines = summary_lines(report)
    assert lines[0].startswith(f"Run report: {SRC}  run manual__x  FAILED")
    assert "updated 1" in lines[1] and "failed 40" in lines[1]
    assert any(line.split()[:3] == ["f3", "failed", "-"] and "size: over max_download_bytes 3" in line for line in lines)
    note = markdown(report)
    assert len(note) <= 1000
    assert note.startswith("**failed**") and "| 0 | 1 | 0 | 0 | 40 |" in note
    assert "`f0`: pcd-pm25: f0: size" in note and f"more: `harvest report {SRC}`" in note


# --------------------------------------------------------------------------- harvest report

@pytest.fixture()
def stored(monkeypatch, tmp_path):
    monkeypatch.setenv("HARVEST_STAGING_DIR", str(tmp_path / "staging"))
    monkeypatch.delenv("HARVEST_ARCHIVE", raising=False)
    store = archive.LocalBackend(tmp_path / "staging")
    for i in range(3):
        r = build(SRC, f"scheduled__{i}", started_at=f"2026-12-0{i + 1}T10:00:00+00:00",
                  finished_at=f"2026-12-0{i + 1}T10:00:05+00:00", gathered=[remote("a")],
                  groups=[DatasetGroup(name=SRC, files=["a"])], converted=[converted("a", 10 + i)],
                  published=[published(SRC, created=i == 0)],
                  errors=[FileError.of(RefusedFile("corrupt", "truncated", source=SRC, file="a"), file="a",
                                       stage="convert")] if i == 2 else [])
        archive.store_report(store, SRC, f"scheduled__{i}", r.dump())
    return store


def test_cli_report_text_newest_first(stored, capsys):
    assert cli.main(["report", SRC, "--last", "2"]) == 0
    out = capsys.readouterr().out
    assert out.index("run scheduled__2  FAILED") < out.index("run scheduled__1  SUCCESS")
    assert "scheduled__0" not in out
    assert "pcd-pm25: a: corrupt: truncated" in out


def test_cli_report_json(stored, capsys):
    assert cli.main(["report", SRC, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in data] == ["scheduled__2", "scheduled__1", "scheduled__0"]
    assert data[2]["counts"]["added"] == 1 and data[0]["files"][0]["reason"] == "corrupt"


def test_cli_report_unknown_source(stored, capsys):
    assert cli.main(["report", "nobody-here"]) == 1
    assert "no run reports for nobody-here" in capsys.readouterr().err
    assert cli.main(["report", "../etc"]) == 1
