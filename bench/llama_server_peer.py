"""llama.cpp's own server (llama-server's engine, through the xllamacpp wheel) on loopback, for bench/chat.py.

Run: ``python -m bench.llama_server_peer MODEL.gguf --slots N --context TOKENS --threads T``. It prints the
URL it listens on, then serves until it is terminated. This is the peer as a user would run it: llama.cpp's
HTTP server with its OpenAI routes, its own batching and sampling, nothing of hubserve in between.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def main() -> None:
    """Start the engine and wait for SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--context", type=int, default=2048, help="tokens per slot")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = args.model
    params.n_parallel = args.slots
    params.n_ctx = args.context * args.slots
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.hostnames = ["127.0.0.1"]
    params.verbosity = 2
    server = xlc.Server(params)
    print(server.listening_address, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
