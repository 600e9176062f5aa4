"""Built-in model servers and the launcher."""
