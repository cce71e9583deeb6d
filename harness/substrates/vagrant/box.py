"""The Vagrant box: built locally by vagrant/box/build.sh (debootstrap; LXD, Open vSwitch,
dnsmasq, python3 + scapy baked in), cached in BOX_DIR and rebuilt only when the recipe changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.progress import progress
from harness.shell import run
from harness.substrates.base import SubstrateError
from harness.substrates.vagrant.cli import vagrant_env
from harness.substrates.vagrant.libvirtd import LIBVIRT_IMAGES, pidfile_alive

RECIPE_DIR = Path(__file__).resolve().parents[3] / "vagrant"
BOX_NAME = "harness/debian12"
BOX_DIR = Path(os.environ.get("HARNESS_BOX_DIR", "/var/cache/lxd-harness/boxes/debian12"))
BOX_FILE = "harness-debian12.box"


def recipe_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((RECIPE_DIR / "box").rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(RECIPE_DIR)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_box(box_dir: Path = BOX_DIR) -> float:
    """Build the box when absent or stale, and add it to Vagrant; return seconds spent building."""
    stamp = box_dir / "recipe.sha256"
    wanted = recipe_digest()
    with locked(box_dir.parent / f".{box_dir.name}.lock"):
        built = 0.0
        if not (stamp.exists() and stamp.read_text().strip() == wanted
                and (box_dir / BOX_FILE).exists()):
            progress.info("vagrant: building box %s (debootstrap, a few minutes)", BOX_NAME)
            started = time.monotonic()
            stamp.unlink(missing_ok=True)
            log_path = box_dir.parent / f"{box_dir.name}-build.log"
            with open(log_path, "wb") as out:
                proc = subprocess.run(["sh", str(RECIPE_DIR / "box" / "build.sh"), str(box_dir)],
                                      stdout=out, stderr=subprocess.STDOUT)
            if proc.returncode != 0:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise SubstrateError(f"box build failed (exit {proc.returncode}), "
                                     f"{log_path}:\n{tail}")
            built = time.monotonic() - started
            progress.info("vagrant: box built in %.0f s", built)
        added = box_dir / "vagrant-added.sha256"
        if not (added.exists() and added.read_text().strip() == wanted):
            _forget_old_box_volumes()
            run(["vagrant", "box", "add", "--force", "--name", BOX_NAME,
                 str(box_dir / BOX_FILE)], env=vagrant_env(), timeout=600, where="vagrant")
            added.write_text(wanted)
        stamp.write_text(wanted)
        return built


def _forget_old_box_volumes() -> None:
    """vagrant-libvirt keeps each uploaded box image in libvirt's pool (named after the box
    file's mtime); the images of an older box go, unless a running lab may still use one."""
    if pidfile_alive("libvirtd"):
        return  # VMs may be running on them: left for a later rebuild
    prefix = BOX_NAME.replace("/", "-VAGRANTSLASH-") + "_vagrant_box_image_"
    for image in LIBVIRT_IMAGES.glob(f"{prefix}*"):
        image.unlink(missing_ok=True)  # the pool is refreshed when libvirtd activates it
