"""The committed scheming schema is exactly what make_schema.py generates from fields.py."""

import importlib.util
from pathlib import Path

MAKE_SCHEMA = Path(__file__).resolve().parents[2] / "include" / "portal" / "make_schema.py"


def load_make_schema():
    spec = importlib.util.spec_from_file_location("make_schema", MAKE_SCHEMA)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_schema_matches_generator():
    make_schema = load_make_schema()
    committed = make_schema.OUTPUT.read_text(encoding="utf-8")
    assert committed == make_schema.render(), (
        "include/portal/gdc_dataset.json is stale: run python3 include/portal/make_schema.py")


def test_schema_covers_every_required_field():
    from harvesters.gdc.fields import DATASET_FIELDS

    schema = load_make_schema().build_schema()
    by_name = {f["field_name"]: f for f in schema["dataset_fields"]}
    for field in DATASET_FIELDS:
        assert field.name in by_name
        assert by_name[field.name].get("required", False) == field.required, field.name
        if field.has_other:
            assert f"{field.name}_other" in by_name
        if field.multiple:
            assert by_name[field.name]["preset"] == "multiple_checkbox"
