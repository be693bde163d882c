#!/usr/bin/env bash
# Print the path of a llama-cpp-python wheel built for this machine, building it first if none is cached.
# llama-cpp-python has no wheel on PyPI and compiles for 4-7 minutes; a cached wheel reinstalls in seconds.
# The cache is keyed by version, Python, architecture and CPU flags, because the build uses -march=native.
set -euo pipefail
VERSION="${LLAMA_CPP_VERSION:-0.3.36}"
PYTHON="${1:-python3}"
ROOT="${HUBSERVE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hubserve/wheels}"
pyver=$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
flags=$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null | sha256sum | cut -c1-12)
dir="$ROOT/llama-cpp-python-$VERSION-$pyver-$(uname -m)-$flags"
wheel=$(ls "$dir"/llama_cpp_python-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$wheel" ]; then
    echo "building llama-cpp-python $VERSION (about 5 minutes, once per machine)..." >&2
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}" \
        "$PYTHON" -m pip wheel --quiet --no-deps "llama-cpp-python==$VERSION" -w "$tmp" >&2
    mkdir -p "$dir"
    built=$(ls "$tmp"/llama_cpp_python-*.whl)
    mv "$built" "$dir.partial.whl"
    mv "$dir.partial.whl" "$dir/$(basename "$built")"
    wheel="$dir/$(basename "$built")"
fi
echo "$wheel"
