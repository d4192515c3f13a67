"""Great Expectations suites, one JSON per dataset, and the code that builds, loads and runs them.

`build.build_suite` turns a spec (and a reference frame) into a suite; `check.load_suite`,
`check.validate_frame`, `check.summary_markdown` and `check.raise_for_failures` run it.
"""

from __future__ import annotations

_PUBLIC = {
    "build_suite": "expectations.build",
    "load_suite": "expectations.check",
    "validate_frame": "expectations.check",
    "summary_markdown": "expectations.check",
    "raise_for_failures": "expectations.check",
    "ValidationReport": "expectations.check",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    """Import lazily, so `python -m expectations.build` runs without importing the package twice."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'expectations' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_PUBLIC[name]), name)
