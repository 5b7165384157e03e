"""``columns.fit_and_cast`` (the one pass: test a batch against its column's type and cast it
in one go) decides and casts exactly as ``Evidence.add`` followed by ``cast`` do."""

import pyarrow as pa
import pytest

from harvesters.convert import columns as C

HEADS = {
    "integer": ["1", "2", "๓", "1,000", "-"],
    "decimal": ["1.5", "2", "-0", "NA", "1,234.25"],
    "date": ["1/1/2567", "2024-02-29", "5 ม.ค. 67", "-"],
    "text": ["a", "1"],
    "boolean": [C.BOOL_TRUE, C.BOOL_FALSE],
}
BATCHES = [
    ["7", "๑๒", None, "-", "3,000,000"],
    ["7", "n/a", "#DIV/0!", None],
    ["7.25", "1e3", "-"],
    ["31/12/2566", "29/2/2566", None],
    ["1 มกราคม 2567", "2567-01-01"],
    ["ไม่ทราบ", "1"],
    ["99999999999999999999"],
    [C.BOOL_TRUE, None],
    [None, None, "-"],
]


@pytest.mark.parametrize("kind", list(HEADS))
@pytest.mark.parametrize("batch", BATCHES, ids=lambda b: "|".join(map(str, b)))
def test_fit_and_cast_is_evidence_then_cast(kind, batch):
    head = C.Evidence()
    head.add(pa.array(HEADS[kind], pa.string()))
    assert head.kind() == kind
    col = pa.array(batch, pa.string())

    separate = head.expecting(kind)
    separate.add(col)
    fits = kind == C.TEXT or kind in separate.possible

    fused = head.expecting(kind)
    got = C.fit_and_cast(col, kind, fused)
    assert (got is not None) is fits
    assert (fused.present, fused.markers, fused.marker_values) == \
        (separate.present, separate.markers, separate.marker_values)
    if fits:
        typed, text = C.cast(col, kind)
        assert got[0].equals(typed) and got[1].equals(text)
