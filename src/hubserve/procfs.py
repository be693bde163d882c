"""What /proc tells of a process: its resident memory."""

from __future__ import annotations


def rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of a process, from /proc (0 where /proc is missing)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0
