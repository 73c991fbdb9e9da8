"""CPU time and peak memory of processes, and how busy the whole machine is, read from /proc
(psutil is not a dependency)."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after "pid (comm) " (comm may hold spaces): field 3 of proc(5) is [0]."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = _stat_fields(pid)
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a server and its workers: its own, its exited children's (which it has
    reaped, fields 16 and 17) and its live children's. PostgreSQL runs one process per
    connection; a connection that closes leaves its time in the postmaster's count."""
    fields = _stat_fields(pid)
    total = sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICKS
    for child in children(pid):
        try:
            total += cpu_seconds(child)
        except (FileNotFoundError, ProcessLookupError):  # it ended while we looked
            continue
    return total


def children(pid: int) -> list[int]:
    """The live processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry.name))[1]) == pid:  # field 4: ppid
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return found


def find_process(*words: str) -> int | None:
    """The first process whose command line contains every one of `words`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if all(word in command for word in words):
            return int(entry.name)
    return None


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used (all cores, since boot): the other
    engineers' work on a shared machine shows here and in no process of ours."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(value) for value in first[:8]]  # user nice system idle iowait irq softirq steal
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / _TICKS


def memory_bytes(pid: int, field: str = "VmHWM") -> int:
    """A memory line of /proc/<pid>/status in bytes: VmHWM is the peak resident set."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no {field} in /proc/{pid}/status")
