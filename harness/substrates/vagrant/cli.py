"""Running Vagrant for one lab: in its work folder, inside the libvirt namespace.

Vagrant reaches the VMs' management addresses only inside LIBVIRT_NETNS, so every command
runs under `ip netns exec`. Output goes to the lab's vagrant.log; `ssh-config` and
`status --machine-readable` are parsed here (a few lines each: no library needed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from harness.substrates.vagrant.libvirtd import LIBVIRT_NETNS


def vagrant_env() -> dict[str, str]:
    return {"VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_DEFAULT_PROVIDER": "libvirt",
            "VAGRANT_NO_COLOR": "1", "VAGRANT_LOG": os.environ.get("VAGRANT_LOG", "warn")}


class VagrantCli:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.env = {**os.environ, **vagrant_env()}
        self.log = workdir / "vagrant.log"

    def argv(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", LIBVIRT_NETNS, shutil.which("vagrant") or "vagrant",
                *args]

    def output(self, *args: str) -> str:
        """stdout of `vagrant ARGS` (stderr to the log); CalledProcessError on failure."""
        with open(self.log, "a") as log:
            return subprocess.check_output(self.argv(*args), cwd=self.workdir, env=self.env,
                                           stderr=log, text=True)

    def call(self, *args: str) -> None:
        with open(self.log, "a") as log:
            subprocess.check_call(self.argv(*args), cwd=self.workdir, env=self.env,
                                  stdout=log, stderr=log)

    def ssh_config(self, vm: str) -> dict[str, str]:
        """`vagrant ssh-config VM` as {"HostName": ..., "Port": ..., "User": ..., ...}."""
        return parse_ssh_config(self.output("ssh-config", vm))

    def states(self) -> dict[str, str]:
        """VM name -> state ("running", "shutoff", "not_created", ...)."""
        return parse_states(self.output("status", "--machine-readable"))

    def destroy(self) -> None:
        self.call("destroy", "--force")


def parse_ssh_config(text: str) -> dict[str, str]:
    config: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key and not key.startswith("#") and key != "Host":
            config[key] = value.strip().strip('"')
    return config


def parse_states(text: str) -> dict[str, str]:
    """Lines "TIMESTAMP,TARGET,KIND,DATA": the `state` of every target."""
    states = {}
    for line in text.splitlines():
        fields = line.split(",", 3)
        if len(fields) == 4 and fields[2] == "state":
            states[fields[1]] = fields[3]
    return states
