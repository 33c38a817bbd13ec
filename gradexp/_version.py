"""The package version (one place: the package, provenance records and pyproject agree)."""

__version__ = "0.1.0"
