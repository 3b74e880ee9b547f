"""Placeholder replaced by the real Typer app."""


def main() -> None:
    print("tsgate")
