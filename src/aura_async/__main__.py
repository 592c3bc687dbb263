"""``python -m aura_async``: the ``aura-async`` command."""

from aura_async.cli import main

if __name__ == "__main__":
    main()
