"""Siamese Lens entry point: the review workstation by default, headless commands by name (see --help)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from core.cli import parse, run_headless

    args = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "gui":
        if args.selftest:
            from core.selftest import run_selftest

            return run_selftest()
        from gui.app import run_app

        return run_app(args)
    return run_headless(args)


if __name__ == "__main__":
    sys.exit(main())
