"""The explicit captioner registry and the choice of the default captioner.

Names resolve in this order: a registered name (``builtin``, ``blip-base``, ``fixed``, and any
added with :func:`register_captioner`), ``hf:<hub id>[@<revision>]``, then an existing local
model directory. The registry is filled by the explicit calls at the bottom of this module,
never by import side effects elsewhere.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jpegtext.captioner.base import Captioner, FixedCaptioner
from jpegtext.captioner.builtin import BuiltinCaptioner
from jpegtext.captioner.hf import HFCaptioner, hub_cache_dir, is_cached
from jpegtext.errors import ConfigError, MissingDependencyError, WeightsError

__all__ = [
    "BLIP_BASE_ID",
    "BLIP_BASE_REVISION",
    "CaptionerFactory",
    "default_captioner",
    "get_captioner",
    "list_captioners",
    "register_captioner",
]

logger = logging.getLogger(__name__)

#: The default neural captioner: BLIP base fine-tuned on COCO (BSD-3-Clause), ~990 MB.
BLIP_BASE_ID = "Salesforce/blip-image-captioning-base"
#: Commit of ``BLIP_BASE_ID`` on the hub that jpegtext pins (the head of ``main`` found in
#: public code and cache snapshots; it could not be checked against the hub from the offline
#: build machines).
BLIP_BASE_REVISION = "82a37760796d32b1411fe092ab5d4e227313294b"

#: Builds a captioner from keyword arguments.
CaptionerFactory = Callable[..., Captioner]

_REGISTRY: dict[str, CaptionerFactory] = {}


def register_captioner(name: str, factory: CaptionerFactory) -> None:
    """Register ``factory`` under ``name``.

    Args:
        name: lower-case identifier without spaces, not starting with ``hf:``.
        factory: callable taking keyword arguments and returning a :class:`Captioner`.

    Raises:
        ConfigError: the name is invalid or already registered.
    """
    if (
        not isinstance(name, str)
        or not name
        or name != name.strip()
        or " " in name
        or name.lower() != name
        or name.startswith("hf:")
    ):
        raise ConfigError(
            f'Invalid captioner name "{name}", should be lower case without spaces and not '
            'start with "hf:"'
        )
    if name in _REGISTRY:
        raise ConfigError(f'captioner "{name}" is already registered')
    if not callable(factory):
        raise ConfigError(f'captioner factory for "{name}" is not callable')
    _REGISTRY[name] = factory


def list_captioners() -> list[str]:
    """Registered captioner names, sorted (``hf:<id>`` and directories are accepted too)."""
    return sorted(_REGISTRY)


def get_captioner(name: str, **kwargs: Any) -> Captioner:
    """Build the captioner called ``name``.

    Args:
        name: a registered name (:func:`list_captioners`), ``hf:<hub id>`` or
            ``hf:<hub id>@<revision>``, or a local model directory.
        **kwargs: passed to the captioner's constructor (e.g. ``device="cpu"``,
            ``max_words=12``, ``text=...`` for ``fixed``).

    Raises:
        ConfigError: unknown name (the message lists the known names that ``kwargs`` can
            build: ``fixed`` only with ``text=``) or bad keyword arguments.
        MissingWeightsError: an HF model that is not available locally while offline.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f'Invalid captioner name "{name}"')
    factory: CaptionerFactory
    if name in _REGISTRY:
        factory = _REGISTRY[name]
    elif name.startswith("hf:"):
        model, _, revision = name[3:].partition("@")
        if not model:
            raise ConfigError(f'Invalid captioner "{name}", should be hf:<hub id>[@<revision>]')
        factory = functools.partial(HFCaptioner, model, name=name, revision=revision or None)
    elif Path(name).expanduser().is_dir():
        factory = functools.partial(HFCaptioner, name)
    else:
        # Only names that these arguments can build: `fixed` needs text=..., so a CLI user
        # (no arguments) is not offered a name that would only fail on them.
        known = [n for n in list_captioners() if _accepts(_REGISTRY[n], kwargs)]
        known.append("hf:<hub id>[@<revision>]")
        raise ConfigError(
            f'unknown captioner "{name}"; known: {", ".join(known)}, or a local model directory'
        )
    _check_kwargs(factory, name, kwargs)
    return factory(**kwargs)


def default_captioner() -> Captioner:
    """The pinned BLIP base when its weights are in the local cache, else the built-in one.

    The decision reads only the local Hugging Face cache (no network, no transformers import),
    so it takes milliseconds when BLIP is absent. The choice is logged at INFO level; a cached
    BLIP that fails to load is logged as a warning and replaced by the built-in captioner.
    """
    start = time.perf_counter()
    if _transformers_installed() and is_cached(BLIP_BASE_ID, BLIP_BASE_REVISION):
        try:
            captioner = get_captioner("blip-base")
        except (WeightsError, MissingDependencyError) as exc:
            logger.warning("cached %s could not be loaded (%s); using builtin", BLIP_BASE_ID, exc)
        else:
            logger.info(
                "default captioner: blip-base (%s@%s from %s, %.1f s)",
                BLIP_BASE_ID,
                BLIP_BASE_REVISION[:12],
                hub_cache_dir(),
                time.perf_counter() - start,
            )
            return captioner
    else:
        logger.info(
            "default captioner: builtin (no cached %s@%s in %s)",
            BLIP_BASE_ID,
            BLIP_BASE_REVISION[:12],
            hub_cache_dir(),
        )
    return get_captioner("builtin")


def _transformers_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("transformers") is not None


def _accepts(factory: Callable[..., Any], kwargs: dict[str, Any]) -> bool:
    """Whether ``factory`` can be called with exactly ``kwargs`` (its signature binds them)."""
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError:
        return False
    return True


def _check_kwargs(factory: Callable[..., Any], name: str, kwargs: dict[str, Any]) -> None:
    """Reject keyword arguments the factory does not take, before building anything."""
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:
        raise ConfigError(f'bad arguments for captioner "{name}": {exc}') from None


register_captioner("builtin", BuiltinCaptioner)
register_captioner(
    "blip-base",
    functools.partial(HFCaptioner, BLIP_BASE_ID, revision=BLIP_BASE_REVISION, name="blip-base"),
)
register_captioner("fixed", FixedCaptioner)
