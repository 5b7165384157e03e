"""The command line's progress display: the hook ``harvesters.progress`` sends ticks to.

rich draws it (several items at once, known and unknown totals, redrawn in place on a
terminal); click's progressbar shows one bar at a time only. One line per item:
a download in bytes, a table's rows read and then written. Shown on stderr only,
when it is a terminal (or forced with ``harvest --progress``), never with --json.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from . import progress

LABELS = {"download": "download", "read": "convert: read", "write": "convert: write"}


def wanted(flag: bool | None, json_output: bool, stream=None) -> bool:
    """``harvest --progress`` forces it, ``--no-progress`` and ``--json`` turn it off; else: is stderr a terminal?"""
    if json_output or flag is False:
        return False
    if flag:
        return True
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def _amount(stage: str, done: int, total: int | None) -> str:
    from rich.filesize import decimal

    if progress.UNITS[stage] == "bytes":
        return decimal(done) + (f" / {decimal(total)}" if total is not None else "")
    return f"{done:,}" + (f" / {total:,}" if total is not None else "") + " rows"


@contextmanager
def shown(enabled: bool, stream=None) -> Iterator[None]:
    """Show the progress of the work inside the block on ``stream`` (stderr), when ``enabled``."""
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=stream or sys.stderr, force_terminal=True, highlight=False)
    bars = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[amount]}"),
                    TimeElapsedColumn(), console=console, transient=False, refresh_per_second=8)
    tasks: dict[tuple[str, str], int] = {}

    def hook(t: progress.Tick) -> None:
        key = (t.stage, t.item)
        if key not in tasks:
            # The CLI works on one item at a time: an item without a total is done when the next one starts.
            for task in bars.tasks:
                if task.total is None:
                    bars.update(task.id, total=task.completed)
            tasks[key] = bars.add_task(f"{LABELS[t.stage]} {t.item}", total=t.total, amount="")
        bars.update(tasks[key], completed=t.done, total=t.total, amount=_amount(t.stage, t.done, t.total))

    with bars, progress.reporting(hook):
        yield
