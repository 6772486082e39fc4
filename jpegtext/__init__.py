"""jpegtext: text-guided JPEG artifact reduction (TGJAR, Jiang et al., IJCAI 2023).

The public API takes and returns bytes so that transmission systems can use it directly::

    import jpegtext
    data = jpegtext.encode("photo.png", quality=1, caption="a red barn beside a pond")
    jpegtext.read_caption(data)      # 'a red barn beside a pond'
    jpegtext.inspect(data).quality   # 1
    restored = jpegtext.decode(data) # PIL image restored by the default TGJAR model

Heavy dependencies (torch, transformers) are imported only by the functions that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

# Public API, imported on first use so that `import jpegtext` (and the CLI's --help) stays light.
_LAZY_API = {
    "encode": "jpegtext.api",
    "read_caption": "jpegtext.api",
    "inspect": "jpegtext.api",
    "JpegInfo": "jpegtext.api",
    "decode": "jpegtext.receiver",
    "Restorer": "jpegtext.restore.runtime.inference",
    "load_restorer": "jpegtext.restore.runtime.zoo",
    "list_models": "jpegtext.restore.runtime.zoo",
}

__all__ = ["JpegInfo", "Restorer", "__version__", "decode", "encode", "inspect", "list_models",
           "load_restorer", "read_caption"]


def __getattr__(name: str) -> object:
    if name in _LAZY_API:
        import importlib

        value = getattr(importlib.import_module(_LAZY_API[name]), name)
        globals()[name] = value  # cache: later lookups skip this function
        return value
    raise AttributeError(f"module 'jpegtext' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_API))
