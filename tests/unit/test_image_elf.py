"""The busybox image needs a static busybox: told from the ELF header, without `file`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.lxd.image import ImageError, _dynamically_linked


def test_a_dynamic_executable_asks_for_an_interpreter_and_a_static_one_does_not(tmp_path):
    assert _dynamically_linked(Path(shutil.which("ls") or "/bin/ls"))
    if Path("/bin/busybox").exists():  # busybox-static
        assert not _dynamically_linked(Path("/bin/busybox"))
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(ImageError, match="not an ELF"):
        _dynamically_linked(script)
