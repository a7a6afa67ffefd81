"""``gmeta`` / ``python -m gmeta``: the command line (``gmeta --help``; see ``gmeta/cli.py``).
With no command it runs ``gmeta demo``."""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    from gmeta.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
