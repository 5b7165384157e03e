"""Source kind `sftp_drop`: files an agency drops on an SFTP server.

Key authentication only, and the server's host key is always checked: give it
in the source (``host_key`` line or ``host_key_fingerprint``) or in the
Connection's extra (``host_key``, ``host_key_fingerprint``). The Connection
(type sftp) holds host, port, login and the private key: extra ``private_key``
(the key text) or ``key_file`` (a path on the workers), optionally
``private_key_passphrase``. Only new or changed files (by size and mtime) are
harvested; see ``drops.py``. ``mode: move`` renames into the processed folder.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import posixpath
import socket
import stat as statmod
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Literal

from pydantic import Field, field_validator

from ..errors import FinalError, RetryableError
from .base import ConnectionInfo, HarvestContext
from .drops import DropEntry, DropSource, DropStore, marker_record, marker_rel


def fingerprint(key_blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint (`ssh-keygen -lf`): SHA256:<base64 without padding>."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key_blob).digest()).decode().rstrip("=")


def _key_blob(line: str) -> bytes:
    """The key blob of `ssh-ed25519 AAAA... [comment]` or a known_hosts line `host ssh-ed25519 AAAA...`."""
    for part in line.split():
        if part.startswith("AAAA"):
            try:
                return base64.b64decode(part)
            except ValueError:
                break
    raise ValueError("not an OpenSSH public key line (e.g. `ssh-ed25519 AAAAC3Nza...`)")


class SftpDropSource(DropSource):
    """New or changed files in a folder of an SFTP server."""

    kind: Literal["sftp_drop"]
    connection: str = Field(description="Airflow Connection id (type sftp): host, port, login; extra.private_key "
                                        "or extra.key_file; optionally extra.host_key")
    directory: str = Field(".", description="The drop folder on the server (absolute, or relative to the login "
                                            "folder)")
    host_key: str | None = Field(None, description="The server's public host key as in known_hosts or "
                                                   "`ssh-keyscan` (`ssh-ed25519 AAAAC3...`)")
    host_key_fingerprint: str | None = Field(None, description="Or its fingerprint as `ssh-keygen -lf` prints it "
                                                               "(`SHA256:...`)")

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str | None) -> str | None:
        if value is not None:
            _key_blob(value)
        return value

    @field_validator("host_key_fingerprint")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("SHA256:"):
            raise ValueError("give the SHA256 fingerprint as `ssh-keygen -lf` prints it: `SHA256:...`")
        return value

    def pool_key(self) -> str | None:
        return f"conn_{self.connection}"

    @contextmanager
    def store(self, ctx: HarvestContext) -> Iterator[DropStore]:
        conn = ctx.connection(self.connection)
        store = SftpStore(self, conn)
        try:
            yield store
        finally:
            store.close()


def _private_key(conn: ConnectionInfo):
    import paramiko

    extra = conn.extra or {}
    passphrase = extra.get("private_key_passphrase") or None
    text, path = extra.get("private_key"), extra.get("key_file")
    if not text and not path:
        raise FinalError(f"connection {conn.conn_id!r} has no private key: set extra.private_key (the key text) or "
                         f"extra.key_file (a path); password logins are not used")
    if path:
        try:
            return paramiko.PKey.from_path(path, password=passphrase)
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise FinalError(f"cannot load the private key {path} of connection {conn.conn_id!r}: {exc}") from None
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text), password=passphrase)
        except (paramiko.SSHException, ValueError):
            continue
    raise FinalError(f"extra.private_key of connection {conn.conn_id!r} is not an OpenSSH/PEM private key "
                     f"(ed25519, ecdsa or rsa) or its passphrase is wrong")


class SftpStore(DropStore):
    def __init__(self, source: SftpDropSource, conn: ConnectionInfo):
        import paramiko

        if not conn.host:
            raise FinalError(f"connection {conn.conn_id!r} has no host")
        self.host, self.port, self.user = conn.host, int(conn.port or 22), conn.login
        self.base = f"sftp://{self.user}@{self.host}:{self.port}" if self.user else f"sftp://{self.host}:{self.port}"
        self.root = source.directory.rstrip("/") or "/"
        self.processed = source.processed
        self.where = f"{self.base}/{self.root.lstrip('/')}"
        extra = conn.extra or {}
        if str(extra.get("no_host_key_check", "")).lower() in ("true", "1", "yes"):
            raise FinalError(f"connection {conn.conn_id!r} sets no_host_key_check: host key checking is never "
                             f"turned off; give host_key or host_key_fingerprint instead")
        want_line = source.host_key or extra.get("host_key")
        want_fp = source.host_key_fingerprint or extra.get("host_key_fingerprint")
        if not want_line and not want_fp:
            raise FinalError(f"no host key for {self.host}:{self.port}: set the source's host_key or "
                             f"host_key_fingerprint (or the connection's extra.host_key); the server's identity "
                             f"is always checked")
        pkey = _private_key(conn)
        self.transport = None
        self.sftp = None
        try:
            sock = socket.create_connection((self.host, self.port), timeout=min(source.timeout, 30))
        except OSError as exc:
            raise RetryableError(f"cannot reach sftp server {self.base}: {exc}") from None
        try:
            self.transport = paramiko.Transport(sock)
            self.transport.banner_timeout = source.timeout
            self.transport.start_client(timeout=source.timeout)
            server_key = self.transport.get_remote_server_key()
            blob = server_key.asbytes()
            ok = (want_line and _key_blob(want_line) == blob) or (want_fp and fingerprint(blob) == want_fp.rstrip("="))
            if not ok:
                raise FinalError(f"host key of {self.host}:{self.port} ({server_key.get_name()} {fingerprint(blob)}) "
                                 f"does not match the configured one: refusing to connect")
            self.transport.auth_publickey(self.user, pkey)
            self.sftp = paramiko.SFTPClient.from_transport(self.transport)
            self.sftp.get_channel().settimeout(source.timeout)
        except paramiko.AuthenticationException as exc:
            self.close()
            raise FinalError(f"sftp login as {self.user!r} at {self.base} refused: {exc}") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise RetryableError(f"cannot reach sftp server {self.base}: {type(exc).__name__}: {exc}") from None
        except FinalError:
            self.close()
            raise

    def close(self) -> None:
        if self.sftp is not None:
            self.sftp.close()
        if self.transport is not None:
            self.transport.close()

    def path(self, rel: str) -> str:
        return posixpath.join(self.root, rel)

    def url(self, rel: str) -> str:
        return f"{self.base}/{self.path(rel).lstrip('/')}"

    def _io(self, what: str, fn, *args):
        try:
            return fn(*args)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise FinalError(f"sftp {what}: {exc}") from None

    def _walk(self, top: str, rel_top: str = "", skip: str | None = None):
        for attr in self._io(f"list {self.base}/{top.lstrip('/')}", self.sftp.listdir_attr, top):
            name = attr.filename
            if name.startswith("."):
                continue
            rel = f"{rel_top}{name}"
            if statmod.S_ISDIR(attr.st_mode or 0):
                if rel != skip:  # the processed area is listed only for its markers
                    yield from self._walk(posixpath.join(top, name), rel + "/", skip)
            elif statmod.S_ISREG(attr.st_mode or 0) and not name.endswith(".part"):
                yield rel, attr

    @staticmethod
    def _version(attr) -> str:
        return f"{attr.st_size}-{int(attr.st_mtime or 0)}"

    def list(self) -> list[DropEntry]:
        try:
            walked = list(self._walk(self.root, skip=self.processed))
        except FileNotFoundError:
            raise FinalError(f"no folder {self.where} on the sftp server") from None
        out = []
        for rel, attr in walked:
            if rel == self.processed or rel.startswith(self.processed + "/"):
                continue
            out.append(DropEntry(rel, self._version(attr), attr.st_size or 0,
                                 datetime.fromtimestamp(attr.st_mtime or 0, timezone.utc).isoformat()))
        return out

    def markers(self) -> set[str]:
        try:
            return {rel[:-5] for rel, _ in self._walk(self.path(self.processed)) if rel.endswith(".json")}
        except FileNotFoundError:
            return set()

    def read_marker(self, rel: str) -> dict | None:
        path = self.path(marker_rel(self.processed, rel))
        with self.sftp.open(path, "rb") as fh:
            return marker_record(fh.read(), f"{self.base}{path}")

    def _makedirs(self, folder: str) -> None:
        parts, current = folder.strip("/").split("/"), "/" if folder.startswith("/") else ""
        for part in parts:
            current = posixpath.join(current, part) if current else part
            try:
                self.sftp.stat(current)
            except FileNotFoundError:
                self._io(f"mkdir {current}", self.sftp.mkdir, current)

    def write_marker(self, rel: str, record: dict) -> None:
        path = self.path(marker_rel(self.processed, rel))
        self._makedirs(posixpath.dirname(path))
        tmp = path + ".part"
        with self.sftp.open(tmp, "wb") as fh:
            fh.write(json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"))
        self._io(f"rename {tmp}", self.sftp.posix_rename, tmp, path)

    def download(self, rel: str, version: str, dest: Path) -> None:
        src = self.path(rel)
        try:
            if version and self._version(self.sftp.stat(src)) != version:
                raise RetryableError(f"{self.url(rel)} changed since it was listed; the next try takes the new version")
            tmp = dest.with_name(dest.name + ".part")
            self.sftp.get(src, str(tmp))
            if version and self._version(self.sftp.stat(src)) != version:
                tmp.unlink(missing_ok=True)
                raise RetryableError(f"{self.url(rel)} changed while it was read; the next try takes the new version")
        except FileNotFoundError:
            raise FinalError(f"{self.url(rel)} disappeared after it was listed") from None
        except (OSError, EOFError) as exc:
            raise RetryableError(f"sftp read of {self.url(rel)} broke off: {exc}") from None
        tmp.replace(dest)

    def move_processed(self, rel: str, version: str) -> bool:
        src, dst = self.path(rel), self.path(f"{self.processed}/{rel}")
        try:
            if self._version(self.sftp.stat(src)) != version:
                return False
        except FileNotFoundError:
            return False
        self._makedirs(posixpath.dirname(dst))
        self._io(f"rename {src} to {dst}", self.sftp.posix_rename, src, dst)  # a rename: nothing is deleted
        return True
