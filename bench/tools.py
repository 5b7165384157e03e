"""The programs the benchmark measures, one per subcommand; bench/run starts each in its own process.

    python bench/tools.py pyarrow|polars|duckdb SRC OUT     convert the generated cp874 CSV like a peer
    python bench/tools.py pandas-excel|calamine SRC          read every sheet of an XLS/XLSX
    python bench/tools.py validate PARQUET SUITE OUT         the pipeline's validation (harvesters.validate)
    python bench/tools.py dagbag DAGS_FOLDER                 parse the DAG folder as Airflow does
    python bench/tools.py publish SOURCE_FILE APPROVER       convert (untimed), then time prepare + publish

`harvest convert` itself is measured through its command line, not here. The peers
are what a data engineer would write by hand for the generated file's columns
(bench/generate_large_csv.py): drop the title, blank and ที่มา lines, Buddhist Era
d/m/yyyy dates to ISO dates, Thai digits and thousands separators to numbers, "-"
to null, trimmed text; then the same outputs as the converter (zstd Parquet + CSV).
Each prints one JSON line of its own figures last (bench/measure.py passes it on).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THAI_DIGITS = "๐๑๒๓๔๕๖๗๘๙"
HEADER_ROWS = 2  # the title line and the blank line above the header


def pyarrow_alone(src: str, out: str) -> dict:
    """Read + transcode + write, no cleaning: the floor a converter on Arrow can reach."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    reader = pacsv.open_csv(
        src,
        read_options=pacsv.ReadOptions(encoding="cp874", skip_rows=HEADER_ROWS),
        parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: "skip"),  # the ที่มา footer
    )
    rows = 0
    with pq.ParquetWriter(f"{out}/pyarrow.parquet", reader.schema, compression="zstd") as parquet, \
            pacsv.CSVWriter(f"{out}/pyarrow.csv", reader.schema) as csv:
        for batch in reader:
            parquet.write_batch(batch)
            csv.write_batch(batch)
            rows += batch.num_rows
    return {"rows": rows}


def polars_clean(src: str, out: str) -> dict:
    """Polars cannot decode cp874: Python's codec first, then Polars over UTF-8 bytes."""
    import polars as pl

    data = Path(src).read_bytes().decode("cp874").encode("utf-8")
    raw = pl.read_csv(data, skip_rows=HEADER_ROWS, infer_schema=False, truncate_ragged_lines=True)
    del data
    date = pl.col("วันที่ตรวจวัด").str.split_exact("/", 2)

    def nullable(name: str) -> pl.Expr:
        return pl.when(pl.col(name) == "-").then(None).otherwise(pl.col(name)).alias(name)

    table = raw.filter(pl.col("วันที่ตรวจวัด").is_not_null()).select(
        pl.col("รหัสสถานี"),
        pl.col("ชื่อสถานี").str.strip_chars(),
        pl.col("จังหวัด").str.strip_chars(),
        pl.date(date.struct.field("field_2").cast(pl.Int32) - 543,
                date.struct.field("field_1").cast(pl.Int32),
                date.struct.field("field_0").cast(pl.Int32)).alias("วันที่ตรวจวัด"),
        nullable("ปริมาณฝน (มม.)").cast(pl.Float64),
        pl.col("จำนวนครั้ง").str.replace_many(list(THAI_DIGITS), list("0123456789")).cast(pl.Int64),
        nullable("ผู้ใช้น้ำ (ราย)").str.replace_all(",", "").cast(pl.Int64),
        pl.col("อุณหภูมิ").cast(pl.Float64),
        nullable("สถานะ"),
    )
    table.write_parquet(f"{out}/polars.parquet", compression="zstd")
    table.write_csv(f"{out}/polars.csv")
    return {"rows": table.height}


DUCKDB_CLEAN = """
CREATE TABLE clean AS SELECT
    "รหัสสถานี",
    trim("ชื่อสถานี") AS "ชื่อสถานี",
    trim("จังหวัด") AS "จังหวัด",
    make_date(CAST(split_part("วันที่ตรวจวัด", '/', 3) AS INTEGER) - 543,
              CAST(split_part("วันที่ตรวจวัด", '/', 2) AS INTEGER),
              CAST(split_part("วันที่ตรวจวัด", '/', 1) AS INTEGER)) AS "วันที่ตรวจวัด",
    CAST(NULLIF("ปริมาณฝน (มม.)", '-') AS DOUBLE) AS "ปริมาณฝน (มม.)",
    CAST(translate("จำนวนครั้ง", '{thai}', '0123456789') AS BIGINT) AS "จำนวนครั้ง",
    CAST(NULLIF(replace("ผู้ใช้น้ำ (ราย)", ',', ''), '-') AS BIGINT) AS "ผู้ใช้น้ำ (ราย)",
    CAST("อุณหภูมิ" AS DOUBLE) AS "อุณหภูมิ",
    NULLIF("สถานะ", '-') AS "สถานะ"
FROM read_csv({src}, skip = {skip}, header = true, all_varchar = true, null_padding = true,
              delim = ',', quote = '"', strict_mode = false)
WHERE "วันที่ตรวจวัด" IS NOT NULL
"""


