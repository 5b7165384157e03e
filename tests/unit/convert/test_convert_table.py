"""table.py: where the table is inside a grid."""

from harvesters.convert.readers.base import Merge, RawGrid
from harvesters.convert.table import find_table, make_unique


def grid(rows, merges=()):
    return RawGrid(rows=[list(r) for r in rows], merges=list(merges))


def test_title_blank_and_source_rows_are_dropped():
    t = find_table(grid([
        ["รายงานจำนวนผู้ป่วย ปี 2567", None, None],
        [None, None, None],
        ["จังหวัด", "วันที่", "จำนวน"],
        ["เชียงใหม่", "1/1/2567", "10"],
        [None, None, None],
        ["ลำพูน", "2/1/2567", "-"],
        ["ที่มา: กรมควบคุมโรค", None, None],
        ["หมายเหตุ: ข้อมูลเบื้องต้น", None, None],
    ]))
    assert t.names == ["จังหวัด", "วันที่", "จำนวน"]
    assert t.header_rows == [2]
    assert [r[0] for r in t.rows] == ["เชียงใหม่", "ลำพูน"]
    assert t.dropped == {"title": 1, "blank": 2, "footer": 2}
    assert t.rows_read == 8


def test_lone_cell_under_the_table_is_footer():
    t = find_table(grid([["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6"], ["Updated 2024"]]))
    assert len(t.rows) == 2 and t.dropped["footer"] == 1


def test_sparse_row_inside_data_is_kept():
    t = find_table(grid([["a", "b", "c"], ["x", "1", "2"], [None, "3", None], ["y", "4", "5"]]))
    assert len(t.rows) == 3


def test_two_level_csv_header_spans_blank_cells():
    t = find_table(grid([
        ["จังหวัด", "จำนวน (คัน)", "", ""],
        ["", "ปี 2565", "ปี 2566", "ปี 2567"],
        ["ตรัง", "1", "2", "3"],
    ]))
    assert t.names == ["จังหวัด", "จำนวน (คัน) - ปี 2565", "จำนวน (คัน) - ปี 2566", "จำนวน (คัน) - ปี 2567"]
    assert t.header_rows == [0, 1]


def test_merged_header_and_merged_data_cells():
    rows = [
        ["ภาค", "จังหวัด", "จำนวน", None],
        [None, None, 2566, 2567],
        ["เหนือ", "เชียงใหม่", 1, 2],
        [None, "ลำปาง", 3, 4],
    ]
    merges = [Merge(0, 0, 1, 0), Merge(0, 1, 1, 1), Merge(0, 2, 0, 3), Merge(2, 0, 3, 0)]
    t = find_table(grid(rows, merges))
    assert t.names == ["ภาค", "จังหวัด", "จำนวน - 2566", "จำนวน - 2567"]
    assert [r[0] for r in t.rows] == ["เหนือ", "เหนือ"]


def test_merged_title_does_not_become_the_header():
    rows = [["Title spanning everything", None, None, None], ["a", "b", "c", "d"], [1, 2, 3, 4]]
    t = find_table(grid(rows, [Merge(0, 0, 0, 3)]))
    assert t.names == ["a", "b", "c", "d"] and t.dropped["title"] == 1


def test_empty_columns_dropped_duplicates_unique_blank_names_filled():
    t = find_table(grid([
        ["x", None, " x ", "", "y\n z"],
        ["1", None, "2", "3", "4"],
    ]))
    assert t.names == ["x", "x_2", "column_4", "y z"]
    assert t.rows == [["1", "2", "3", "4"]]


def test_headerless_numeric_file_gets_generated_names():
    t = find_table(grid([["1", "null", "0"], ["2", "0", "null"], ["3", "null", "0"]]))
    assert t.header_rows == []
    assert t.names == ["column_1", "column_2", "column_3"]
    assert len(t.rows) == 3


def test_year_header_is_a_header():
    t = find_table(grid([["", "2565", "2566"], ["ตรัง", "1", "2"], ["สตูล", "3", "4"]]))
    assert t.names == ["column_1", "2565", "2566"]


def test_nothing_tabular():
    assert find_table(grid([])) is None
    assert find_table(grid([[None, ""], ["  "]])) is None
    assert find_table(grid([["a"]])) is None


def test_make_unique():
    assert make_unique(["a", "a", "a_2", "a"]) == ["a", "a_2", "a_2_2", "a_3"]
