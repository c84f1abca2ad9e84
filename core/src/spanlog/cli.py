"""The ``spanlog`` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spanlog`` command."""
    parser = argparse.ArgumentParser(prog="spanlog", description="Tracing for GenAI applications.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("demo", help="trace a small example app and print its trace trees")
    args = parser.parse_args(argv)
    if args.version:
        import spanlog

        print(spanlog.__version__)
        return 0
    if args.command == "demo":
        from spanlog.demo import main as demo_main

        return demo_main()
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
