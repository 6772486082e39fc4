"""Captioners: turn the clean image into the text stored in the JPEG.

Every captioner follows :class:`Captioner`: a ``name`` stored in the payload and a call that maps
a batch of RGB PIL images to one caption each. Build one by name::

    from jpegtext.captioner import default_captioner, get_captioner

    get_captioner("builtin")(images)      # offline, measured region colours, no weights
    get_captioner("blip-base")            # Salesforce BLIP base, pinned revision (local cache)
    get_captioner("hf:nlpconnect/vit-gpt2-image-captioning")  # any HF image-to-text model
    get_captioner("path/to/saved_model")  # a save_pretrained / hf download --local-dir folder
    default_captioner()                   # blip-base when cached, else builtin

Importing this package imports neither torch nor transformers; :class:`HFCaptioner` does, when
it is built.
"""

from __future__ import annotations

from jpegtext.captioner.base import (
    MAX_CAPTION_WORDS,
    Captioner,
    FixedCaptioner,
    count_words,
    truncate_words,
)
from jpegtext.captioner.builtin import BUILTIN_VOCABULARY, BuiltinCaptioner
from jpegtext.captioner.colour import name_colour
from jpegtext.captioner.hf import HFCaptioner, clean_caption, hub_offline, is_cached
from jpegtext.captioner.registry import (
    BLIP_BASE_ID,
    BLIP_BASE_REVISION,
    CaptionerFactory,
    default_captioner,
    get_captioner,
    list_captioners,
    register_captioner,
)

__all__ = [
    "BLIP_BASE_ID",
    "BLIP_BASE_REVISION",
    "BUILTIN_VOCABULARY",
    "MAX_CAPTION_WORDS",
    "BuiltinCaptioner",
    "Captioner",
    "CaptionerFactory",
    "FixedCaptioner",
    "HFCaptioner",
    "clean_caption",
    "count_words",
    "default_captioner",
    "get_captioner",
    "hub_offline",
    "is_cached",
    "list_captioners",
    "name_colour",
    "register_captioner",
    "truncate_words",
]
