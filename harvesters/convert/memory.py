"""The converter's memory budget: a watchdog thread reads this process's
resident memory and the engine checks it between blocks, so a hostile file is
refused (``size``, limit ``max_memory_mb``) before it exhausts the worker.

The budget counts growth over the memory the process held when the conversion
began (an Airflow worker already holds its own imports)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from contextlib import contextmanager

from ..errors import RefusedFile

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_state = threading.local()
_POLL_SECONDS = 0.1
# glibc mallopt parameters (malloc.h) and the values the converter runs with.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_ALLOCATOR = ((_M_MMAP_THRESHOLD, 32 * 2**20), (_M_TRIM_THRESHOLD, 64 * 2**20), (_M_ARENA_MAX, 2))
_tuned = False
_JEMALLOC_DECAY_MS = 5000


def tune_allocator() -> bool:
    """Let glibc keep chunk-sized buffers instead of handing each back to the kernel.

    The converter allocates and frees buffers of 4-32 MB for every chunk (text, masks,
    offsets). By default glibc serves each from a fresh mmap and trims freed heap at
    128 KB, so every chunk faults its pages in again: about 530,000 page faults and
    2 CPU seconds on a 300 MB CSV. With chunk-sized buffers on the heap, up to 64 MB kept
    free per arena and two arenas for the converter's threads, that falls to about
    65,000-110,000 faults. Process-wide and once; a libc without mallopt (musl, macOS) is
    left as it is; Arrow then allocates apart (``_arrow_pool``). Returns whether it applied."""
    global _tuned
    if _tuned:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None or not hasattr(libc, "gnu_get_libc_version"):
        return False
    _tuned = all(mallopt(param, value) == 1 for param, value in _ALLOCATOR)
    if _tuned and "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        _arrow_pool()
    return _tuned


def _arrow_pool() -> None:
    """Arrow's buffers from jemalloc, apart from the glibc heap, when pyarrow has it.

    Arrow allocates buffers of every size from every converter thread (reader, casts,
    Parquet encoder). On the tuned glibc heap they fragmented it with the numpy and Python
    objects: a 1 GB CSV read in one pass peaked at 719 MiB. With jemalloc it peaks at
    about 500 MiB. mimalloc, Arrow's default, keeps freed pages in each thread's own heap
    (about 90 MB more at that peak). Freed pages go back to the kernel after 5 s rather
    than 1 s: a third fewer page faults (~210,000 against ~320,000 at 300 MB), for a few MB."""
    import pyarrow as pa

    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without it: the tuned glibc heap
        pool = pa.system_memory_pool()
    else:
        pa.jemalloc_set_decay_ms(_JEMALLOC_DECAY_MS)
    pa.set_memory_pool(pool)


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class _Watch:
    def __init__(self, limit_mb: int) -> None:
        self.limit_mb = limit_mb
        self.limit = rss_bytes() + limit_mb * 2**20
        self.over = False
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="convert-memory-watch", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(_POLL_SECONDS):
            rss = rss_bytes()
            self.peak = max(self.peak, rss)
            if rss > self.limit:
                self.over = True


@contextmanager
def memory_budget(limit_mb: int):
    """Watch this process's memory while the block runs (nested calls share the outer watch)."""
    if getattr(_state, "watch", None) is not None:
        yield _state.watch
        return
    tune_allocator()
    watch = _Watch(limit_mb)
    _state.watch = watch
    watch.thread.start()
    try:
        yield watch
    finally:
        watch.stop.set()
        watch.thread.join()
        _state.watch = None


def check_memory() -> None:
    """Refuse when the budget was passed (called between blocks)."""
    watch = getattr(_state, "watch", None)
    if watch is not None and (watch.over or rss_bytes() > watch.limit):
        raise RefusedFile("size", f"limit max_memory_mb: the conversion needed more than {watch.limit_mb} MB")
