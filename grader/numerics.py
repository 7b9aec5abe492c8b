"""The environment that makes every host compute the same bits for the same submission and seed.

Runners pass `PINNED_NUMERICS_ENV` to every attempt (the Docker sandbox, the local runner, the starter kit's
check.py), so a grade does not depend on which worker's CPU ran it:
- OPENBLAS_CORETYPE: OpenBLAS picks its matrix-product kernels by CPU, each family rounding differently,
  and falls back to old kernels on CPUs it does not know. Haswell's kernels (AVX2 and FMA, on every x86_64
  server of the last decade) give the course's numbers (reference_solutions/compat).
- NPY_DISABLE_CPU_FEATURES: NumPy picks SIMD code for its element-wise functions by CPU at run time, and its
  AVX-512 code rounds some of them (float64 sin, exp, log) differently. Naming every AVX-512 group keeps all
  hosts on the same AVX2 code; q1's sin targets do not come from the host at all (grader/kit's table).
  NumPy warns about the groups a CPU lacks (`NUMPY_FEATURE_WARNING`); the harness ignores that one warning.
Thread counts are not here: they follow each runner's CPU quota, and one thread is the rule.
"""

from __future__ import annotations

AVX512_GROUPS = ("AVX512F", "AVX512CD", "AVX512_KNL", "AVX512_KNM", "AVX512_SKX", "AVX512_CLX",
                 "AVX512_CNL", "AVX512_ICL")

PINNED_NUMERICS_ENV: dict[str, str] = {
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": " ".join(AVX512_GROUPS),
}

# The start of the RuntimeWarning NumPy raises for a disabled group the CPU does not have (a regex prefix).
NUMPY_FEATURE_WARNING = "During parsing environment variable 'NPY_DISABLE_CPU_FEATURES'"


def blas_thread_env(threads: int) -> dict[str, str]:
    """The variables every BLAS and OpenMP build reads for its thread count."""
    value = str(max(1, threads))
    return {name: value for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                     "NUMEXPR_NUM_THREADS")}
