"""The ``tsgate`` command (Typer), installed as the subpackage ``tsgate.cli``; see :mod:`tsgate.cli.app`."""
