"""The delivery queue: its contract, the SQLite implementation, its schema, WAL keeper and admin."""
