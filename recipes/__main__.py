"""List every recipe with its one-line title and run command: ``python -m recipes``."""

import ast
import pathlib


def recipe_summaries(directory: pathlib.Path = pathlib.Path(__file__).parent):
    """(name, title, run command) read from each recipe's docstring header, without importing it."""
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        fields = {}
        for line in doc.splitlines():
            key, _, value = line.partition(":")
            if key in ("Title", "Run") and key not in fields:
                fields[key] = value.strip()
        yield path.stem, fields.get("Title", ""), fields.get("Run", f"python -m recipes.{path.stem}")


def main():
    rows = list(recipe_summaries())
    width = max(len(name) for name, _, _ in rows)
    print(f"{len(rows)} recipes (add --help to any run command for its flags):\n")
    for name, title, command in rows:
        print(f"{name:{width}s}  {title}\n{'':{width}s}  $ {command}")


if __name__ == "__main__":
    main()
