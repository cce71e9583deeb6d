"""The local substrate inside a VM: scenarios run where the kernel has everything.

This machine's kernel may lack gretap, 802.1Q, the OVS datapath or vlan_filtering; a CI
runner or a user's machine has them. `run_inside` takes a VM from the vagrant substrate's
pool, ships the harness into it and runs `harness run --substrate local` there, as a CI job
would; the reports come back. The VM has no way to the internet: the harness's source and
its Python dependencies are shipped from this machine's own environment (the installed
distributions, files as listed in their RECORD), for the VM's python3 of the same minor
version (the box's Debian 12: 3.11).
"""

from __future__ import annotations

import importlib.metadata as metadata
import io
import re
import shlex
import sys
import tarfile
import time
from pathlib import Path

from packaging.requirements import Requirement

from harness.progress import progress
from harness.substrates.base import SubstrateError
from harness.substrates.remote import RemoteHost, SshTarget
from harness.substrates.runs import WORK_ROOT, new_run_id
from harness.substrates.vagrant.pool import Pool, pool_for

PROJECT = "lxd-netlab-harness"
HARNESS_SOURCE = Path(__file__).resolve().parents[2]  # .../harness
#: how long the scenarios may take in the VM, all of them
RUN_TIMEOUT = 3 * 3600


def runtime_distributions(root: str = PROJECT) -> list[metadata.Distribution]:
    """The installed distributions the harness needs at run time (its requirements, theirs,
    ...; no extras), without the harness itself."""
    found: dict[str, metadata.Distribution] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            raise SubstrateError(f"{name}, which the harness needs, is not installed here: "
                                 "run scripts/setup.sh") from exc
        found[key] = dist
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    found.pop(re.sub(r"[-_.]+", "-", root).lower(), None)
    return list(found.values())


def bundle(files: dict[str, bytes] | None = None) -> bytes:
    """tar.gz: `src/harness` (this source tree), `site/` (the runtime dependencies) and
    `files` (name -> content, under `in/`)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=3) as tar:
        tar.add(HARNESS_SOURCE, arcname="src/harness", filter=_no_bytecode)
        for dist in runtime_distributions():
            for entry in dist.files or []:
                path = Path(str(dist.locate_file(entry)))
                if "__pycache__" in entry.parts or entry.suffix == ".pyc" \
                        or ".." in entry.parts or not path.is_file():
                    continue  # bytecode, and scripts outside site-packages (bin/)
                tar.add(path, arcname=f"site/{entry}")
        for name, content in (files or {}).items():
            info = tarfile.TarInfo(f"in/{name}")
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _no_bytecode(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if "__pycache__" in info.name or info.name.endswith(".pyc") else info


def run_inside(files: list[Path], out_dir: Path, *, args: list[str] | None = None,
               work_root: Path = WORK_ROOT) -> Path:
    """Run `harness run --substrate local FILES ARGS` in a pool VM; its reports (summary.md,
    results.json, junit.xml, pcaps) go to `out_dir`, whose results.json is returned."""
    from harness.substrates.vagrant.substrate import prepare_vms  # (imports this package)

    run_id = new_run_id()
    driver = prepare_vms(work_root)
    pool: Pool = pool_for(work_root)
    slot = pool.acquire(run_id, {"runner": 1}, box=_box_digest(), driver=driver)[0]
    remote = RemoteHost(f"VM {slot.id}", SshTarget.from_dict(slot.ssh))
    folder = f"/var/tmp/harness-{run_id}"
    try:
        started = time.monotonic()
        wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
        found = remote.run(["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
                           ).stdout.strip()
        if found != wanted:
            raise SubstrateError(f"VM {slot.id} has Python {found}, this machine {wanted}: "
                                 "the dependencies shipped from here would not load there")
        names = {f"{i:02d}-{path.name}": path.read_bytes() for i, path in enumerate(files)}
        data = bundle(names)
        upload = f"/tmp/harness-{run_id}.tar.gz"  # the SSH user's; root unpacks it
        remote.put_bytes(data, upload)
        remote.run(["sh", "-c", 'mkdir -p "$1" && tar -xzf "$2" -C "$1" && rm "$2"',
                    "unpack", folder, upload], timeout=900)
        progress.info("VM %s: harness shipped (%.1f MB) in %.0f s", slot.id,
                      len(data) / 1e6, time.monotonic() - started)
        # The VM's own LXD is not needed (the local substrate starts one per host): its
        # memory is. Absolute paths: the harness's stand-in tools run from anywhere.
        remote.run(["systemctl", "stop", "lxd.socket", "lxd.service"], check=False)
        line = (f"cd {shlex.quote(folder)} && PYTHONPATH={folder}/site:{folder}/src "
                f"python3 -m harness.cli run --substrate local --out reports "
                f"{shlex.join(f'in/{n}' for n in names)} {shlex.join(args or [])} "
                f"> run.log 2>&1; echo $? > exit")
        progress.info("VM %s: harness run --substrate local %s", slot.id,
                      " ".join(p.name for p in files))
        remote.run(["sh", "-c", line], timeout=RUN_TIMEOUT)
        out_dir.mkdir(parents=True, exist_ok=True)
        archive = remote.run(["sh", "-c", f"cd {shlex.quote(folder)} && tar -czf - reports "
                              "run.log exit | base64 -w0"], timeout=600).stdout
        _unpack(archive, out_dir)
        results = out_dir / "reports" / "results.json"
        if not results.exists():
            log = (out_dir / "run.log").read_text(errors="replace")[-3000:]
            raise SubstrateError(f"VM {slot.id}: the harness wrote no results:\n{log}")
        return results
    finally:
        remote.close()
        pool.release(slot.id)


def _unpack(base64_tar: str, out_dir: Path) -> None:
    import base64

    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(base64_tar)), mode="r:gz") as tar:
        tar.extractall(out_dir, filter="data")


def _box_digest() -> str:
    from harness.substrates.vagrant.box import recipe_digest

    return recipe_digest()
