"""The pip requirements of a fitted model, read from the objects it is made of.

MLflow's default infers them by importing the saved model in a subprocess and recording every
module it loads (about 4 s per registration). A fitted scikit-learn model says what it needs
more cheaply: the packages that define each object it holds (pipeline steps, their parameters,
functions passed to transformers, fitted attributes). Those packages, the ones scikit-learn
models always need to load (numpy, scipy, pandas, cloudpickle) and mlflow, pinned to the installed
versions, are what the model's `requirements.txt` lists. The gate's own package is not among them:
its functions in a model (the default pipeline's text conversion) are pickled by value
(`versions.register_model`), so a serving environment never needs a package no index serves.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

ALWAYS = ("mlflow", "cloudpickle", "numpy", "pandas", "scikit-learn", "scipy")
OWN = "retraining-gatekeeper"  # never required: the gate's own functions are pickled with the model
_ATOMIC = (str, bytes, int, float, complex, bool, type(None))


@lru_cache(maxsize=1)
def _distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _modules(obj: Any, seen: set[int], depth: int = 0) -> Iterable[str]:
    """Top-level module names of the classes and functions reachable from `obj`."""
    if id(obj) in seen or depth > 32 or isinstance(obj, _ATOMIC):
        return
    seen.add(id(obj))
    module = getattr(obj, "__module__", None) if callable(obj) else type(obj).__module__
    if isinstance(module, str):
        yield module.split(".")[0]
    if isinstance(obj, dict):
        children: Iterable[Any] = obj.values()
    elif isinstance(obj, list | tuple | set | frozenset):
        children = obj
    elif hasattr(obj, "__dict__") and not callable(obj):
        children = vars(obj).values()
    else:
        children = ()
    for child in children:
        yield from _modules(child, seen, depth + 1)


def pip_requirements(model: Any) -> list[str]:
    """`name==version` for every installed distribution the model's objects come from, plus ALWAYS."""
    names = set(ALWAYS)
    known = _distributions()
    for module in set(_modules(model, set())):
        names.update(known.get(module, []))
    names.discard(OWN)
    pinned = []
    for name in sorted(names, key=str.lower):
        try:
            pinned.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pinned
