"""The busybox container image, built locally from Debian's busybox-static (no internet)."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
import tarfile
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pylxd

BUSYBOX = Path("/bin/busybox")
IMAGE_ALIAS = "busybox"
_DIRS = ["bin", "sbin", "usr/bin", "usr/sbin", "etc/init.d", "proc", "sys", "dev", "tmp", "run",
         "var/run", "root"]


class ImageError(RuntimeError):
    pass


def _static_busybox() -> Path:
    if not BUSYBOX.exists():
        raise ImageError(f"{BUSYBOX} is missing: install Debian's busybox-static")
    if _dynamically_linked(BUSYBOX):
        raise ImageError(f"{BUSYBOX} is dynamically linked: install busybox-static, not busybox")
    return BUSYBOX


def _dynamically_linked(path: Path) -> bool:
    """Does the ELF file ask for a program interpreter (PT_INTERP), i.e. a dynamic loader?
    (Read here: `file` is not installed everywhere, VMs included.)"""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        raise ImageError(f"{path} is not an ELF executable")
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    if wide:
        phoff, = struct.unpack_from(f"{order}Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(f"{order}HH", data, 0x36)
    else:
        phoff, = struct.unpack_from(f"{order}I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(f"{order}HH", data, 0x2A)
    return any(struct.unpack_from(f"{order}I", data, phoff + i * phentsize)[0] == 3
               for i in range(phnum))


def _applets(busybox: Path) -> list[str]:
    out = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.split() if line and "/" in line]


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def _asset(name: str) -> bytes:
    return resources.files("harness.lxd").joinpath("busybox", name).read_bytes()


def _metadata() -> bytes:
    return (
        "architecture: x86_64\n"
        f"creation_date: {int(time.time())}\n"
        "properties:\n"
        "  description: busybox (harness, built from busybox-static)\n"
        "  os: busybox\n"
        "  release: static\n"
        "templates:\n"
        "  /etc/hostname:\n"
        "    when: [create, copy, rename]\n"
        "    template: hostname.tpl\n"
    ).encode()


_ASSETS = ("init", "rcS", "rcK", "udhcpc.script")


def _recipe_digest() -> str:
    """Changes whenever the image would come out different: a new recipe means a new file."""
    digest = hashlib.sha256()
    for name in _ASSETS:
        digest.update(_asset(name))
    stat = BUSYBOX.stat() if BUSYBOX.exists() else None
    digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode() if stat else b"-")
    return digest.hexdigest()[:12]


def build_busybox_image(cache_dir: Path) -> Path:
    """Write a unified LXD image tarball (metadata + rootfs) once per recipe and cache folder."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"busybox-image-{_recipe_digest()}.tar.gz"
    if target.exists():
        return target
    busybox = _static_busybox()
    # per process: labs started side by side may both build it (the last rename wins)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
        _add_bytes(tar, "metadata.yaml", _metadata())
        _add_dir(tar, "templates")
        _add_bytes(tar, "templates/hostname.tpl", b"{{ container.name }}\n")
        _add_dir(tar, "rootfs")
        for folder in _DIRS:
            _add_dir(tar, f"rootfs/{folder}", 0o1777 if folder == "tmp" else 0o755)
        tar.add(busybox, arcname="rootfs/bin/busybox")
        for applet in _applets(busybox):
            applet = applet.lstrip("/")
            if applet in ("bin/busybox", "sbin/init"):
                continue
            link = tarfile.TarInfo(f"rootfs/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "/bin/busybox"
            tar.addfile(link)
        _add_bytes(tar, "rootfs/sbin/init", _asset("init"), 0o755)
        _add_bytes(tar, "rootfs/etc/init.d/rcK", _asset("rcK"), 0o755)
        _add_bytes(tar, "rootfs/etc/init.d/rcS", _asset("rcS"), 0o755)
        _add_bytes(tar, "rootfs/etc/udhcpc.script", _asset("udhcpc.script"), 0o755)
        _add_bytes(tar, "rootfs/etc/hostname", b"busybox\n")
        _add_bytes(tar, "rootfs/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        _add_bytes(tar, "rootfs/etc/group", b"root:x:0:\n")
        _add_bytes(tar, "rootfs/etc/resolv.conf", b"")
    os.replace(partial, target)
    return target


def ensure_image(client: pylxd.Client, tarball: Path) -> None:
    """Import the busybox image into a daemon under IMAGE_ALIAS, unless it has it already."""
    if any(alias["name"] == IMAGE_ALIAS for image in client.images.all()
           for alias in image.aliases):
        return
    created = client.images.create(tarball.read_bytes(), wait=True)
    created.add_alias(IMAGE_ALIAS, "busybox built by the harness")
