"""The `segmail` command line: argument parsing and output only; work happens in jobs/ modules.

One module per command group registers its subcommands (`register`) and holds their bodies;
`app` holds the global options, dispatch and error handling, `context` what every command shares.
"""

from segmail.jobs.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
