"""`python -m tsrnn` runs the command line."""

from tsrnn_cli.main import main

main()
