"""``python -m tsgate.cli``: the same as the ``tsgate`` command."""

from tsgate.cli.app import main

main()
