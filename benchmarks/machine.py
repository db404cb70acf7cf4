"""The CPU a benchmark ran on, for its first line: figures from different CPUs are not comparable (AVX-512 with
bfloat16 instructions against AVX2 alone changed a synthesis eightfold), and "model name" alone can be as bare as
"AMD EPYC". Reads /proc/cpuinfo; no torch import (start-up benchmarks time that)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def _cpuinfo() -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():  # the first processor's block
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def vector_isa(flags: set[str]) -> str:
    if "avx512f" in flags:
        bf16 = "avx512_bf16" in flags or "amx_bf16" in flags
        return "AVX-512" + (" with bfloat16" if bf16 else ", bfloat16 emulated")
    if "avx2" in flags:
        return "AVX2, bfloat16 emulated"
    return "no AVX2"


def describe() -> str:
    """e.g. 'AMD EPYC (family 25 model 1), AVX2, bfloat16 emulated, 2 logical CPUs, Linux 6.1.0'"""
    info = _cpuinfo()
    name = info.get("model name") or platform.processor() or "unknown CPU"
    if "cpu family" in info:
        name += f" (family {info['cpu family']} model {info.get('model', '?')})"
    parts = [name]
    if "flags" in info:
        parts.append(vector_isa(set(info["flags"].split())))
    parts.append(f"{os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}")
    return ", ".join(parts)


if __name__ == "__main__":
    print(describe())
