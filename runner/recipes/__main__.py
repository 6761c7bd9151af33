"""`python -m runner.recipes list | verify NAME|PATH [overrides] | export SWEEP_DIR`: the
command; its library is runner.recipes.book (list, verify) and runner.recipes.export."""

from __future__ import annotations

import argparse
import sys

from runner.core.safe_io import printable
from runner.recipes.book import list_recipes, verify
from runner.recipes.export import add_parser, export
from runner.recipes.files import RecipeError


def main(argv: list[str] | None = None) -> int:
    """CLI: list | verify NAME|PATH [overrides] | export SWEEP_DIR [--name N]."""
    p = argparse.ArgumentParser(prog="python -m runner.recipes", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="each recipe with its one-line promise")
    v = sub.add_parser("verify", help="re-run a recipe and check its promises")
    v.add_argument("recipe", help="a recipe name (in ./recipes) or a path")
    v.add_argument("overrides", nargs="*", help="e.g. cache_dir=... (your own settings)")
    add_parser(sub)
    args = p.parse_args(argv)
    try:
        if args.command == "list":
            print(printable("\n".join(list_recipes())))
            return 0
        if args.command == "verify":
            return verify(args.recipe, args.overrides)
        print(printable(f"wrote {export(args)}"))
        return 0
    except RecipeError as exc:
        print(printable(f"error: {exc}"), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
