"""What is shipped into a VM to run the local substrate there (no internet in the VM)."""

from __future__ import annotations

import io
import tarfile

from harness.substrates.vagrant import inside


def test_the_runtime_dependencies_are_the_requirement_closure_without_extras():
    names = {dist.metadata["Name"].lower().replace("_", "-")
             for dist in inside.runtime_distributions()}
    assert {"pylxd", "pydantic", "pydantic-core", "scapy", "jinja2", "pyyaml"} <= names
    assert "lxd-netlab-harness" not in names  # shipped as source
    assert not {"hypothesis", "ruff", "jsonschema"} & names  # the dev extra


def test_the_bundle_has_the_source_the_dependencies_and_the_scenarios(monkeypatch):
    pyyaml = [d for d in inside.runtime_distributions() if d.metadata["Name"] == "PyYAML"]
    monkeypatch.setattr(inside, "runtime_distributions", lambda: pyyaml)
    data = inside.bundle({"00-a.yaml": b"name: a\n"})
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = tar.getnames()
        assert tar.extractfile("in/00-a.yaml").read() == b"name: a\n"
    assert "src/harness/cli.py" in names and "site/yaml/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("site/..", "/"))]
