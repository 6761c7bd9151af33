"""Declarative quantization sweeps: model x precision x method x target on your own data.

The Python API (runner.api), imported on first use so `import runner` stays instant:
`runner.run(overrides)` -> the result record, `runner.sweep(overrides)` -> the sweep folder,
`runner.summarize(folder)` -> a DataFrame with one row per job and its verdict.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["run", "summarize", "sweep"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from runner import api

        return getattr(api, name)
    raise AttributeError(f"module 'runner' has no attribute {name!r}")
