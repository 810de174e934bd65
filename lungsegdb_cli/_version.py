"""The package version, in a module of its own so any module can name it without importing the
package's public face (``lungsegdb_cli/__init__.py`` sits above everything)."""

__version__ = "0.1.0"
