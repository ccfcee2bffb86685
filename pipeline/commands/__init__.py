"""typer sub-commands; `cli.py` assembles them into the `pipeline` command."""
