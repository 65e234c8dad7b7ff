"""What this machine's CPU can do that changes how MedPairs runs on it, read without importing torch
(the code location's definitions import the modules that ask)."""

from __future__ import annotations

from functools import cache

# CPU flags (Linux's /proc/cpuinfo names) of native bfloat16 matrix arithmetic: AVX512-BF16's dot
# products and AMX's tiles. torch's CPU kernels (oneDNN) use either; without them bfloat16 is emulated
# and slower than float32.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@cache
def native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU multiplies bfloat16 natively (see BF16_FLAGS); False where cpuinfo cannot be read."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return bool(BF16_FLAGS & set(line.partition(":")[2].split()))
    except OSError:
        pass
    return False
