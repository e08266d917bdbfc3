"""``python -m mtlbook reproduce ...``: build the book (see :mod:`mtlbook.reproduce`)."""

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "reproduce":
        print("usage: python -m mtlbook reproduce [--out build] [--mode quick|full] [NOTEBOOK ...]",
              file=sys.stderr)
        return 2
    from mtlbook.reproduce import main as reproduce_main

    return reproduce_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
