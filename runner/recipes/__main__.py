"""`python -m runner.recipes list | verify NAME | export SWEEP_DIR`."""

import sys

from runner.recipes.book import main

sys.exit(main())
