"""``python -m gmeta [demo]``."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="gmeta", description="TensorFlow 1.x graphs without "
                                "TensorFlow. Commands: demo (default).")
    p.add_argument("command", nargs="?", default="demo", choices=["demo"])
    args = p.parse_args(argv)
    if args.command == "demo":
        from gmeta import demo

        return demo.main()
    return 2


if __name__ == "__main__":
    sys.exit(main())
