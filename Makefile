# The two commands of the README. Both set everything up first (idempotent), as root.
.PHONY: tutorial test test-local test-vm test-vm-extra unit lint setup

# All tutorial scenarios on the local substrate; reports under reports/.
tutorial:
	scripts/setup.sh
	.venv/bin/harness run -j 2 scenarios/*.yaml --junit reports/junit.xml

# The test suite: unit tests, integration tests on real labs, every scenario via pytest on
# LXD and again on Incus, then the VM tier (three VMs under QEMU, booted once; 7-11 min here
# with the box cached, 3 more when it must be built).
test: test-local test-vm

test-local:
	scripts/setup.sh --test
	# labs a killed earlier run left behind (never touches others); what it cannot remove is
	# printed, and does not stop the tests
	-.venv/bin/harness gc
	.venv/bin/ruff check harness tests
	.venv/bin/pytest -n 2 -q tests scenarios -m "not vm and not vm_extra" --junitxml=reports/pytest.xml
	.venv/bin/pytest -n 2 -q scenarios --engine incus --junitxml=reports/pytest-incus.xml

unit:
	.venv/bin/pytest -q tests/unit

lint:
	.venv/bin/ruff check harness tests

test-vm:
	scripts/setup.sh --test
	.venv/bin/pytest -q -m "vm and not vm_extra" tests/vm --junitxml=reports/pytest-vm.xml

# Slower VM tests, not part of `make test`: the ssh substrate against VMs, the local
# substrate inside a VM.
test-vm-extra:
	scripts/setup.sh --test
	.venv/bin/pytest -q -m vm_extra tests/vm --junitxml=reports/pytest-vm-extra.xml
