"""Write the ckanext-scheming dataset schema the local test portal enforces.

The GD Catalog field registry (``harvesters/gdc/fields.py``) is the single
source of truth; ``harvesters/gdc/scheming.py`` turns it into a scheming schema
and this script writes it to ``include/portal/gdc_dataset.json``. Run
``python3 include/portal/make_schema.py`` after changing the registry and
commit the result (``tests/unit/test_portal_schema_file.py`` keeps them in step).

Standard library only (with the repository on sys.path), so it runs under any python3.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUTPUT = Path(__file__).resolve().with_name("gdc_dataset.json")

sys.path.insert(0, str(REPO))
from harvesters.gdc.scheming import build_schema, render  # noqa: E402,F401  (build_schema: for the tests)


def main() -> None:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
