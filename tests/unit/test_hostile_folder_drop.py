"""Fault-and-abuse suite, SSRF group (file side): a folder drop reads nothing outside its folder.

Symlinks that lead out, broken symlinks and FIFOs are skipped with a reason and
never block the other files; a drop folder that is itself a link out of the
deployment's roots is refused.
"""

from __future__ import annotations

import logging
import os

import pytest

from harvesters.errors import FinalError
from harvesters.kinds.folder_drop import FolderDropSource
from tests.unit.test_kind_drops import context


@pytest.fixture()
def drop(tmp_path, monkeypatch):
    root = tmp_path / "roots" / "agency"
    root.mkdir(parents=True)
    monkeypatch.setenv("HARVEST_DROP_ROOTS", str(tmp_path / "roots"))
    (root / "good.csv").write_bytes(b"a,b\n1,2\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_bytes(b"secret,data\n1,2\n")
    return root, outside


def gathered(root) -> set[str]:
    src = FolderDropSource(kind="folder_drop", path=str(root))
    return {f.locator["path"] for f in src.gather(context())}


def test_a_symlink_leading_out_of_the_folder_is_skipped_with_a_reason(drop, caplog):
    root, outside = drop
    (root / "escape.csv").symlink_to(outside / "secret.csv")
    (root / "passwd.csv").symlink_to("/etc/passwd")
    with caplog.at_level(logging.WARNING):
        assert gathered(root) == {"good.csv"}
    assert "escape.csv: a symlink leading outside the drop folder" in caplog.text
    assert "passwd.csv: a symlink leading outside the drop folder" in caplog.text


def test_a_relative_dotdot_symlink_is_judged_by_where_it_leads(drop):
    root, _ = drop
    (root / "up.csv").symlink_to("../../outside/secret.csv")
    assert gathered(root) == {"good.csv"}


def test_a_symlinked_subfolder_leading_out_is_not_walked(drop):
    root, outside = drop
    (root / "linked").symlink_to(outside, target_is_directory=True)
    assert gathered(root) == {"good.csv"}


def test_a_symlink_inside_the_folder_is_harvested(drop):
    root, _ = drop
    (root / "sub").mkdir()
    (root / "sub" / "real.csv").write_bytes(b"x\n1\n")
    (root / "alias.csv").symlink_to(root / "sub" / "real.csv")
    assert gathered(root) == {"good.csv", "sub/real.csv", "alias.csv"}


def test_a_broken_symlink_skips_that_file_and_not_the_drop(drop, caplog):
    root, _ = drop
    (root / "gone.csv").symlink_to(root / "deleted.csv")
    with caplog.at_level(logging.WARNING):
        assert gathered(root) == {"good.csv"}
    assert "gone.csv: a broken symlink" in caplog.text


def test_a_fifo_is_skipped_rather_than_blocking_the_copy(drop, caplog):
    root, _ = drop
    os.mkfifo(root / "pipe.csv")
    with caplog.at_level(logging.WARNING):
        assert gathered(root) == {"good.csv"}
    assert "pipe.csv: not a regular file" in caplog.text


def test_a_file_swapped_for_an_outside_link_after_listing_is_not_read(drop, tmp_path):
    root, outside = drop
    src = FolderDropSource(kind="folder_drop", path=str(root))
    ctx = context()
    [remote] = src.gather(ctx)
    (root / "good.csv").unlink()
    (root / "good.csv").symlink_to(outside / "secret.csv")
    with pytest.raises(FinalError, match="symlink leading outside the drop folder"):
        src.fetch(remote, tmp_path / "fetched.csv", ctx)
    assert not (tmp_path / "fetched.csv").exists()


def test_a_drop_folder_that_is_a_link_out_of_the_roots_is_refused(drop, tmp_path):
    root, outside = drop
    link = root.parent / "sneaky"
    link.symlink_to(outside, target_is_directory=True)
    src = FolderDropSource(kind="folder_drop", path=str(link))  # the path itself is below a root
    with pytest.raises(FinalError, match="outside the drop roots this deployment allows"):
        src.gather(context())
