"""`python -m runner.compare`: the command; its library is runner.report.compare."""

import sys

from runner.report.compare import main

if __name__ == "__main__":
    sys.exit(main())
