"""local_folder: an s3:// folder as a local copy for tools that take only local paths, written back
when asked and only when the block completes; a local folder is used as it is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assets.shared.files import local_folder


def test_an_s3_folder_is_copied_down_and_written_back(s3, s3_prefix):
    s3.pipe_file(f"{s3_prefix}/run/a.txt", b"a")
    with local_folder(f"{s3_prefix}/run", write_back=True) as local:
        assert Path(local, "a.txt").read_text() == "a"
        Path(local, "checkpoints").mkdir()
        Path(local, "checkpoints", "epoch_1.pt").write_text("ckpt")
    assert not os.path.exists(local)
    assert s3.cat_file(f"{s3_prefix}/run/checkpoints/epoch_1.pt") == b"ckpt"
    assert s3.cat_file(f"{s3_prefix}/run/a.txt") == b"a"


def test_nothing_is_written_back_when_the_block_raises_or_is_read_only(s3, s3_prefix):
    with pytest.raises(RuntimeError), local_folder(f"{s3_prefix}/run", write_back=True) as local:
        Path(local, "half.pt").write_text("x")
        raise RuntimeError("killed")
    with local_folder(f"{s3_prefix}/run") as local:
        Path(local, "b.txt").write_text("b")
    assert not s3.exists(f"{s3_prefix}/run")


def test_a_local_folder_is_itself(tmp_path):
    with local_folder(str(tmp_path / "run"), write_back=True) as local:
        assert local == str(tmp_path / "run") and os.path.isdir(local)
