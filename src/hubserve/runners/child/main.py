"""``python -m hubserve.runners.child.main --socket PATH --config JSON``: one runner process, on a socket."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time

from hubserve.protocol import RunnerConfig


def exit_with_parent() -> None:
    """Exit when the gateway that started us is gone, even if it was killed without a chance to stop us."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Start the runner; it exits when the gateway stops it, or when the gateway dies."""
    exit_with_parent()
    # The runner's own threads already fill the cores with forwards; tokenizers' worker pool would compete
    # with them, and the next batch's tokens would be late. Measured at 64 clients: tokenizing a batch
    # took 4.4 ms of wall time (median) with the pool and 1.8 ms without, and both forward threads were
    # busy 86% of the time against 93%. A value set by the user is kept.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = argparse.ArgumentParser(prog="hubserve-runner")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--config", required=True, help="the RunnerConfig the gateway hands down, as JSON")
    args = parser.parse_args(argv)
    config = RunnerConfig.from_json(args.config)
    logging.basicConfig(
        level=config.log_level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    # A spare runner imports only what every runner needs (its app, numpy); the runtime's libraries come
    # with the model, so an ONNX encoder's process never holds torch, nor a spare any runtime at all.
    import uvicorn

    from hubserve.runners.child.app import create_runner_app

    if os.path.exists(args.socket):
        os.unlink(args.socket)
    uvicorn.run(
        create_runner_app(config),
        uds=args.socket,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
