import pytest


@pytest.fixture(scope="module")
def monkeypatch_module():
    """Environment changes that last for one test module (pytest's monkeypatch is per test)."""
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
