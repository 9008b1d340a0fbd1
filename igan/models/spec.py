"""Networks as plain data: ``{"class_path": ..., "init_args": {...}}``, the form LightningCLI uses.

Checkpoints store this spec instead of pickled modules, so ``sample.py`` rebuilds a generator
with ``torch.load(weights_only=True)``; only classes inside the ``igan`` package are built.
"""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from igan.errors import IganError


def spec_of(module: nn.Module) -> dict[str, Any]:
    """The spec that rebuilds ``module`` (its class and recorded constructor arguments)."""
    if not hasattr(module, "init_args"):
        raise TypeError(f"{type(module).__name__} does not record its init_args; build it from igan.models")
    cls = type(module)
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": dict(module.init_args)}


def build_from_spec(spec: dict[str, Any]) -> nn.Module:
    """Instantiate a network from its spec; refuses classes outside ``igan``."""
    try:
        class_path, init_args = spec["class_path"], dict(spec.get("init_args") or {})
    except (TypeError, KeyError) as err:
        raise IganError(f"not a network spec (needs class_path and init_args): {spec!r}") from err
    module_name, _, class_name = class_path.rpartition(".")
    if not module_name.startswith("igan."):
        raise IganError(f"refusing to build {class_path}: only igan.* networks are loaded from checkpoints")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as err:
        raise IganError(f"unknown network class {class_path}") from err
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise IganError(f"{class_path} is not a network")
    try:
        return cls(**init_args)
    except TypeError as err:
        raise IganError(f"cannot build {class_path} from {init_args}: {err}") from err
