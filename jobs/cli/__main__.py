"""`python -m segmail.jobs.cli`: the same as the `segmail` console script."""

import sys

from segmail.jobs.cli import main

if __name__ == "__main__":
    sys.exit(main())
