"""`python -m aiserve` runs the CLI."""

from __future__ import annotations

from aiserve.cli.main import main

if __name__ == "__main__":
    main()
