# Fixtures and helpers live in conftest_e2e.py, importable by name from the tests.
from conftest_e2e import airflow_portal, monkeypatch_module  # noqa: F401
