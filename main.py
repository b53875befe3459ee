"""Siamese Lens entry point: the review workstation by default, headless commands by name (see --help)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from core.model.device import let_idle_threads_sleep

    let_idle_threads_sleep()  # the window and every command: before anything imports torch
    from cli.parser import parse

    args = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "gui":
        from gui.app import run_app

        return run_app(args)
    from cli.run import run_command

    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
