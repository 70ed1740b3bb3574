"""One module per external system; each yields typed records and knows nothing of tables."""
