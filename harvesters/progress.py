"""Progress of long work (downloads, conversion), for whoever wants to show it.

The core never prints progress. Code doing long work calls ``tick(...)``; it is a
no-op unless a caller installed a hook with ``reporting(hook)``. The command line
installs one (a progress display on a terminal, ``harvesters.cli_progress``);
Airflow tasks install none, so task logs never carry progress lines.

The hook lives in a context variable rather than in every function's signature,
so the stages, kinds and converter keep their plain signatures; it is read in the
thread that does the work (the converter's worker threads never tick).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

Stage = Literal["download", "read", "write"]
UNITS: dict[str, str] = {"download": "bytes", "read": "rows", "write": "rows"}


@dataclass(frozen=True)
class Tick:
    """One step of one item: ``done`` bytes (download) or rows (read, write) so far, of ``total`` when known."""

    stage: Stage
    item: str  # the file (its staged name) or table being worked on
    done: int
    total: int | None = None
    finished: bool = False


Hook = Callable[[Tick], None]
_hook: ContextVar[Hook | None] = ContextVar("harvest_progress", default=None)


@contextmanager
def reporting(hook: Hook | None) -> Iterator[None]:
    """Send every tick of the work done inside the block to ``hook`` (None: none)."""
    token = _hook.set(hook)
    try:
        yield
    finally:
        _hook.reset(token)


def active() -> bool:
    return _hook.get() is not None


def tick(stage: Stage, item: str, done: int, total: int | None = None, finished: bool = False) -> None:
    hook = _hook.get()
    if hook is not None:
        hook(Tick(stage, item, done, total, finished))
