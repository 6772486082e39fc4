"""jpegtext: text-guided JPEG artifact reduction (TGJAR, Jiang et al., IJCAI 2023).

The public API takes and returns bytes so that transmission systems can use it directly::

    import jpegtext
    data = jpegtext.encode("photo.png", quality=1, caption="a red barn beside a pond")
    jpegtext.read_caption(data)      # 'a red barn beside a pond'
    jpegtext.inspect(data).quality   # 1

Heavy dependencies (torch, transformers) are imported only by the functions that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"
