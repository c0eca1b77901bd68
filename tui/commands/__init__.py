"""One module per noun of the CLI; each parses, calls core and prints."""
