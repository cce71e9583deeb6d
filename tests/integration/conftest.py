import secrets
import subprocess

import pytest
from lab_helpers import make_work_root, remove_work_root


@pytest.fixture
def work_root():
    """A work folder of this test's own, removed with whatever labs it still holds."""
    root = make_work_root()
    yield root
    remove_work_root(root)


@pytest.fixture
def scratch_netns():
    """A network namespace of this test's own, loopback up, deleted after it."""
    name = f"hl-{secrets.token_hex(3)}-scratch"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=False)
