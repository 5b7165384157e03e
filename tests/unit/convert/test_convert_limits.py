"""Limits (issue 11, "Resources"): each is configurable in ConvertOptions.limits,
and a file over one is refused with the reason word `size` and the limit's
name, leaving no .csv/.parquet and no spill file behind."""

import tempfile
from pathlib import Path

import openpyxl
import pytest

from harvesters.convert import convert_file
from harvesters.convert.memory import check_memory, memory_budget
from harvesters.convert.options import ConvertOptions, Limits
from harvesters.errors import RefusedFile


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """Temporary files (the engine's spill) go here, so the test sees what is left."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def refused_over(path, out, limit_name, scratch, **limits):
    with pytest.raises(RefusedFile) as info:
        convert_file(path, out, options=ConvertOptions(limits=Limits(**limits)))
    assert info.value.reason == "size" and limit_name in str(info.value), str(info.value)
    assert not out.exists() or not list(out.iterdir())
    assert not list(scratch.iterdir()), "spill files left behind"


def csv_file(tmp_path, rows, columns=3, name="data.csv"):
    path = tmp_path / name
    lines = [",".join(f"h{c}" for c in range(columns))]
    lines += [",".join(str(r * columns + c) for c in range(columns)) for r in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_defaults_are_safe_and_let_ordinary_files_through(tmp_path, scratch):
    limits = Limits()
    assert limits.max_columns == 16_384 and limits.max_memory_mb <= 1024
    report = convert_file(csv_file(tmp_path, 100), tmp_path / "out")
    assert report.tables[0].rows_written == 100
    assert not list(scratch.iterdir())


def test_rows(tmp_path, scratch):
    refused_over(csv_file(tmp_path, 100), tmp_path / "out", "max_rows", scratch, max_rows=50)


def test_columns(tmp_path, scratch):
    refused_over(csv_file(tmp_path, 3, columns=12), tmp_path / "out", "max_columns", scratch, max_columns=10)


def test_cells_per_sheet(tmp_path, scratch):
    refused_over(csv_file(tmp_path, 50, columns=4), tmp_path / "out", "max_cells", scratch, max_cells=100)


def test_line_length(tmp_path, scratch):
    path = tmp_path / "long.csv"
    path.write_text("a,b\n1," + "x" * 5000 + "\n2,3\n", encoding="utf-8")
    refused_over(path, tmp_path / "out", "max_line_bytes", scratch, max_line_bytes=1024)


def test_line_length_across_chunks(tmp_path, scratch):
    """A line longer than a whole read chunk (1 MiB) without a line break."""
    path = tmp_path / "endless.csv"
    path.write_bytes(b"a,b\n1," + b"x" * (3 * 2**20) + b"\n")
    refused_over(path, tmp_path / "out", "max_line_bytes", scratch, max_line_bytes=2**20)


def test_merged_ranges_of_a_workbook(tmp_path, scratch):
    path = tmp_path / "merged.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in range(1, 11):
        ws.append([f"r{r}", None, r])
        ws.merge_cells(f"A{r}:B{r}")
    wb.save(path)
    refused_over(path, tmp_path / "out", "max_merged_ranges", scratch, max_merged_ranges=5)


def test_members_of_a_workbook_container(tmp_path, scratch):
    path = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["a", "b"])
    wb.active.append([1, 2])
    wb.save(path)
    refused_over(path, tmp_path / "out", "max_members", scratch, max_members=3)


def test_memory_budget_is_watched_and_refuses():
    with memory_budget(64):
        check_memory()  # within budget
        ballast = bytearray(160 * 2**20)
        ballast[:: 4096] = b"x" * len(ballast[:: 4096])  # touch every page: resident
        with pytest.raises(RefusedFile) as info:
            check_memory()
        del ballast
    assert info.value.reason == "size" and "max_memory_mb" in str(info.value)
    check_memory()  # no budget outside the block


def test_fields_per_line_are_refused_before_columns_are_built(tmp_path, scratch):
    path = tmp_path / "wide.csv"
    path.write_text("a,b\n" + "," * 50_000 + "\n1,2\n", encoding="utf-8")
    refused_over(path, tmp_path / "out", "max_columns", scratch, max_columns=1000)


def test_shared_strings_table_of_a_workbook(tmp_path, scratch):
    fixture = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "messytables-horror"
    path = fixture / "bian-anal-mca-2005-dols-eng-1011-0312-tab3.xlsm"  # holds xl/sharedStrings.xml
    refused_over(path, tmp_path / "out", "max_strings_bytes", scratch, max_strings_bytes=1000)


def test_a_sheet_padded_to_the_last_column_streams_in_bounded_blocks(tmp_path, scratch, monkeypatch):
    """A cell in column XFD pads its row to 16,384 cells: the head and the blocks are cut by cells too."""
    from harvesters.convert.readers import xlsx

    monkeypatch.setattr(xlsx, "SPLIT_CELLS", 10_000)
    monkeypatch.setattr(xlsx, "BLOCK_CELLS", 10_000)
    seen = []
    real = xlsx._blocks
    monkeypatch.setattr(xlsx, "_blocks", lambda rows: (seen.append(len(b)) or b for b in real(rows)))
    path = tmp_path / "padded.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["a", "b"])
    for i in range(31):
        ws.append([i, i * 2])
    ws.cell(2, 16384, "far")
    wb.save(path)
    report = convert_file(path, tmp_path / "out")
    assert seen == [2, 30]  # the first block ends at the padded row
    assert report.tables[0].rows_written == 31


def test_the_allocator_keeps_chunk_sized_buffers_on_glibc():
    # This machine and the production image run glibc: the tuning must apply there
    # (without it every chunk faults its pages in again; bench/run shows the cost).
    import os
    import platform

    import pyarrow as pa

    from harvesters.convert import memory

    assert platform.libc_ver()[0] == "glibc"
    assert memory.tune_allocator() is True
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:  # Arrow allocates apart, from jemalloc (pyarrow's wheels have it)
        assert pa.default_memory_pool().backend_name == "jemalloc"
