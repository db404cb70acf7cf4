"""Lazy imports of the G2P libraries: they are slow to import (jieba, inflect) or optional, so they load on first
use, and a missing one is a StudioError that names the package to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from studio.errors import StudioError


def need(module: str, package: str, language: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise StudioError(f"{language} text cannot be read: the Python package {package} is missing or broken ({e}).",
                          f"Install it into Voice Studio's environment: pip install {package}") from e
