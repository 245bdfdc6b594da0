"""The `tsrnn` command line: a thin Typer client of the `tsrnn` library (installed as tsrnn_cli)."""
