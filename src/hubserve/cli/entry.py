"""The ``hubserve`` command's entry point: a clear message where only the SDK is installed."""

from __future__ import annotations

import sys

SERVER_HINT = (
    "the hubserve command runs the server, whose packages are not installed here ({missing}).\n"
    "Install them with: pip install 'hubserve[server]'  (the SDK alone needs only: pip install hubserve)"
)


def main() -> int:
    """Run the CLI, or say what to install when the server's packages are missing."""
    try:
        from hubserve.cli.main import main as run
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] != "hubserve":
            print(f"hubserve: {SERVER_HINT.format(missing=exc.name)}", file=sys.stderr)
            return 2
        raise
    result: int = run()
    return result


if __name__ == "__main__":
    sys.exit(main())
