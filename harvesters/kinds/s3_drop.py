"""Source kind `s3_drop`: files an agency drops into an S3 bucket (AWS, MinIO, SeaweedFS...).

Credentials and endpoint come from an Airflow Connection of type aws: login =
access key id, password = secret key, extra ``endpoint_url`` (or
``service_config.s3.endpoint_url``) and ``region_name``. Without a connection,
boto3's default chain is used (instance role, AWS_* variables).
Only new or changed objects (by ETag) are harvested; see ``drops.py``.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Literal

from pydantic import Field, field_validator

from ..errors import FinalError, RetryableError
from .base import HarvestContext
from .drops import DropEntry, DropSource, DropStore, marker_record, marker_rel

log = logging.getLogger(__name__)


class S3DropSource(DropSource):
    """New or changed objects under a bucket prefix."""

    kind: Literal["s3_drop"]
    bucket: str = Field(description="Bucket name")
    prefix: str = Field("", description="Only objects under this prefix, e.g. `pcd/` (the processed area is "
                                        "<prefix><processed>/)")
    connection: str | None = Field(None, description="Airflow Connection id (type aws): login = access key, "
                                                     "password = secret key, extra.endpoint_url, extra.region_name")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", value):
            raise ValueError(f"{value!r} is not an S3 bucket name (3–63 lower-case letters, digits, '.', '-')")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.lstrip("/")
        return value if not value or value.endswith("/") else value + "/"

    def hosts(self) -> set[str]:
        return set()  # the endpoint lives in the connection

    def pool_key(self) -> str | None:
        return f"conn_{self.connection}" if self.connection else "aws_s3"

    @contextmanager
    def store(self, ctx: HarvestContext) -> Iterator[DropStore]:
        yield S3Store(self, ctx)


class S3Store(DropStore):
    def __init__(self, source: S3DropSource, ctx: HarvestContext):
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = source.bucket, source.prefix
        self.processed = source.prefix + source.processed
        kwargs: dict = {}
        endpoint = region = None
        if source.connection:
            conn = ctx.connection(source.connection)
            extra = conn.extra or {}
            endpoint = extra.get("endpoint_url") or (extra.get("service_config") or {}).get("s3", {}).get(
                "endpoint_url") or (conn.host if conn.host.startswith(("http://", "https://")) else None)
            region = extra.get("region_name")
            if conn.login:
                kwargs.update(aws_access_key_id=conn.login, aws_secret_access_key=conn.password)
        self.endpoint = endpoint or "https://s3.amazonaws.com"
        self.where = f"s3://{self.bucket}/{self.prefix}"
        config = Config(connect_timeout=min(source.timeout, 10), read_timeout=source.timeout,
                        retries={"max_attempts": 3, "mode": "standard"},
                        s3={"addressing_style": "path"} if endpoint else {})
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name=region, config=config, **kwargs)

    # ------------------------------------------------------------------ errors

    def call(self, what: str, fn, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError, ConnectionError as BotoConnectionError

        from ..s3errors import answer, no_answer

        try:
            return fn(**kwargs)
        except ClientError as exc:
            cls, detail, _ = answer(exc)
            raise cls(f"s3 {what} at {self.endpoint}: {detail}") from None
        except BotoConnectionError as exc:
            raise RetryableError(f"cannot reach s3 endpoint {self.endpoint}: {exc}") from None
        except BotoCoreError as exc:
            if no_answer(exc) is FinalError:
                raise FinalError(f"s3 {what}: no credentials (set the connection's login and password)") from None
            raise RetryableError(f"s3 {what} at {self.endpoint}: {exc}") from None

    def key(self, rel: str) -> str:
        return self.prefix + rel

    def url(self, rel: str) -> str:
        return f"s3://{self.bucket}/{self.key(rel)}"

    # ------------------------------------------------------------------ listing

    def _objects(self, prefix: str):
        token = None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self.call(f"list s3://{self.bucket}/{prefix}", self.client.list_objects_v2, **kwargs)
            yield from page.get("Contents", [])
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def list(self) -> list[DropEntry]:
        out = []
        for obj in self._objects(self.prefix):
            if obj["Key"].endswith("/"):
                continue  # a "folder" placeholder
            out.append(DropEntry(rel=obj["Key"][len(self.prefix):], version=obj["ETag"].strip('"'),
                                 size=obj["Size"], modified=obj["LastModified"].isoformat()))
        return out

    def markers(self) -> set[str]:
        base = self.processed + "/"
        return {o["Key"][len(base):-5] for o in self._objects(base) if o["Key"].endswith(".json")}

    def read_marker(self, rel: str) -> dict | None:
        key = self.prefix + marker_rel(self.processed[len(self.prefix):], rel)
        body = self.call(f"read s3://{self.bucket}/{key}", self.client.get_object, Bucket=self.bucket, Key=key)
        return marker_record(body["Body"].read(), f"s3://{self.bucket}/{key}")

    def write_marker(self, rel: str, record: dict) -> None:
        import json

        key = self.prefix + marker_rel(self.processed[len(self.prefix):], rel)
        self.call(f"write s3://{self.bucket}/{key}", self.client.put_object, Bucket=self.bucket, Key=key,
                  Body=json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"),
                  ContentType="application/json")

    # ------------------------------------------------------------------ data

    def download(self, rel: str, version: str, dest: Path) -> None:
        key = self.key(rel)
        kwargs = {"Bucket": self.bucket, "Key": key}
        if version:
            kwargs["IfMatch"] = f'"{version}"'
        try:
            body = self.call(f"get {self.url(rel)}", self.client.get_object, **kwargs)
        except FinalError as exc:
            if "PreconditionFailed" in str(exc):
                raise RetryableError(f"{self.url(rel)} changed since it was listed; the next try takes the new "
                                     f"version") from None
            raise
        tmp = dest.with_name(dest.name + ".part")
        try:
            with tmp.open("wb") as out:
                for chunk in body["Body"].iter_chunks(1 << 20):
                    out.write(chunk)
        except Exception as exc:  # noqa: BLE001 - a broken stream: nothing half-written stays
            tmp.unlink(missing_ok=True)
            raise RetryableError(f"s3 read of {self.url(rel)} broke off: {exc}") from None
        tmp.replace(dest)

    def _head(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            return self.call(f"head s3://{self.bucket}/{key}", self.client.head_object, Bucket=self.bucket, Key=key)

    def move_processed(self, rel: str, version: str) -> bool:
        src, dst = self.key(rel), f"{self.processed}/{rel}"
        before = self._head(src)
        if before is None:
            log.warning("%s is gone already; nothing to move", self.url(rel))
            return False
        if before["ETag"].strip('"') != version:
            return False
        self.call(f"copy {self.url(rel)} to s3://{self.bucket}/{dst}", self.client.copy_object,
                  Bucket=self.bucket, Key=dst, CopySource={"Bucket": self.bucket, "Key": src},
                  CopySourceIfMatch=f'"{version}"', MetadataDirective="COPY")
        copy = self._head(dst)
        same_etag = "-" in version or copy is not None and copy["ETag"].strip('"') == version  # multipart ETags differ
        if copy is None or copy["ContentLength"] != before["ContentLength"] or not same_etag:
            raise FinalError(f"copy of {self.url(rel)} to s3://{self.bucket}/{dst} does not match the original; "
                             f"the original is kept")
        # Delete only the version that was published: a newer upload in between stays for the next run.
        now = self._head(src)
        if now is None or now["ETag"].strip('"') != version:
            return False
        self.call(f"delete {self.url(rel)}", self.client.delete_object, Bucket=self.bucket, Key=src)
        return True
