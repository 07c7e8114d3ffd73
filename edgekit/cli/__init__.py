"""The edgekit command line: parses options, calls edgekit.api, renders, maps errors to exit codes."""
