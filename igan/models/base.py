"""The model contract: what every generator and discriminator declares for the rest of igan.

A new model is one file with a :class:`Generator` and a :class:`Discriminator` subclass, named in
a config by class path (see docs/guide/adding_a_model.md). The rest of igan reads only this contract:

* ``name`` (class attribute): short id used in run names (``<dataset>-<name>-s<seed>``).
* ``image_size``, ``channels``: the image side and channel count. Both constructors must take
  them as arguments of these names: the CLI links them from ``data.image_size`` and ``data.channels``.
* ``latent_dim`` (generator only): the size of z, read by sampling, grids, metrics and the summary.
* ``init_args``: the constructor's arguments, recorded here automatically, so that a checkpoint
  stores the network as plain data (``{"class_path", "init_args"}``, :mod:`igan.models.spec`).

A layer whose fast forward cannot be differentiated twice (gradient penalties need that) says so
itself with a ``double_backward_path`` (see :func:`double_backward`); the training step enters
that hook on D, and knows no layer.

Shapes: G maps z of shape (B, latent_dim) to images (B, channels, image_size, image_size) in
[-1, 1] (end with tanh); D maps such images to one score per image, shape (B,) or (B, 1). The
attributes are checked when a network is built; the shapes when the CLI summarises the pair
(:func:`igan.models.summary.model_summary`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
from typing import Any, Iterator

from torch import nn

from igan.errors import IganError

#: The arguments the CLI links from the data module into both networks.
LINKED_ARGS = ("image_size", "channels")
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")


@contextlib.contextmanager
def double_backward(network: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Inside, ``network``'s forwards can be differentiated twice (WGAN-GP's and R1's penalties).

    A layer whose fast path has no double backward (fused kernels, such as
    :class:`igan.models.blocks.SelfAttention2d`'s attention) declares a class attribute
    ``double_backward_path``: a context manager factory under which its forwards take a path that
    can be. This enters each distinct one among ``network``'s modules, so that a training step
    calls this on D and needs to know no block. Enter it around the forwards a penalty
    differentiates, and only those: the other forwards keep the fast path. ``enabled=False``
    makes it a no-op (an enclosing block stays in force), for conditional use.
    """
    if not enabled:
        yield
        return
    paths = dict.fromkeys(type(m).double_backward_path for m in network.modules()
                          if hasattr(type(m), "double_backward_path"))
    with contextlib.ExitStack() as stack:
        for path in paths:
            stack.enter_context(path())
        yield


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class _Network(nn.Module):
    """What both roles share: ``name``, ``image_size``, ``channels`` and recorded ``init_args``."""

    #: Short lowercase id of the model, used in run names; every concrete class sets it.
    name: str
    _role = "network"
    #: Attributes the constructor must leave as positive ints.
    _required: tuple[str, ...] = ("image_size", "channels")

    image_size: int
    channels: int
    init_args: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Wrap the class's own __init__, or the base's when it inherits that one unwrapped.
        init = cls.__dict__.get("__init__", cls.__init__)
        if not getattr(init, "records_init_args", False):
            cls.__init__ = _recording_init(cls, init)

    def __init__(self, image_size: int, channels: int) -> None:
        super().__init__()
        self.image_size, self.channels = image_size, channels

    def _check_contract(self) -> None:
        """Raise one :class:`IganError` naming the class and what it does not declare."""
        cls = type(self)
        problems = []
        name = getattr(cls, "name", None)
        if not (isinstance(name, str) and _NAME.fullmatch(name)):
            problems.append(f"a class attribute name (a short lowercase id such as 'dcgan'), got {name!r}")
        for attr in self._required:
            value = getattr(self, attr, None)
            if not _positive_int(value):
                problems.append(f"self.{attr} as a positive int, got {value!r}")
        if problems:
            raise IganError(f"{cls.__qualname__} breaks the {self._role} contract "
                            f"(igan.models.base.{self._role}): it must set {'; '.join(problems)}")


def _recording_init(cls: type, init):
    """``init`` wrapped so that the outermost call records its arguments and checks the contract."""
    signature = inspect.signature(init)
    params = list(signature.parameters.values())[1:]  # without self
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        raise TypeError(f"{cls.__qualname__}.__init__ takes *args; a network's arguments must be named "
                        "(a checkpoint rebuilds it from keyword arguments)")
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
    missing = [a for a in LINKED_ARGS if a not in signature.parameters and not takes_any]
    if missing:
        raise TypeError(f"{cls.__qualname__}.__init__ must take {' and '.join(missing)}: "
                        "the CLI sets them from the data (data.image_size, data.channels)")

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if type(self).__init__ is not __init__:
            return  # a subclass's __init__ called this one through super(): it records its own arguments
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        recorded: dict[str, Any] = {}
        for key, value in list(bound.arguments.items())[1:]:
            if signature.parameters[key].kind is inspect.Parameter.VAR_KEYWORD:
                recorded.update(value)
            else:
                recorded[key] = value
        self.init_args = recorded
        self._check_contract()

    __init__.records_init_args = True
    return __init__


class Generator(_Network):
    """Base class of generators: z (B, latent_dim) -> images (B, channels, image_size, image_size) in [-1, 1].

    Subclasses set ``name``, take ``image_size`` and ``channels`` (linked from the data by the
    CLI) and call ``super().__init__(image_size, channels, latent_dim)``; their constructor
    arguments are recorded as ``init_args`` for checkpoints. Only named arguments (no ``*args``);
    their values must be plain data (numbers, strings, lists, dicts) that a config can hold.
    """

    _role = "Generator"
    _required = ("image_size", "channels", "latent_dim")
    latent_dim: int

    def __init__(self, image_size: int, channels: int, latent_dim: int) -> None:
        super().__init__(image_size, channels)
        self.latent_dim = latent_dim


class Discriminator(_Network):
    """Base class of discriminators: images (B, channels, image_size, image_size) -> scores (B,) or (B, 1).

    The scores are logits (or critic values for WGAN-GP), no sigmoid: the losses apply their own.
    Subclasses set ``name``, take ``image_size`` and ``channels`` and call
    ``super().__init__(image_size, channels)``; arguments are recorded as for :class:`Generator`.
    """

    _role = "Discriminator"
