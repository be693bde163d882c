#!/usr/bin/env bash
# Install the benchmarks' peers, each into its own venv under $HUBSERVE_BENCH_PEERS
# (default ~/.cache/hubserve/bench-peers); a venv already complete is kept. Never touches the main venv.
#   infinity          infinity-emb's server (torch engine), the embeddings peer
#   llama-cpp-python  llama-cpp-python's OpenAI server, on the wheel scripts/llama-wheel.sh builds
#   llama-server      llama.cpp's own server engine, through the xllamacpp wheel
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
ROOT="${HUBSERVE_BENCH_PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/hubserve/bench-peers}"
TORCH_PIN="${TORCH_PIN:-torch==2.13.0}"

# peer NAME then one or more pip argument lists, separated by "--".
peer() {
    local name="$1" dir="$ROOT/$1"
    shift
    [ -f "$dir/.installed" ] && return 0
    echo "bench-peers: installing $name into $dir" >&2
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/pip" install --quiet --upgrade pip
    local args=()
    for arg in "$@" --; do
        if [ "$arg" = "--" ]; then
            "$dir/bin/pip" install --quiet "${args[@]}"
            args=()
        else
            args+=("$arg")
        fi
    done
    touch "$dir/.installed"
}

peer infinity "$TORCH_PIN" -- "infinity-emb[server,torch]==0.0.78"
peer llama-cpp-python "$(scripts/llama-wheel.sh "$PYTHON")" -- "sse-starlette>=2" "starlette-context>=0.3" \
    "pydantic-settings>=2" "fastapi>=0.115" "uvicorn>=0.30"
peer llama-server "xllamacpp==2026.10.11549"
echo "$ROOT"
