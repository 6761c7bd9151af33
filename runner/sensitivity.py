"""`python -m runner.sensitivity`: the command; its library is runner.policy.sensitivity."""

import sys

from runner.policy.sensitivity import main

if __name__ == "__main__":
    sys.exit(main())
