"""The command line of training labs: `harness shell`, `harness exec`, `harness lab ...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.lab.hosts import LabError

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def work_root(args: argparse.Namespace) -> Path:
    from harness.substrates.runs import WORK_ROOT

    return Path(args.workdir) if getattr(args, "workdir", None) else WORK_ROOT


def _guarded(verb):
    """Lab and input errors end as one line on stderr and exit 2, never a traceback."""
    def run(args: argparse.Namespace) -> int:
        try:
            return verb(args)
        except LabError as exc:
            print(f"harness: {exc}", file=sys.stderr)
            return EXIT_INVALID
    return run


def cmd_shell(args: argparse.Namespace) -> int:
    from harness.lab.hosts import shell

    return shell(work_root(args), args.lab, args.host)


def cmd_exec(args: argparse.Namespace) -> int:
    from harness.lab.hosts import exec_command

    command = list(args.command)
    if "--" in command:  # options typed after HOST: `exec host1 --lab x -- lxc list`
        split = command.index("--")
        options = argparse.ArgumentParser(prog="harness exec", add_help=False)
        options.add_argument("--lab")
        options.add_argument("--workdir")
        given = options.parse_args(command[:split])
        args.lab = given.lab or args.lab
        args.workdir = given.workdir or args.workdir
        command = command[split + 1:]
    return exec_command(work_root(args), args.lab, args.host, command)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    def where(p: argparse.ArgumentParser) -> None:
        p.add_argument("--lab", metavar="NAME", help="which lab (default: the only one up)")
        p.add_argument("--workdir", help="work folder for labs (default /var/tmp/lxd-harness)")

    p = sub.add_parser("shell", help="a shell on a host of a lab that is up (lxc reaches its LXD)")
    p.add_argument("host", metavar="HOST")
    where(p)
    p.set_defaults(func=_guarded(cmd_shell))

    p = sub.add_parser("exec", help="one command on a host of a lab that is up: exec HOST -- CMD")
    p.add_argument("host", metavar="HOST")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND")
    where(p)
    p.set_defaults(func=_guarded(cmd_exec))
