"""`harness shell` and `harness exec`: a learner on a host of a lab that is up.

The lab is found by name in the work folder (`harness up` and `harness lab start` both
record it); the substrate says how to reach the host (a namespace here, SSH for VMs).
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from harness import engines
from harness.lab import transcript
from harness.substrates.base import HostNode, Lab

RC_FILE = Path(__file__).with_name("shell_rc.sh")


class LabError(RuntimeError):
    """The lab or host asked for is not there; the message says what is."""


def labs_up(work_root: Path) -> list[str]:
    return sorted(p.stem for p in (work_root / "by-name").glob("*.json"))


def find_lab(work_root: Path, name: str | None) -> Lab:
    """The lab called `name`, or the only lab that is up."""
    up = labs_up(work_root)
    if name is None:
        if not up:
            raise LabError("no lab is up: start one with `harness lab start FILE` "
                           "(or `harness up FILE`)")
        if len(up) > 1:
            raise LabError(f"several labs are up ({', '.join(up)}): say which with --lab NAME")
        name = up[0]
    if name not in up:
        close = difflib.get_close_matches(name, up, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise LabError(f"lab {name!r} is not up{hint}; up: {', '.join(up) or 'none'}")
    state = json.loads((work_root / "by-name" / f"{name}.json").read_text())
    return Lab.load(Path(state["lab"]))


def host_node(lab: Lab, host: str) -> HostNode:
    if host not in lab.hosts:
        close = difflib.get_close_matches(host, list(lab.hosts), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise LabError(f"lab {lab.scenario} has no host {host!r}{hint}; hosts: "
                       f"{', '.join(lab.hosts)}")
    return lab.hosts[host]


def _env(work_root: Path, lab: Lab, host: str) -> dict[str, str]:
    folder = transcript.folder(work_root, lab.scenario)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "HARNESS_LAB": lab.scenario,
        "HARNESS_HOST": host,
        "HARNESS_TRANSCRIPT": str(transcript.host_file(work_root, lab.scenario, host)),
        "HARNESS_STAGE_FILE": str(transcript.stage_file(work_root, lab.scenario)),
        "HARNESS_HISTFILE": str(folder / f".{host}.history"),
    }


def _argv(work_root: Path, lab: Lab, host: str, command: list[str]) -> list[str]:
    from harness.substrates import make_substrate

    node = host_node(lab, host)
    substrate = make_substrate(lab.substrate, work_root)
    return substrate.interactive_argv(node, command, _env(work_root, lab, host))


def shell(work_root: Path, lab_name: str | None, host: str) -> int:
    """An interactive bash on the host; what is typed goes to the host's transcript."""
    lab = find_lab(work_root, lab_name)
    argv = _argv(work_root, lab, host, ["bash", "--rcfile", str(RC_FILE), "-i"])
    title = engines.get(lab.engine).title
    print(f"{lab.scenario}: a shell on {host} (`lxc` and `incus` talk to {host}'s {title}); "
          f"exit or Ctrl-D to leave", file=sys.stderr)
    return subprocess.call(argv)


def command_line(command: list[str]) -> str:
    """`exec HOST -- lxc list` and `exec HOST -- 'lxc list | grep app1'` as one bash line."""
    return command[0] if len(command) == 1 else shlex.join(command)


def exec_command(work_root: Path, lab_name: str | None, host: str, command: list[str]) -> int:
    """One command on the host through bash, output to this terminal; recorded."""
    if not command:
        raise LabError("nothing to run: harness exec HOST -- COMMAND...")
    lab = find_lab(work_root, lab_name)
    line = command_line(command)
    argv = _argv(work_root, lab, host, ["bash", "-c", line])
    status = subprocess.call(argv, env={**os.environ})
    transcript.append(transcript.host_file(work_root, lab.scenario, host),
                      transcript.current_stage(work_root, lab.scenario), status, line)
    return status
