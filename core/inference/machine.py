"""The name of this computer's CPU: one definition for every cache key that depends on it.

Compiled AOT packages (core.inference.aot) and the cached choice of inference path
(core.inference.selector) are both only valid on the CPU that made them; a small module of
its own lets both use it without importing each other.
"""

from __future__ import annotations

import platform


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else what platform reports)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
