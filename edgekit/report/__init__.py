"""report.json schema, Markdown rendering."""
