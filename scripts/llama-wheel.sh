#!/usr/bin/env bash
# Print the path of a llama-cpp-python wheel built for this machine, building it first if none is cached.
# llama-cpp-python has no wheel on PyPI and compiles for 4-7 minutes; a cached wheel reinstalls in seconds.
# The cache is keyed by version, Python, architecture and CPU flags, because the build is for this CPU.
# On x86 the build names this CPU's vector extensions itself rather than -march=native, so that AMX is left
# out: on a CPU that has it (Sapphire Rapids and later), llama.cpp 0.3.36's AMX matmul segfaults on the
# first decode of a Q4_K model (gemma-3-270m), in ggml_backend_amx_mul_mat.
set -euo pipefail
VERSION="${LLAMA_CPP_VERSION:-0.3.36}"
PYTHON="${1:-python3}"
ROOT="${HUBSERVE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hubserve/wheels}"
pyver=$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
flags=$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null | sha256sum | cut -c1-12)
dir="$ROOT/llama-cpp-python-$VERSION-$pyver-$(uname -m)-$flags-noamx"
cpu_args() {
    if [ "$(uname -m)" != x86_64 ]; then
        echo "-DGGML_NATIVE=ON"
        return
    fi
    local have args="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
    have=" $(grep -m1 -E '^flags' /proc/cpuinfo | cut -d: -f2) "
    for pair in avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx_vnni:AVX_VNNI avx512f:AVX512 \
        avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16; do
        case "$have" in *" ${pair%%:*} "*) args="$args -DGGML_${pair#*:}=ON" ;; esac
    done
    echo "$args"
}
wheel=$(ls "$dir"/llama_cpp_python-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$wheel" ]; then
    echo "building llama-cpp-python $VERSION (about 5 minutes, once per machine)..." >&2
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # --no-cache-dir: pip's own wheel cache is keyed by the sdist alone, and would hand back a build made
    # with other CPU flags.
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" CMAKE_ARGS="${CMAKE_ARGS:-$(cpu_args)}" \
        "$PYTHON" -m pip wheel --quiet --no-cache-dir --no-deps "llama-cpp-python==$VERSION" -w "$tmp" >&2
    mkdir -p "$dir"
    built=$(ls "$tmp"/llama_cpp_python-*.whl)
    mv "$built" "$dir.partial.whl"
    mv "$dir.partial.whl" "$dir/$(basename "$built")"
    wheel="$dir/$(basename "$built")"
fi
echo "$wheel"
