"""What a failed task's log ends with, for the failures a DAG-run test cannot stage cheaply:
the portal unreachable after its retries, the staging store unavailable, a 5xx agency site.
(The others are read from real task logs in tests/e2e/test_failure_logs.py.)"""

from __future__ import annotations

import socket

import pytest

from harvesters import explain
from harvesters.errors import (ApprovalRejected, PortalRefused, PortalUnavailable, RefusedFile, SourceHTTPError,
                               StagingUnavailable)
from harvesters.portal import Portal
from harvesters.settings import PortalSettings
from harvesters.staging import RunStaging


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: connections are refused


def test_portal_unreachable_after_retries_says_check_the_portal():
    portal = Portal(PortalSettings(url=f"http://127.0.0.1:{_closed_port()}", token="t"))
    with pytest.raises(PortalUnavailable) as caught:
        portal.dataset("pm25")  # a read: tried 3 times, then given up
    block = explain.lines(caught.value.with_context(source="pcd-pm25", file="pm25"), stage="gather", tries=(3, 3))
    assert block[0] == "HARVEST FAILED · gather · pcd-pm25"
    assert block[1].startswith("What failed : cannot reach the portal at http://127.0.0.1:")
    assert block[2] == "File        : pm25"
    assert not any(line.startswith("Retry") for line in block)  # the last try: no "tries again"
    assert block[-1].startswith("What to do  : the portal did not answer") and "`gdc_portal`" in block[-1]


def test_staging_unavailable_names_the_volume_and_the_retry(tmp_path):
    (tmp_path / "pcd-pm25").write_text("a file where the source's folder should be")
    with pytest.raises(StagingUnavailable) as caught:
        RunStaging(tmp_path, "pcd-pm25", "run1").dir("raw")
    block = explain.lines(caught.value, stage="fetch", item="pm25", tries=(1, 3))
    assert block[1].startswith(f"What failed : staging store unavailable: cannot create {tmp_path}")
    assert "Retry       : try 1 of 3 failed; Airflow tries again" in block
    assert "HARVEST_STAGING_DIR" in block[-1] and "mounted" in block[-1]


def test_advice_follows_the_class_and_reason_not_the_text():
    gone = explain.what_to_do(SourceHTTPError("anything", status=404, source="s"))
    assert "update the URL in the source config of s" in gone
    assert "personal data" in explain.what_to_do(RefusedFile("pii", "column x", source="s"))
    assert "changed the file's layout" in explain.what_to_do(RefusedFile("no table", source="s"))
    assert "API token" in explain.what_to_do(PortalRefused("not authorized", source="s"))
    field = explain.what_to_do(PortalRefused("x", fields=["tag_string"], source="s"))
    assert "metadata.tags (the portal's tag_string (คำสำคัญ / Tags))" in field
    assert explain.what_to_do(SourceHTTPError("x", status=404, hint="ask the PCD web team")) == "ask the PCD web team"


def test_rejection_from_airflows_answer_names_who_and_why():
    answer = {"chosen_options": ["Reject"], "params_input": {"reason": "ยังไม่ตรวจทาน"},
              "responded_by_user": {"id": "pcd-approver", "name": "ผู้อำนวยการ"}}
    block = explain.lines(ApprovalRejected.from_answer("pm25", answer, source="pcd-pm25"), stage="publish")
    assert block[0] == "HARVEST HELD BACK · publish · pcd-pm25"
    assert "Rejected by : ผู้อำนวยการ (pcd-approver), because: ยังไม่ตรวจทาน" in block
    no_reason = ApprovalRejected.from_answer("pm25", {"responded_by_user": {"id": "a"}, "params_input": None})
    assert no_reason.reason is None and "rejected by a (no reason given)" in str(no_reason)