def duckdb_clean(src: str, out: str) -> dict:
    """DuckDB cannot decode cp874 (only through a slow extension): iconv feeds it UTF-8 through a pipe."""
    import duckdb

    with tempfile.TemporaryDirectory(prefix="bench-duckdb-") as work:
        fifo = Path(work) / "utf8.csv"
        os.mkfifo(fifo)
        # The shell opens the FIFO for writing, which blocks until DuckDB opens it for reading.
        feeder = subprocess.Popen(f"iconv -f CP874 -t UTF-8 '{src}' > '{fifo}'", shell=True)
        con = duckdb.connect()
        con.execute(DUCKDB_CLEAN.format(thai=THAI_DIGITS, src=f"'{fifo}'", skip=HEADER_ROWS))
        if feeder.wait():
            raise SystemExit("iconv failed")
        con.execute(f"COPY clean TO '{out}/duckdb.parquet' (FORMAT parquet, COMPRESSION zstd)")
        con.execute(f"COPY clean TO '{out}/duckdb.csv' (HEADER)")
        rows = con.execute("SELECT count(*) FROM clean").fetchone()[0]
    return {"rows": rows}


def pandas_excel(src: str) -> dict:
    """What users write by hand: pandas' default engine (openpyxl for XLSX, xlrd for XLS), every sheet."""
    import pandas as pd

    sheets = pd.read_excel(src, sheet_name=None, header=None)
    return {"sheets": len(sheets), "rows": sum(len(f) for f in sheets.values())}


def calamine(src: str) -> dict:
    """python-calamine, the fastest Excel reader for Python (Rust), every sheet to Python rows."""
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(src)
    rows = sum(len(book.get_sheet_by_name(name).to_python()) for name in book.sheet_names)
    return {"sheets": len(book.sheet_names), "rows": rows}


def validate(parquet: str, suite: str, out: str) -> dict:
    start = time.perf_counter()
    from harvesters.results import ConvertedTable
    from harvesters.validate import run_suite  # (timed apart: every validate task pays its imports once)

    imported = time.perf_counter()
    table = ConvertedTable(key="bench", title="bench", csv=None, parquet=parquet, rows=0, columns=[], table_schema={})
    summary = run_suite(table, Path(suite), Path(out) / "validation.json")
    return {"evaluated": summary.evaluated, "failed": len(summary.failed), "import_s": imported - start,
            "gx_imported": "great_expectations" in sys.modules}


def dagbag(folder: str) -> dict:
    """Parse the DAG folder in-process, as the DAG processor (or a worker starting a task) does."""
    start = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag

    imported = time.perf_counter()
    bag = DagBag(dag_folder=folder)
    parsed = time.perf_counter()
    errors = sorted({str(e).strip().splitlines()[-1][:160] for e in bag.import_errors.values()})
    return {"airflow_import_s": imported - start, "parse_s": parsed - imported, "dags": len(bag.dags),
            "import_errors": len(bag.import_errors), "first_error": errors[0] if errors else None}


def publish(source_file: str, approver: str) -> dict:
    """One dataset's prepare + publish to the portal, timed alone (gather, fetch, convert untimed)."""
    from harvesters import publishing, stages
    from harvesters.config import load_source
    from harvesters.portal import Portal, portal_settings
    from harvesters.settings import Settings
    from harvesters.staging import RunStaging, run_key

    cfg = load_source(Path(source_file)).config
    settings = Settings.from_env()
    portal = Portal(portal_settings())
    staging = RunStaging(settings.staging_dir, cfg.id, run_key())
    ctx = stages.context(cfg, settings)
    files = [stages.convert(cfg, stages.fetch(cfg, remote, staging, ctx), staging) for remote in stages.gather(cfg, ctx)]
    start = time.perf_counter()
    plan = publishing.prepare(cfg, files, [], portal)
    publishing.publish(cfg, files, [], portal, plan, approved_by=approver)
    return {"publish_s": time.perf_counter() - start,
            "bytes": sum(Path(t.csv).stat().st_size + Path(t.parquet).stat().st_size
                         for f in files for t in f.tables)}


TOOLS = {"pyarrow": pyarrow_alone, "polars": polars_clean, "duckdb": duckdb_clean,
         "pandas-excel": pandas_excel, "calamine": calamine, "validate": validate,
         "dagbag": dagbag, "publish": publish}

if __name__ == "__main__":
    print(json.dumps(TOOLS[sys.argv[1]](*sys.argv[2:]), default=str))
