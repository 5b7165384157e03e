"""Format readers. Each turns a file into raw grids (rows of cell values) and
knows nothing about headers or types; ``table.py`` finds the table afterwards.

To add a format: write ``readers/<format>.py`` with a ``read(path, sniffed,
options=None) -> ReadResult`` function and register it in ``READERS`` below.
Readers raise :class:`~harvesters.errors.RefusedFile` for what they refuse
(corrupt, encrypted, xxe, size, no table).
"""

from __future__ import annotations

from .base import Merge, RawGrid, ReadResult
from . import archive, delimited, html, jsondoc, ods, xls, xlsx, xmldoc

# sniffed kind -> reader. Kinds missing here are refused as "unsupported".
READERS = {
    "text": delimited.read,
    "xlsx": xlsx.read,
    "xlsm": xlsx.read,
    "xls": xls.read,
    "ods": ods.read,
    "html": html.read,
    "json": jsondoc.read,
    "xml": xmldoc.read,
    "zip": archive.read,
}

__all__ = ["Merge", "RawGrid", "ReadResult", "READERS"]
