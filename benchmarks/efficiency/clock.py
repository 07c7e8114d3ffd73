"""The core clock measured, not read: a chain of dependent integer adds retires one add per cycle, so adds per
second are cycles per second. A KVM guest's /proc/cpuinfo 'cpu MHz' is the nominal (TSC) rate and it has no
cpufreq, while the cores may boost above it; the peak edgekit reports then uses the lower clock."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

# 4 dependent adds per iteration (4 cycles); the loop counter runs in parallel on another port
SOURCE = r"""
#include <stdio.h>
#include <time.h>
int main(void) {
    unsigned long n = 300000000UL, x = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (unsigned long i = 0; i < n; i++)
        __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.4f %lu\n", 4.0 * n / ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9) / 1e9, x);
    return 0;
}
"""


def measured_ghz(work: Path, runs: int = 3) -> float | None:
    """The highest of ``runs`` measurements (the least disturbed by other processes); None without a C compiler or
    on a non-x86 CPU (the probe is x86 assembly)."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        return None
    work.mkdir(parents=True, exist_ok=True)
    source, binary = work / "clock.c", work / "clock"
    source.write_text(SOURCE)
    if subprocess.run([compiler, "-O2", str(source), "-o", str(binary)], capture_output=True, check=False).returncode != 0:
        return None
    found = [float(subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.split()[0])
             for _ in range(runs)]
    return max(found)
