"""Entry point: `wanprov` and `python -m wanprov`."""

from wanprov.commands.root import main

if __name__ == "__main__":
    main()
