import pytest
from lab_helpers import make_work_root, remove_work_root


@pytest.fixture
def work_root():
    """A work folder of this test's own, removed with whatever labs it still holds."""
    root = make_work_root()
    yield root
    remove_work_root(root)
