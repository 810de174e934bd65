"""``python -m lungsegdb_cli`` works like the ``lungsegdb`` console script."""

from lungsegdb_cli.cli.entry import main

if __name__ == "__main__":
    main()
