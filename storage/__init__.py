"""History in ClickHouse: one schema and one set of queries over chDB (embedded) or a server."""
