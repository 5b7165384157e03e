"""Convert one agency file into clean CSV and typed Parquet tables.

    report = convert_file(Path("in.csv"), Path("out/"))

The path through the package: ``sniff`` (what are the bytes?) -> a reader from
``readers`` (grids whose rows arrive in blocks) -> ``engine.scan`` (spill, and
``table.find_layout``: title, header, body, footer; ``columns``: types) ->
``engine.check_personal_data`` (``pii``) -> ``engine.write`` (CSV, Parquet); a
delimited text is written during its scan when its head's guess holds (one pass).
Refusals raise :class:`~harvesters.errors.RefusedFile` with a reason word of
conversion-rules.md, and leave no ``.csv``/``.parquet`` behind.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Collection
from pathlib import Path

from .. import progress
from ..errors import RefusedFile
from . import engine
from .memory import memory_budget
from .options import ConvertOptions
from .readers import READERS
from .readers.select import choose_tables
from .readers.xlsx import UnreadableWorkbook
from .report import ColumnReport, ConversionReport, DroppedRows, TableReport, table_schema
from .sniff import STARS, Sniffed, extension_promises_table, refuse_unusable, sniff

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
    personal data (national IDs, mobile numbers, e-mail addresses); any other
    such column refuses the file.
    """
    path, out_dir = Path(path), Path(out_dir)
    options = options or ConvertOptions()
    allow_pii = set(allow_pii) | set(options.allow_pii)
    unknown = set(formats) - set(OUTPUT_FORMATS)
    if unknown:
        raise ValueError(f"unknown output formats: {sorted(unknown)}")
    try:
        with memory_budget(options.limits.max_memory_mb):
            return _convert(path, out_dir, name or path.stem, formats, csv_bom, allow_pii, options)
    except RefusedFile as exc:
        raise exc.with_context(source=source, file=str(path))


def _convert(
    path: Path, out_dir: Path, stem: str, formats: tuple[str, ...], csv_bom: bool, allow_pii: set[str],
    options: ConvertOptions,
) -> ConversionReport:
    sniffed = sniff(path)
    _refuse_unreadable(sniffed, path)
    with tempfile.TemporaryDirectory(prefix="harvest-convert-") as tmp:
        result = None
        found = []
        try:
            try:
                result = READERS[sniffed.kind](path, sniffed, options=options)
                for i, grid in enumerate(result.grids):
                    outputs = _read_once_outputs(out_dir, f"{safe_name(stem)}-t{i}", formats, csv_bom) \
                        if grid.reread_cheaply else None
                    scanned = engine.scan(grid, Path(tmp), f"t{i}", options.limits,
                                          _rows_ticker("read", _progress_item(stem, grid.name)), outputs)
                    if scanned is not None:
                        found.append((grid, scanned))
                    engine.release_memory()
            except UnreadableWorkbook as exc:
                raise RefusedFile("corrupt", f"unreadable {sniffed.kind} workbook ({exc})") from None
            if not found:
                raise RefusedFile("no table", f"nothing tabular in this {result.format} file")
            chosen = choose_tables(found, options.tables)
            for _grid, scanned in chosen:
                engine.check_personal_data(scanned, allow_pii)
            labels = _table_labels(stem, [g for g, _ in chosen])
            out_dir.mkdir(parents=True, exist_ok=True)
            reports = _write_all(out_dir, stem, list(zip(labels, chosen)), formats, csv_bom,
                                 single=len(chosen) == 1)
        finally:
            for cleanup in result.cleanup if result is not None else ():
                cleanup()
            for _grid, scanned in found:  # tables written while read, not chosen or not kept
                if scanned.outputs is not None:
                    scanned.outputs.discard()
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


def _read_once_outputs(out_dir: Path, base: str, formats: tuple[str, ...], csv_bom: bool) -> engine.Outputs:
    """Temporary names in ``out_dir`` for a table the engine may write while it reads it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return engine.Outputs(engine.temp_name(out_dir, base, "csv") if "csv" in formats else None,
                          engine.temp_name(out_dir, base, "parquet") if "parquet" in formats else None, csv_bom)


def _progress_item(stem: str, sheet: str | None) -> str:
    return f"{stem} ({sheet})" if sheet else stem


def _rows_ticker(stage: str, item: str, total: int | None = None):
    """``on_rows`` for the engine when a progress hook is installed (``harvesters.progress``), else None."""
    if not progress.active():
        return None
    return lambda rows: progress.tick(stage, item, rows, total)  # type: ignore[arg-type]


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


def _write_all(out_dir, stem, labelled, formats, csv_bom, *, single) -> list[TableReport]:
    """Write every table under temporary names, then rename them all: a failure
    half-way leaves no partial output."""
    pending: list[tuple[Path, Path]] = []
    reports = []
    try:
        for label, (grid, scanned) in labelled:
            base = label if single else f"{safe_name(stem)}__{label}"
            paths: dict[str, Path | None] = {"csv": None, "parquet": None, "schema": None}
            written = scanned.outputs  # the engine wrote this table while reading it
            for fmt in (*formats, "schema"):
                final = out_dir / (f"{base}.schema.json" if fmt == "schema" else f"{base}.{fmt}")
                temp = getattr(written, fmt) if written is not None and fmt != "schema" \
                    else engine.temp_name(out_dir, base, fmt)
                pending.append((temp, final))
                paths[fmt] = final
            report = _table_report(label, grid, scanned, paths)
            ticker = _rows_ticker("write", base, report.rows_written)
            if written is None:
                engine.write(scanned, engine.temp_name(out_dir, base, "csv") if "csv" in formats else None,
                             engine.temp_name(out_dir, base, "parquet") if "parquet" in formats else None, csv_bom,
                             ticker)
            elif ticker is not None:
                ticker(report.rows_written)  # written while it was read
            engine.temp_name(out_dir, base, "schema").write_text(
                json.dumps(report.schema_, ensure_ascii=False, indent=1), encoding="utf-8")
            engine.release_memory()
            reports.append(report)
        for temp, final in pending:
            temp.replace(final)
    except BaseException:
        for temp, _ in pending:
            temp.unlink(missing_ok=True)
        raise
    return reports


def _table_report(label, grid, scanned, paths) -> TableReport:
    layout = scanned.layout
    column_reports = [
        ColumnReport(name=name, type=kind, null_markers=markers)
        for name, kind, markers in zip(scanned.names, scanned.types, scanned.nulls_read)
    ]
    return TableReport(
        name=label,
        csv=str(paths["csv"]) if paths["csv"] else None,
        parquet=str(paths["parquet"]) if paths["parquet"] else None,
        table_schema=str(paths["schema"]),
        sheet=grid.name,
        header_rows=layout.header_rows,
        title_rows=layout.title_rows,
        note_rows=layout.note_rows,
        footer_rows=layout.footer_rows,
        rows_read=layout.rows_read,
        rows_written=layout.rows_written,
        rows_dropped=[DroppedRows(reason=r, count=n) for r, n in sorted(layout.dropped.items())],
        columns=column_reports,
        schema=table_schema(column_reports),
    )
