"""Host health for the heartbeat: CPU, memory and the disk that holds the spool."""

from __future__ import annotations

from pathlib import Path

import psutil


def prime_cpu_percent() -> None:
    """psutil measures CPU between two calls; the first call only sets the baseline."""
    psutil.cpu_percent(interval=None)


def host_stats(data_dir: Path) -> dict[str, float]:
    return {
        "cpu_percent": psutil.cpu_percent(interval=None),
        "memory_percent": psutil.virtual_memory().percent,
        "disk_percent": psutil.disk_usage(str(data_dir)).percent,
    }
