"""reelmake: a build system for video."""

__version__ = "0.1.0"
