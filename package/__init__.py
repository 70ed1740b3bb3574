"""segmail: the one import root of the lifecycle-email engine.

The code lives in the top-level folders the project fixes (connector/, store/, segments/, sending/,
jobs/, sandbox/, templates/); pyproject.toml maps each to `segmail.<folder>` (setuptools package-dir),
so the repository keeps its shape and an installed segmail adds one name to site-packages, not seven.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("segmail")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
