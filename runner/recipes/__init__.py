"""Recipes, the shareable experiments: check a received one, write one from a record, list,
verify and export them (`python -m runner.recipes`).

A received recipe folder enters through `check.check` (composition without running anything,
every file and the composed result through runner.core.gate's allowlist); it raises
RecipeError in one line naming the file, the key and the fix.
"""

from runner.recipes.files import RecipeError

__all__ = ["RecipeError"]
