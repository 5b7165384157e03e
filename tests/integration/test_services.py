"""The stack's process hygiene: loopback only, and `stop` leaves nothing running."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

import services as devstack  # put on sys.path by tests/conftest.py

pytestmark = pytest.mark.integration


def listening_sockets() -> dict[int, tuple[str, int]]:
    """socket inode -> (address, port) of every listening TCP socket (IPv4 and IPv6)."""
    out = {}
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A":  # LISTEN
                continue
            addr_hex, port_hex = cols[1].split(":")
            out[int(cols[9])] = (decode_addr(addr_hex, v6), int(port_hex, 16))
    return out


def decode_addr(hex_addr: str, v6: bool) -> str:
    if not v6:
        return ".".join(str(b) for b in reversed(bytes.fromhex(hex_addr)))
    if hex_addr == "00000000000000000000000001000000":
        return "::1"
    return "::" if set(hex_addr) == {"0"} else hex_addr


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def ports_of(pids) -> list[tuple[int, str, int]]:
    listening = listening_sockets()
    return [(pid, *listening[i]) for pid in pids for i in socket_inodes(pid) if i in listening]


def test_every_listening_port_is_on_loopback(services, services_state_dir):
    pids = devstack.processes(services_state_dir)
    ports = ports_of(pids)
    assert len(ports) >= 6, ports  # at least one per service
    assert [p for p in ports if p[1] != "127.0.0.1"] == []


def test_stop_leaves_nothing_running():
    # A stack of its own (CKAN left out to keep it quick) so the session stack survives.
    state = Path(tempfile.mkdtemp(prefix="harvest-devstack-stop-"))
    try:
        devstack.start(state, only=["postgres", "redis", "solr", "s3", "demo_site"])
        pids = devstack.processes(state)
        ports = [port for _, _, port in ports_of(pids)]
        assert len(pids) >= 5 and ports
    finally:
        devstack.stop(state)
        shutil.rmtree(state, ignore_errors=True)
    assert [pid for pid in pids if devstack.alive(pid)] == []
    assert devstack.processes(state) == []
    # Not bind-tested: closed health-check connections may sit in TIME_WAIT.
    still_listening = {port for _, port in listening_sockets().values()}
    assert [p for p in ports if p in still_listening] == []
