"""Networks as plain data: ``{"class_path": ..., "init_args": {...}}``, the form LightningCLI uses.

Checkpoints store this spec instead of pickled modules, so ``sample.py`` rebuilds a generator
with ``torch.load(weights_only=True)``. A checkpoint never makes igan import code of its choosing:
only classes inside the ``igan`` package are built, and the model classes
(:class:`igan.models.base.Generator` / ``Discriminator``) of modules already imported, such as a
model outside ``igan`` whose config trained in this process.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from torch import nn

from igan.io.checkpoint_compat import upgraded_spec
from igan.errors import IganError
from igan.models.base import Discriminator, Generator


def spec_of(module: nn.Module) -> dict[str, Any]:
    """The spec that rebuilds ``module`` (its class and recorded constructor arguments)."""
    if not hasattr(module, "init_args"):
        raise IganError(f"{type(module).__qualname__} does not record its init_args: derive it from "
                        "igan.models.base.Generator or Discriminator (see docs/guide/adding_a_model.md)")
    cls = type(module)
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": dict(module.init_args)}


def build_from_spec(spec: dict[str, Any]) -> nn.Module:
    """Instantiate a network from its spec; refuses classes that are neither in ``igan`` nor already imported.

    Specs read from checkpoints go through :func:`igan.io.checkpoint_compat.upgraded_spec` first
    (:func:`build_saved`)."""
    try:
        class_path, init_args = spec["class_path"], dict(spec.get("init_args") or {})
    except (TypeError, KeyError, AttributeError) as err:
        raise IganError(f"not a network spec (needs class_path and init_args): {spec!r}") from err
    cls = _network_class(str(class_path))
    try:
        return cls(**init_args)
    except TypeError as err:
        raise IganError(f"cannot build {class_path} from {init_args}: {err}") from err


def _network_class(class_path: str) -> type:
    """The class ``class_path`` names: imported when inside ``igan``, else only if already imported."""
    module_name, _, class_name = class_path.rpartition(".")
    if module_name.startswith("igan."):
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as err:
            raise IganError(f"unknown network class {class_path}") from err
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise IganError(f"{class_path} is not a network")
        return cls
    module = sys.modules.get(module_name)
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, (Generator, Discriminator))):
        hint = f" (import {module_name} before loading it)" if module is None and module_name else ""
        raise IganError(f"refusing to build {class_path}: only igan.* networks, or Generator/Discriminator "
                        f"classes of a module already imported, are loaded from checkpoints{hint}")
    return cls


def build_saved(spec: dict[str, Any]) -> nn.Module:
    """The network of a spec read from a checkpoint, with the arguments it predates as they were."""
    return build_from_spec(upgraded_spec(spec))
