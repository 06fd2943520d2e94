"""``python -m feed_process.sim [flags]`` == ``live-monitor sim [flags]``."""

import sys

from shared.cli import main

if __name__ == "__main__":
    sys.exit(main(["sim", *sys.argv[1:]]))
