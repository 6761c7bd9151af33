"""`python -m runner.summarize`: the command; its library is runner.report.summary."""

import sys

from runner.report.summary import main

if __name__ == "__main__":
    sys.exit(main())
