"""The portal client: CKAN's Action API through ckanapi, with our error split.

- the portal refusing what we sent (409 validation, 403) → ``PortalRefused`` (final);
- the portal unreachable, overloaded or its search index failing → ``RetryableError``.
Messages name the dataset and, for validation errors, each field with its Thai label.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import ckanapi
import requests
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from . import __version__
from .errors import ConnectionUndefined, FinalError, PortalRefused, PortalUnavailable, RetryableError
from .gdc import fields as gdc
from .settings import PortalSettings

log = logging.getLogger(__name__)
# (connect, read) seconds. A read is quick, so a portal that never answers fails a read within a minute
# (READ_ATTEMPTS tries); a write may index, an upload may be large.
READ_TIMEOUT = (5, 12)
WRITE_TIMEOUT = (10, 60)
UPLOAD_TIMEOUT = (10, 300)
READ_ACTIONS = {"package_show", "organization_show", "package_search", "resource_show", "status_show"}
READ_ATTEMPTS = 3  # reads are safe to repeat; writes are retried by Airflow's task retry


def _refused_fields(error: dict) -> list[str]:
    """The field keys a CKAN ValidationError names (``__type``, ``__junk``... are not fields)."""
    return [field for field in error if not field.startswith("__")]


def _validation_message(error: dict) -> str:
    parts = []
    for field in _refused_fields(error):
        problems = error[field]
        text = problems if isinstance(problems, str) else "; ".join(map(str, problems))
        parts.append(f"{gdc.label(field, english=True)}: {text}")
    return ", ".join(parts) or "validation error"


PORTAL_CONN_ID = "gdc_portal"


def portal_settings(connection=None) -> PortalSettings:
    """The portal from the connection `gdc_portal` (host = URL, password = API token), else HARVEST_PORTAL_*."""
    from .kinds.base import connection_from_env

    try:
        conn = (connection or connection_from_env)(PORTAL_CONN_ID)
    except ConnectionUndefined:
        return PortalSettings.from_env()  # only "not defined" falls back
    except RetryableError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreadable: never fall back to another portal's settings
        raise RetryableError(f"cannot read the portal connection {PORTAL_CONN_ID!r} ({type(exc).__name__}); "
                             f"not falling back to HARVEST_PORTAL_* settings") from None
    url = conn.host if "://" in conn.host else f"{conn.schema or 'http'}://{conn.host}"
    if conn.port:
        url = f"{url.rstrip('/')}:{conn.port}"
    if not conn.host or not conn.password:
        raise FinalError(f"connection {PORTAL_CONN_ID!r} needs the portal URL as host and the API token as password")
    return PortalSettings(url=url.rstrip("/"), token=conn.password,
                          create_organizations=str(conn.extra.get("create_organizations", "")).lower() in ("1", "true"))


class _StreamingCKAN(ckanapi.RemoteCKAN):
    """ckanapi's client, with uploads streamed from their files.

    ckanapi hands uploads to requests, which builds the whole multipart body in memory: a
    publish of a 100 MB cp874 CSV (a ~190 MB UTF-8 CSV and its Parquet) peaked at ~750 MiB,
    and a bigger file would take a worker's memory with it. requests_toolbelt's
    MultipartEncoder reads each file as the body goes out. The fields are those ckanapi
    prepared (``prepare_action``: strings, UTF-8 bytes)."""

    def _request_fn(self, url, data, headers, files, requests_kwargs):
        if not files:
            return super()._request_fn(url, data, headers, files, requests_kwargs)
        from requests_toolbelt import MultipartEncoder

        fields = [(k.decode() if isinstance(k, bytes) else k, v) for k, v in data.items()]
        fields += list(files.items())  # (file name, handle): no content type, as requests sends them
        body = MultipartEncoder(fields=fields)
        response = self.session.post(url, data=body, headers={**headers, "Content-Type": body.content_type},
                                     allow_redirects=False, **requests_kwargs)  # as ckanapi: a redirect drops the body
        return response.status_code, response.text


class Portal:
    def __init__(self, settings: PortalSettings):
        self.settings = settings
        self.url = settings.url
        self.ckan = _StreamingCKAN(settings.url, apikey=settings.token, user_agent=f"ogd-harvester/{__version__}")

    def call(self, action: str, *, what: str, files: dict | None = None, **data: Any) -> Any:
        if action in READ_ACTIONS and not files:
            read = retry(stop=stop_after_attempt(READ_ATTEMPTS), wait=wait_exponential(multiplier=1, max=4),
                         retry=retry_if_exception_type(RetryableError), reraise=True)(self._call)
            return read(action, what=what, files=None, **data)
        return self._call(action, what=what, files=files, **data)

    def _call(self, action: str, *, what: str, files: dict | None = None, **data: Any) -> Any:
        from .net import describe_failure

        timeout = UPLOAD_TIMEOUT if files else READ_TIMEOUT if action in READ_ACTIONS else WRITE_TIMEOUT
        try:
            return self.ckan.call_action(action, data, files=files, requests_kwargs={"timeout": timeout})
        except ckanapi.ValidationError as exc:
            err = exc.error_dict if hasattr(exc, "error_dict") else (exc.args[0] if exc.args else {})
            raise PortalRefused(f"portal refused {action} of {what}: {_validation_message(err)}",
                                fields=_refused_fields(err) if isinstance(err, dict) else []) from None
        except ckanapi.NotAuthorized as exc:
            raise PortalRefused(f"portal refused {action} of {what}: not authorized ({exc}); "
                                "check the API token and its organization membership") from None
        except ckanapi.SearchIndexError as exc:
            raise PortalUnavailable(f"portal search index failed during {action} of {what}: {exc}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise PortalUnavailable(f"cannot reach the portal at {self.url} ({action} of {what}): "
                                 f"{describe_failure(exc)}") from None
        except ckanapi.NotFound:
            raise  # an answer, not a failure: callers ask "does it exist?"
        except ckanapi.CKANAPIError as exc:
            text = str(exc)
            if any(f", {code}," in text for code in (500, 502, 503, 504)):
                raise PortalUnavailable(f"portal error during {action} of {what}: {text[:200]}") from None
            raise FinalError(f"unexpected portal answer to {action} of {what}: {text[:200]}") from None

    # --- reading -----------------------------------------------------------------
    def dataset(self, name: str) -> dict | None:
        try:
            return self.call("package_show", what=name, id=name)
        except ckanapi.NotFound:
            return None

    def datasets_titled(self, title: str, rows: int = 100) -> list[dict]:
        """Live datasets (private ones too, as far as the token sees) whose title matches `title` as a phrase.

        The search index may also return near matches (a phrase inside a longer title): callers compare.
        """
        phrase = title.replace("\\", "\\\\").replace('"', '\\"')
        result = self.call("package_search", what=f"title {title!r}", q=f'title:"{phrase}"', rows=rows,
                           include_private=True)
        return result.get("results", [])

    def organization_exists(self, name: str) -> bool:
        try:
            self.call("organization_show", what=name, id=name)
            return True
        except ckanapi.NotFound:
            return False

    def dataset_url(self, name: str) -> str:
        return f"{self.url}/dataset/{name}"

    # --- writing ------------------------------------------------------------------
    def ensure_organization(self, name: str, title: str | None = None) -> None:
        if self.organization_exists(name):
            return
        if not self.settings.create_organizations:
            raise FinalError(f"organization {name!r} does not exist on the portal {self.url}: "
                             "ask the portal admins to create it (or allow creation in this deployment)")
        self.call("organization_create", what=name, name=name, title=title or name)

    def create_dataset(self, fields: dict) -> dict:
        return self.call("package_create", what=fields["name"], **fields)

    def patch_dataset(self, name: str, fields: dict) -> dict:
        return self.call("package_patch", what=name, id=name, **fields)

    def revise_dataset(self, dataset: dict, fields: dict, resources: list[tuple[str, Path, dict[str, str]]],
                       resource_fields: dict[str, dict] | None = None) -> dict:
        """Replace the files (matched by harvest key, ids kept) and the metadata in ONE package_revise call.

        CKAN applies a revision in one database transaction, so people never see new
        files beside old metadata, nor half the files replaced: the update lands whole
        or not at all. New keys are appended as new resources. ``resource_fields``
        (resource id → fields) changes other resources' fields without a file, in the
        same revision (withdrawal notes). Returns the dataset.
        """
        import json
        from contextlib import ExitStack

        current = dataset.get("resources", [])
        data: dict[str, str] = {"match__id": dataset["id"], "update": json.dumps(fields, ensure_ascii=False)}
        # package_revise merges lists item by item (a shorter list would keep old items), so list fields
        # are dropped first and set anew; tag_string rebuilds the tags.
        dropped = [f"-{k}" for k, v in fields.items() if isinstance(v, list)] + (["-tags"] if "tag_string" in fields
                                                                                 else [])
        if dropped:
            data["filter"] = json.dumps(dropped)
        files: dict[str, tuple[str, Any]] = {}
        new = []
        for res_id, res_fields in (resource_fields or {}).items():
            data[f"update__resources__{res_id}"] = json.dumps(res_fields, ensure_ascii=False)
        with ExitStack() as stack:
            for key, file, res_fields in resources:
                existing = _matching(current, key, res_fields["name"])
                handle = (file.name, stack.enter_context(file.open("rb")))  # ASCII name: CKAN strips Thai
                if existing:
                    data[f"update__resources__{existing['id']}"] = json.dumps(res_fields, ensure_ascii=False)
                    files[f"update__resources__{existing['id']}__upload"] = handle
                else:
                    new.append((res_fields, handle))
            if new:
                # Appended at the end, so the k-th new one is index -(len(new) - k).
                data["update__resources__extend"] = json.dumps([f for f, _ in new], ensure_ascii=False)
                for k, (_, handle) in enumerate(new):
                    files[f"update__resources__{k - len(new)}__upload"] = handle
            result = self.call("package_revise", what=dataset["name"], files=files, **data)
        return result["package"]

    def upsert_resource(self, dataset: dict, key: str, file: Path, fields: dict[str, str]) -> dict:
        """Replace the resource with this key (or, from older runs, this name) in place, or create it.

        Resource ids therefore stay stable across runs.
        """
        existing = _matching(dataset.get("resources", []), key, fields["name"])
        what = f"{dataset['name']}/{fields['name']}"
        with file.open("rb") as fh:
            # CKAN strips Thai from stored file names: the upload is named by its ASCII file name.
            files = {"upload": (file.name, fh)}
            if existing:
                return self.call("resource_patch", what=what, files=files, id=existing["id"], **fields)
            return self.call("resource_create", what=what, files=files, package_id=dataset["id"], **fields)


def _matching(resources: list[dict], key: str, name: str) -> dict | None:
    """The resource with this harvest key, or (made by an older run, before keys) with this name."""
    return next((r for r in resources if r.get("harvest_key") == key), None) or \
        next((r for r in resources if not r.get("harvest_key") and r.get("name") == name), None)
