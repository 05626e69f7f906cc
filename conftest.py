"""`pytester` serves the project's own plugin tests; the safety plugin itself loads through its pytest11 entry point."""

pytest_plugins = ["pytester"]
