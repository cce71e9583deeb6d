import os

import pytest

from harness.substrates.runs import WORK_ROOT
from harness.substrates.vagrant.pool import pool_for, shutdown_all


@pytest.fixture(scope="session", autouse=True)
def vm_pool():
    """The VM pool every test here shares; every VM it booted is gone at the end."""
    yield pool_for(WORK_ROOT)
    assert shutdown_all() == []
    mine = [slot.id for slot in pool_for(WORK_ROOT).slots() if slot.owner_pid == os.getpid()]
    assert mine == []
