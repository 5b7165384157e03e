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


# What a run did with one file (``FetchedFile.status``):
#   new        not on the portal yet: converted and published
#   changed    its content differs from what the portal holds: converted, its resources replaced in place
#   unchanged  same content as on the portal (HTTP 304, same checksum, same source version): no conversion,
#              no upload, no portal activity
#   deferred   offered but left for a later run (a drop's max_files); not converted, not missing
FileStatus = Literal["new", "changed", "unchanged", "deferred"]


class KnownFile(_Record):
    """What the portal holds of one source file: the ``harvest_*`` fields of its resources (see ``stages.recall``)."""

    sha256: str | None = None  # of the raw file last published
    fingerprint: str | None = None  # what change detection compares (``SourceKind.fingerprint``)
    etag: str | None = None  # HTTP validators the server sent with that file: sent back as a conditional request
    last_modified: str | None = None
    version: str | None = None  # the source's own version marker then (RemoteFile.etag: S3 ETag, catalog stamp...)
    fetched_at: str | None = None
    last_updated: str | None = None  # resource_last_updated_date: when its content last changed
    formats: list[str] = []  # output formats present (csv, parquet): a file missing one is not "unchanged"
    withdrawn: bool = False  # its resources carry a withdrawal note (``lifecycle``): restored when it is back


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
    # Decided at gather, without downloading: "unchanged" (a drop's marker holds this version), "deferred"
    # (a drop's max_files), else "offered" (fetch decides).
    status: Literal["offered", "unchanged", "deferred"] = "offered"
    note: str | None = None  # why, for people (the UI and the run report)
    known: KnownFile | None = None  # what the portal holds of this file (None: nothing, or a dry run)


class DatasetGroup(_Record):
    """One portal dataset of a run and the keys of its files (see ``harvesters.datasets``)."""

    name: str
    target: DatasetTarget | None = None  # None: the source's own dataset, as its config describes it
    files: list[str]


class FetchedFile(_Record):
    """A file downloaded into the staging store, or found unchanged (then ``path`` is None: nothing downloaded).

    ``status`` says what the run does with it (``FileStatus``); ``change`` says why, in one line
    ("HTTP 304 Not Modified", "same SHA-256 as on the portal", "SHA-256 differs from the portal's").
    ``forced`` (``harvest run --force``, DAG param ``force``): converted and published whatever the status.
    """

    remote: RemoteFile
    path: str | None
    sha256: str  # of the raw file (for an unchanged file not downloaded: the portal's)
    size: int
    fetched_at: str  # ISO 8601, UTC: when this run asked (provenance; not when the data changed)
    content_type: str | None = None
    status: FileStatus = "new"
    change: str = ""
    forced: bool = False
    fingerprint: str | None = None  # what change detection compares; defaults to sha256
    etag: str | None = None  # HTTP validators the server sent (stored on the resources for the next run)
    last_modified: str | None = None

    @property
    def to_convert(self) -> bool:
        """Does this file go through convert → validate → publish in this run?"""
        return self.status in ("new", "changed") or (self.forced and self.status == "unchanged")


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
    # What this run changes on the portal: "create" a dataset; "update" files (and metadata) in place;
    # "metadata" only (the config's fields differ from the portal's, or withdrawn files came back unchanged);
    # "unchanged": nothing, no portal call at all.
    action: Literal["create", "update", "metadata", "unchanged"] = "update"
    unchanged: list[FetchedFile] = []  # this dataset's files left as they are on the portal
    metadata_changes: list[str] = []  # dataset fields whose value on the portal differs from the config's
    restored: list[str] = []  # file keys whose withdrawal is lifted (back at the source)
    reopen: bool = False  # the whole dataset was withdrawn by the pipeline while approved: open it again


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
    # PublishPlan.action as done: "create", "update", "metadata" or "unchanged" (no portal activity).
    status: Literal["create", "update", "metadata", "unchanged"] = "update"
    uploaded: list[str] = []  # resource keys whose file was uploaded in this run
    uploaded_bytes: int = 0
    unchanged: list[str] = []  # file keys left as they are
    restored: list[str] = []  # file keys whose withdrawal was lifted


class MissingFile(_Record):
    """A file the portal has from this source that the source no longer offers (see ``harvesters.lifecycle``).

    status: "missing" (within the grace period: nothing changes on the portal), "withdrawn" (marked on the
    portal in this run), "withdrawn_before" (marked in an earlier run, still missing).
    """

    key: str
    dataset: str
    title: str = ""
    url: str = ""
    missing_since: str  # ISO 8601, UTC: the first successful run that did not find it
    missing_runs: int  # consecutive successful runs that did not find it
    status: Literal["missing", "withdrawn", "withdrawn_before"] = "missing"
    dataset_withdrawn: bool = False  # the whole dataset is gone at the source: marked private, not harvestable
