"""The package's version: one line that pyproject.toml, `--version` and the Settings sheet read."""

__version__ = "0.1.0"
