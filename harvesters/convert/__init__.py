"""Convert one agency file into clean CSV and typed Parquet tables.

    report = convert_file(Path("in.csv"), Path("out/"))

The path through the package: ``sniff`` (what are the bytes?) -> a reader from
``readers`` (raw grids) -> ``table.find_table`` (header, body, footer) ->
``normalize.infer_column`` (types) -> ``writers``. Refusals raise
:class:`~harvesters.errors.RefusedFile` with a reason word of
conversion-rules.md, and leave no ``.csv``/``.parquet`` behind.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Collection
from pathlib import Path

from ..errors import RefusedFile
from .options import ConvertOptions
from .normalize import Column, infer_column, looks_like_thai_ids
from .readers import READERS, RawGrid
from .readers.select import choose_tables
from .readers.xlsx import UnreadableWorkbook
from .report import ColumnReport, ConversionReport, DroppedRows, TableReport, table_schema
from .sniff import STARS, Sniffed, extension_promises_table, refuse_unusable, sniff
from .table import FoundTable, find_table
from .writers import write_csv, write_parquet

__all__ = ["convert_file", "ConversionReport", "TableReport"]

OUTPUT_FORMATS = ("csv", "parquet")
STARS_OUT = 3  # CSV and Parquet: open, machine-readable, non-proprietary
_NOT_TABLES = {"png", "pdf", "jpeg", "gif", "binary", "ole2", "document"}


def convert_file(
    path: Path,
    out_dir: Path,
    *,
    name: str | None = None,
    formats: tuple[str, ...] = OUTPUT_FORMATS,
    csv_bom: bool = False,
    source: str | None = None,
    allow_pii: Collection[str] = (),
    options: ConvertOptions | None = None,
) -> ConversionReport:
    """Write ``out_dir/<name>.csv`` and ``.parquet`` per table found in ``path``.

    ``allow_pii`` names columns the source's config declares allowed to hold
    Thai national ID numbers; any other such column refuses the file.
    """
    path, out_dir = Path(path), Path(out_dir)
    options = options or ConvertOptions()
    allow_pii = set(allow_pii) | set(options.allow_pii)
    unknown = set(formats) - set(OUTPUT_FORMATS)
    if unknown:
        raise ValueError(f"unknown output formats: {sorted(unknown)}")
    try:
        return _convert(path, out_dir, name or path.stem, formats, csv_bom, set(allow_pii), options)
    except RefusedFile as exc:
        raise exc.with_context(source=source, file=str(path))


def _convert(
    path: Path, out_dir: Path, stem: str, formats: tuple[str, ...], csv_bom: bool, allow_pii: set[str],
    options: ConvertOptions,
) -> ConversionReport:
    sniffed = sniff(path)
    _refuse_unreadable(sniffed, path)
    if sniffed.kind == "text":  # big delimited files stream in bounded memory (stream.py)
        from . import stream

        if stream.should_stream(path, options):
            try:
                return stream.convert_streaming(path, out_dir, stem, formats, csv_bom, allow_pii)
            except stream.NotStreamable:
                pass  # a file only the in-memory path reads exactly
    try:
        result = READERS[sniffed.kind](path, sniffed, options=options)
        grids = list(result.grids)
    except UnreadableWorkbook as exc:
        raise RefusedFile("corrupt", f"unreadable {sniffed.kind} workbook ({exc})") from None
    found = [(grid, table) for grid in grids if (table := find_table(grid)) is not None]
    if not found:
        raise RefusedFile("no table", f"nothing tabular in this {result.format} file")
    found = choose_tables(found, options.tables)

    labels = _table_labels(stem, [g for g, _ in found])
    typed = [(label, grid, table, _typed_columns(table, allow_pii)) for label, (grid, table) in zip(labels, found)]
    out_dir.mkdir(parents=True, exist_ok=True)
    reports = _write_all(out_dir, stem, typed, formats, csv_bom, single=len(typed) == 1)
    return ConversionReport(
        input=str(path),
        format=result.format,
        encoding=result.encoding,
        delimiter=result.delimiter,
        stars_in=result.stars_in or STARS.get(result.format, 3),
        stars_out=STARS_OUT,
        tables=reports,
        warnings=result.warnings,
    )


def _refuse_unreadable(sniffed: Sniffed, path: Path) -> None:
    refuse_unusable(sniffed)
    if sniffed.kind in _NOT_TABLES:
        if extension_promises_table(path):
            raise RefusedFile("type mismatch", f"the bytes are {sniffed.kind}, not {path.suffix}")
        raise RefusedFile("no table", f"{sniffed.kind} file holds no table we can read")
    if sniffed.kind not in READERS:
        raise RefusedFile("unsupported", f"{sniffed.kind} files are not converted yet")


def _typed_columns(table: FoundTable, allow_pii: set[str]) -> list[Column]:
    columns = []
    for i, name in enumerate(table.names):
        raw = [row[i] for row in table.rows]
        if name not in allow_pii and looks_like_thai_ids(raw):
            # Never echo the numbers: the message ends up in logs and the UI.
            raise RefusedFile("pii", f"column {name!r} holds Thai national ID numbers")
        columns.append(infer_column(name, raw))
    return columns


# --- output names and files ----------------------------------------------------------


def safe_name(text: str, fallback: str = "table") -> str:
    """A file-name-safe version of ``text`` that keeps Thai (letters, vowel and
    tone marks, digits) and replaces separators, spaces and punctuation."""
    text = unicodedata.normalize("NFC", text)
    kept = "".join(ch if unicodedata.category(ch)[0] in "LMN" or ch in "-_." else "_" for ch in text)
    kept = re.sub(r"_+", "_", kept).strip("._-")
    return kept[:80] or fallback  # 80 Thai characters are 240 bytes: under NAME_MAX


def _table_labels(stem: str, grids: list[RawGrid]) -> list[str]:
    if len(grids) == 1:
        return [safe_name(stem)]
    labels: list[str] = []
    for i, grid in enumerate(grids, start=1):
        label = safe_name(grid.name or "", fallback=f"t{i}")
        while label in labels:  # two sheets may clean up to the same name
            label = f"{label}_{i}"
        labels.append(label)
    return labels


def _write_all(out_dir, stem, typed, formats, csv_bom, *, single) -> list[TableReport]:
    """Write every table under temporary names, then rename them all: a failure
    half-way leaves no partial output."""
    pending: list[tuple[Path, Path]] = []
    reports = []
    try:
        for label, grid, table, columns in typed:
            base = label if single else f"{safe_name(stem)}__{label}"
            paths: dict[str, Path | None] = {"csv": None, "parquet": None}
            for fmt in formats:
                final = out_dir / f"{base}.{fmt}"
                temp = out_dir / f".{base}.{fmt}.tmp-{os.getpid()}"
                pending.append((temp, final))
                if fmt == "csv":
                    write_csv(temp, columns, bom=csv_bom)
                else:
                    write_parquet(temp, columns)
                paths[fmt] = final
            reports.append(_table_report(label, grid, table, columns, paths))
        for temp, final in pending:
            temp.replace(final)
    except BaseException:
        for temp, _ in pending:
            temp.unlink(missing_ok=True)
        raise
    return reports


def _table_report(label, grid, table: FoundTable, columns: list[Column], paths) -> TableReport:
    column_reports = [ColumnReport(name=c.name, type=c.type) for c in columns]
    return TableReport(
        name=label,
        csv=str(paths["csv"]) if paths["csv"] else None,
        parquet=str(paths["parquet"]) if paths["parquet"] else None,
        sheet=grid.name,
        header_rows=table.header_rows,
        rows_read=table.rows_read,
        rows_written=len(table.rows),
        rows_dropped=[DroppedRows(reason=r, count=n) for r, n in sorted(table.dropped.items())],
        columns=column_reports,
        schema=table_schema(column_reports),
    )
