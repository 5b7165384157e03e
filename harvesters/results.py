"""What each stage hands to the next: small, JSON-serialisable records.

These travel through Airflow XCom, so they hold paths and summaries, never data.
The run report and the UI are built from them, not from log lines.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class DatasetTarget(_Record):
    """The portal dataset a file belongs to, when one source feeds several datasets.

    Files without a target go to the source's own dataset (``SourceConfig.dataset_name``).
    """

    name: str  # the dataset's URL name on the portal (≤ 70 chars, lower-case ASCII, '-', '_')
    title: str | None = None  # overrides metadata.title
    metadata: dict[str, Any] = {}  # GD Catalog fields (config names, e.g. notes, tags) over the config's metadata
    origin: str | None = None  # where the dataset came from, for people (an agency catalog page, a link)


class RemoteFile(_Record):
    """A file a source offers (gather's output)."""

    source: str
    url: str
    key: str  # stable, ASCII: names the staged file and the portal resources
    title: str  # what people call it (Thai welcome); becomes the resource name
    suffix: str = ""  # file extension to stage it under (".csv"); content is still sniffed by its bytes
    size: int | None = None
    etag: str | None = None  # or another version marker (S3 ETag, mtime): change detection
    modified: str | None = None  # ISO 8601
    locator: dict[str, Any] = {}  # kind-specific address (bucket/key, remote path, portal resource id...)
    convert: dict[str, Any] = {}  # harvesters.convert.options.ConvertOptions fields for this file
    dataset: DatasetTarget | None = None  # None: the source's own dataset


class DatasetGroup(_Record):
    """One portal dataset of a run and the keys of its files (see ``harvesters.datasets``)."""

    name: str
    target: DatasetTarget | None = None  # None: the source's own dataset, as its config describes it
    files: list[str]


class FetchedFile(_Record):
    """A file downloaded into the staging store."""

    remote: RemoteFile
    path: str
    sha256: str
    size: int
    fetched_at: str  # ISO 8601, UTC
    content_type: str | None = None


class Column(_Record):
    name: str
    type: str


class ConvertedTable(_Record):
    key: str  # resource key: the file key, plus the table name when a file holds several
    title: str
    csv: str | None
    parquet: str | None
    rows: int
    columns: list[Column]
    table_schema: dict[str, Any]
    date_range: list[str] | None = None  # [first, last] ISO dates over the table's date columns


class ConvertedFile(_Record):
    fetched: FetchedFile
    format: str
    encoding: str | None
    stars_in: int
    stars_out: int
    report: str  # path of the full conversion report (JSON)
    tables: list[ConvertedTable]


class ValidationSummary(_Record):
    table: str  # ConvertedTable.key
    suite: str | None
    success: bool
    evaluated: int = 0
    failed: list[str] = []  # one line per failed expectation
    result: str | None = None  # path of the full GX result (JSON)
    outcome: Literal["passed", "failed", "warned", "skipped"]


class PublishPlan(_Record):
    """What prepare decided; the approval task shows ``summary_md`` to the approver."""

    dataset: str
    url: str
    exists: bool
    approved_before: bool  # public and allow_harvest "True" on the portal before this run
    needs_approval: bool
    reasons: list[str]  # why approval is asked (empty when publishing directly)
    staged: bool  # uploaded privately for the approver to preview
    summary_md: str
    # What publish will push: this dataset's converted files and their checks (paths and summaries).
    files: list[ConvertedFile] = []
    checks: list[ValidationSummary] = []


class PublishedResource(_Record):
    id: str
    name: str
    format: str
    url: str


class PublishResult(_Record):
    dataset: str
    url: str
    created: bool
    resources: list[PublishedResource]
    rows: int
    approved_by: str | None = None
