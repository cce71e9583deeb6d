import os
import shutil

import pytest

NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("lxd") is None,
    reason="needs root and Debian's lxd (run scripts/setup.sh as root)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("root"):
            item.add_marker(NEEDS_ROOT)
