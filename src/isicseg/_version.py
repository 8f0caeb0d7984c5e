"""The installed version of isicseg, in a module of its own so that any layer can read it without importing the package
facade."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("isicseg")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
