"""Root conftest: pytester for the plugin's outside-in tests."""

pytest_plugins = ["pytester"]
