"""Golden values: the default model on the synthetic sample at QF 1 and 10 (CompressAI's habit).

The README's main job (``make_sample.py`` -> ``encode -q Q`` -> ``decode``) through the public API:
:func:`jpegtext.encode` with the default captioner, then :func:`jpegtext.decode` with the default
model on the CPU in fp32, untiled. PSNR (restored vs clean and restored vs the JPEG's pixels) and,
when the LPIPS trunk of ``../shared/weights`` is present, LPIPS must stay within stored bands of
``tests/golden/default_model.json``: tight enough that a changed model, caption or decode path
fails (a retrained default moves PSNR by tenths of a dB), loose enough for CPU/thread-count
rounding (measured: see ``bands`` in the file).

Regenerate (after a deliberate change of the default model or the decode path; say so in the
commit): ``pytest tests/test_golden.py --regen-golden`` or ``JPEGTEXT_REGEN_GOLDEN=1 pytest
tests/test_golden.py``.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parent / "golden" / "default_model.json"
QUALITIES = (1, 10)
#: half-widths of the accepted bands (PSNR in dB, LPIPS in its own units)
BANDS = {"psnr": 0.05, "psnr_vs_jpeg": 0.05, "jpeg_psnr": 0.01, "lpips": 0.003}


def golden_values(lpips_trunk: Path | None) -> dict[str, dict[str, Any]]:
    """What the stored file holds, computed now: per QF, the numbers and the caption.

    Args:
        lpips_trunk: the AlexNet trunk for LPIPS, or None to leave LPIPS out.
    """
    import jpegtext
    from jpegtext.codec import decode_jpeg
    from jpegtext.metrics import load_lpips, lpips_distance, psnr
    from jpegtext.restore.runtime.zoo import DEFAULT_MODEL
    from jpegtext.sample import make_sample_image

    clean_img = make_sample_image()
    clean = np.asarray(clean_img.convert("RGB"))
    metric = None if lpips_trunk is None else load_lpips("alex", lpips_trunk, "cpu")
    out: dict[str, dict[str, Any]] = {}
    for q in QUALITIES:
        data = jpegtext.encode(clean_img, q)
        jpeg = np.asarray(decode_jpeg(data))
        restored = jpegtext.decode(data, model=DEFAULT_MODEL, device="cpu", precision="fp32",
                                   output_type="np")
        row: dict[str, Any] = {
            "caption": jpegtext.inspect(data).caption,
            "jpeg_bytes": len(data),
            "jpeg_psnr": round(float(psnr(jpeg, clean)), 4),
            "psnr": round(float(psnr(restored, clean)), 4),
            "psnr_vs_jpeg": round(float(psnr(restored, jpeg)), 4),
        }
        if metric is not None:
            row["jpeg_lpips"] = round(float(lpips_distance(jpeg, clean, metric)), 5)
            row["lpips"] = round(float(lpips_distance(restored, clean, metric)), 5)
        out[f"qf{q}"] = row
    return out


def _trunk() -> Path | None:
    from tests.conftest import SHARED

    path = SHARED / "weights" / "lpips" / "alexnet_features_imagenet_tv.pth"
    return path if path.is_file() else None


def _regen(values: dict[str, dict[str, Any]]) -> None:
    import torch

    from jpegtext.restore.runtime.zoo import DEFAULT_MODEL, get_model_entry

    doc = {
        "what": "the default model on jpegtext.sample.make_sample_image() (768x512, seed 0), "
                "encoded by jpegtext.encode(image, Q) (default captioner), restored by "
                "jpegtext.decode(device='cpu', precision='fp32'), untiled",
        "how": "pytest tests/test_golden.py --regen-golden (or JPEGTEXT_REGEN_GOLDEN=1)",
        "model": DEFAULT_MODEL,
        "model_sha256": get_model_entry(DEFAULT_MODEL).sha256,
        "made_with": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "machine": platform.machine(), "python": platform.python_version()},
        "bands": BANDS,
        "values": values,
    }
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(doc, indent=2) + "\n")


def test_default_model_golden_values(request: pytest.FixtureRequest) -> None:
    from jpegtext.restore.runtime.zoo import DEFAULT_MODEL, get_model_entry

    regen = request.config.getoption("--regen-golden") or os.environ.get(
        "JPEGTEXT_REGEN_GOLDEN") == "1"
    trunk = _trunk()
    if regen and trunk is None:
        pytest.fail("--regen-golden needs the LPIPS trunk of ../shared/weights (lpips/)")
    values = golden_values(trunk)
    if regen:
        _regen(values)
    doc = json.loads(GOLDEN.read_text())
    assert doc["model"] == DEFAULT_MODEL, "the default model changed: regenerate (--regen-golden)"
    assert doc["model_sha256"] == get_model_entry(DEFAULT_MODEL).sha256, (
        "the default model's file changed: regenerate (--regen-golden)")
    problems = []
    for qf, stored in doc["values"].items():
        now = values[qf]
        if now["caption"] != stored["caption"]:
            problems.append(f"{qf} caption {now['caption']!r} != {stored['caption']!r}")
        for key, width in doc["bands"].items():
            if key in now and abs(now[key] - stored[key]) > width:
                problems.append(f"{qf} {key} {now[key]} outside {stored[key]} +- {width}")
    assert not problems, "; ".join(problems)
    if trunk is None:
        pytest.skip("PSNR checked; LPIPS part skipped: the LPIPS trunk of ../shared/weights "
                    "is absent")
