"""`python -m runner.decide`: the command; its library is runner.policy.decide."""

import sys

from runner.policy.decide import main

if __name__ == "__main__":
    sys.exit(main())
