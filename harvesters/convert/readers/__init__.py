"""Format readers. Each turns a file into raw grids (rows of cell values) and
knows nothing about headers or types; ``table.py`` finds the table afterwards.

To add a format: write ``readers/<format>.py`` with a ``read(path, sniffed) ->
ReadResult`` function and register it in ``READERS`` below.
"""

from __future__ import annotations

from .base import Merge, RawGrid, ReadResult
from . import delimited, xlsx

# sniffed kind -> reader. Kinds missing here are refused as "unsupported" for now.
READERS = {
    "text": delimited.read,
    "xlsx": xlsx.read,
    "xlsm": xlsx.read,
}

__all__ = ["Merge", "RawGrid", "ReadResult", "READERS"]
