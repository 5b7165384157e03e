"""Fixtures of the integration tests that need more than the `services` stack."""

from __future__ import annotations

import pytest

import services as devstack  # include/devstack/services.py (on sys.path: tests/conftest.py)


@pytest.fixture(scope="session")
def dga_portal(services, services_state_dir):
    """A second CKAN site running DGA's own GD Catalog v2.1.0 schema: {"url", "token", "profile", ...}.

    Started lazily, only for the tests that ask for it (startup costs a database and a CKAN process);
    stopped by PID with the rest of the stack when the `services` fixture ends.
    """
    return devstack.start(services_state_dir, only=["ckan_dga"])["ckan_dga"]
