"""Recipes, the shareable experiments: check a received one, write one from a record, list,
verify and export them (`python -m runner.recipes`).

A received recipe folder enters through `check` (composition without running anything) and
`received.check_received` (what it may read and where it may write); both raise RecipeError.
"""

from runner.recipes.files import RecipeError

__all__ = ["RecipeError"]
