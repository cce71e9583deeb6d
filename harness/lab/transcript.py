"""What a learner typed on each host: one file per host, one line per command.

    TIME<TAB>STAGE<TAB>EXIT<TAB>COMMAND

TIME is seconds since the epoch, STAGE the lab's stage when it was typed ("" outside a
`harness lab`), EXIT the command's exit status. `harness shell` records through bash's
PROMPT_COMMAND, `harness exec` appends directly; `harness lab grade` replays them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".log"


@dataclass(frozen=True)
class Entry:
    time: float
    stage: str
    status: int | None
    command: str
    host: str = ""


def folder(work_root: Path, lab: str) -> Path:
    """Where the transcripts (and the current stage) of lab `lab` are kept."""
    return work_root / "transcripts" / lab


def stage_file(work_root: Path, lab: str) -> Path:
    return folder(work_root, lab) / "stage"


def current_stage(work_root: Path, lab: str) -> str:
    try:
        return stage_file(work_root, lab).read_text().strip()
    except OSError:
        return ""


def set_stage(work_root: Path, lab: str, stage: str) -> None:
    path = stage_file(work_root, lab)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stage + "\n")


def host_file(work_root: Path, lab: str, host: str) -> Path:
    return folder(work_root, lab) / f"{host}{SUFFIX}"


#: the lab verbs that change what a replay must do (start/reset rebuild, solve applies)
EVENTS = "_lab"


def record_event(work_root: Path, lab: str, stage: str, command: str) -> None:
    """`harness lab start/reset/solve`, kept beside the hosts' transcripts."""
    append(host_file(work_root, lab, EVENTS), stage, None, command)


def append(path: Path, stage: str, status: int | None, command: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = " ".join(command.replace("\t", " ").splitlines())
    with path.open("a") as out:
        out.write(f"{time.time():.6f}\t{stage}\t{'' if status is None else status}\t{flat}\n")


def read(path: Path, host: str = "") -> list[Entry]:
    entries = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t", 3)
        if len(parts) != 4:
            raise ValueError(f"{path}: not a transcript line (TIME, STAGE, EXIT, COMMAND "
                             f"separated by tabs): {line!r}")
        stamp, stage, status, command = parts
        when = float(stamp.replace(",", "."))  # bash's EPOCHREALTIME follows the locale
        entries.append(Entry(when, stage, int(status) if status else None, command,
                             host or path.stem))
    return entries


def read_folder(path: Path) -> list[Entry]:
    """Every host's transcript in a learner's folder (and the lab verbs they used), in the
    order they were typed."""
    entries = [e for file in sorted(path.glob(f"*{SUFFIX}")) for e in read(file)]
    return sorted(entries, key=lambda e: e.time)
