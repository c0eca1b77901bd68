"""The terminal face of prefer: the Typer CLI and the Textual annotation app."""
