"""Receiver speed and memory: seconds per image, megapixels/s and peak memory of ``decode``.

Each (config, size) case runs in a fresh subprocess, so that the peak RSS it reports is its own.
The weights do not change the speed, so configs without a shipped model use random weights of
the same shape. One run reports, per config, the 768x512 (untiled) and 4000x3000 (tiled: 12 MP)
MP/s, their ratio against the 80 % target and the 12 MP peak RSS against 2 GB, with a profile of
where a tiled restore's time goes (encoder pass, full-resolution skips, decoder pass, the rest:
padding, copies, conversion). The machine's load average goes into the JSON. Prints a table and
writes JSON.

    python benchmarks/decode.py                      # CPU, small + base, 768x512 and 4000x3000
    python benchmarks/decode.py --device cuda --precision fp16 --repeats 10
    python benchmarks/decode.py --text-models tgjar-small-v4 path/to/minilm-model.safetensors \
        --out benchmarks/results/decode_text.json

``--text-models`` compares real model files instead: the start-up a ``jpegtext decode`` call
pays (importing jpegtext, loading the model and its text encoder, the first caption; each in a
fresh process) and the seconds per 768x512 image in a folder run (a new caption per image, so
the text encoder runs every time; median of ``--repeats``), and what decode's default bound by
the file adds to it (``bound_full_s``: :func:`~jpegtext.codec.consistency.project_jpeg_file` on
a QF 1 file of the 768x512 sample, the ``full`` bound that ``auto`` applies to a file's own
caption; ``seconds_per_image_with_bound`` is the sum).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = {
    # must match examples/configs/tgjar_small_cpu.yaml and tgjar_base_gpu.yaml
    "small": {"widths": [16, 32, 64, 96], "enc_blocks": [0, 1, 1, 1], "mid_blocks": 1,
              "dec_blocks": [1, 1, 0], "text_dim": 256, "gfm_hidden": 96},
    "base": {"widths": [32, 64, 128, 128], "enc_blocks": [1, 1, 1, 2], "mid_blocks": 2,
             "dec_blocks": [1, 1, 1], "text_dim": 256, "gfm_hidden": 128},
}
SIZES = {"768x512": (512, 768), "4000x3000": (3000, 4000)}


def _case(config: str, size: str, device: str, precision: str, repeats: int, tile: int | None,
          threads: int) -> dict[str, object]:
    """Runs inside the subprocess."""
    import resource

    import numpy as np
    import torch

    from jpegtext.restore.networks.config import GeneratorConfig, ModelConfig
    from jpegtext.restore.networks.generator import TGJARGenerator
    from jpegtext.restore.networks.text import BiLSTMTextEncoder, Vocabulary
    from jpegtext.restore.runtime.inference import Restorer
    from jpegtext.restore.runtime.modelfile import LoadedModel

    if threads:
        torch.set_num_threads(threads)
    cfg = ModelConfig(generator=GeneratorConfig.from_dict(CONFIGS[config]))
    torch.manual_seed(0)
    vocab = Vocabulary.build(["green trees at the top blue sky red barn"])
    model = LoadedModel(TGJARGenerator(cfg.generator), BiLSTMTextEncoder(vocab, cfg.text), cfg,
                        vocab)
    restorer = Restorer(model, device=device, precision=precision, tile=tile)
    h, w = SIZES[size]
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    caption = "blue sky at the top, green trees in the middle, red barn at the bottom"
    restorer.restore(img, caption, 1)  # warm-up (allocations, cuDNN autotune)
    parts = {"encode": 0.0, "full_skip": 0.0, "decode": 0.0}
    gen = restorer.generator

    def _timed(name: str):  # noqa: ANN202 - wraps one generator stage, sums its seconds
        inner = getattr(gen, name)

        def wrapper(*a: object, **k: object) -> object:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            res = inner(*a, **k)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            parts[name] += time.perf_counter() - t
            return res
        return wrapper

    tile_used = restorer._tile_for(h, w)
    if tile_used:  # the tiled path calls the stages one by one; time them
        for name in parts:
            setattr(gen, name, _timed(name))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        restorer.restore(img, caption, 1)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    sec = float(np.median(times))
    out: dict[str, object] = {
        "config": config, "size": size, "device": device, "precision": precision,
        "tile": tile_used, "halo": restorer.tile_overlap if tile_used else 0,
        "seconds_median": round(sec, 4),
        "seconds_all": [round(t, 4) for t in times],
        "megapixels_per_s": round(h * w / 1e6 / sec, 3),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "params": sum(p.numel() for p in model.generator.parameters()),
    }
    if tile_used:
        total = sum(times)
        share = {k: round(v / total, 3) for k, v in parts.items()}
        share["other"] = round(1 - sum(share.values()), 3)
        out["profile_share"] = share
    if device.startswith("cuda"):
        out["cuda_max_allocated_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    return out


def _text_case(model: str, repeats: int, threads: int) -> dict[str, object]:
    """Runs inside the subprocess: start-up parts and per-image cost of a real model file."""
    t0 = time.perf_counter()
    import numpy as np
    import torch

    import jpegtext
    from jpegtext.restore.runtime.zoo import load_restorer

    if threads:
        torch.set_num_threads(threads)
    t_import = time.perf_counter() - t0
    t1 = time.perf_counter()
    restorer = load_restorer(model, device="cpu")
    t_load = time.perf_counter() - t1
    t2 = time.perf_counter()
    restorer.encode_caption("a red barn beside a pond under a blue sky")
    t_first_caption = time.perf_counter() - t2
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (512, 768, 3), dtype=np.uint8)
    words = ["red", "green", "blue", "yellow", "purple", "white", "pink", "orange"]
    restorer.restore(img, "warm up", 1)
    times = []
    for i in range(repeats):
        caption = f"{words[i % 8]} flowers at the top, {words[(i + 3) % 8]} grass, image {i}"
        t = time.perf_counter()
        restorer.restore(img, caption, 1)
        times.append(time.perf_counter() - t)
    from jpegtext.codec.consistency import project_jpeg_file
    from jpegtext.codec.jpegfile import parse_file
    from jpegtext.sample import make_sample_image

    file = parse_file(jpegtext.encode(make_sample_image(), 1, caption="x"))
    pixels = file.pixels()
    bound = []
    for _ in range(max(repeats, 3)):
        t = time.perf_counter()
        project_jpeg_file(pixels, file)
        bound.append(time.perf_counter() - t)
    return {"model": model, "text_encoder": restorer.config.text.kind,
            "import_s": round(t_import, 3), "load_model_s": round(t_load, 3),
            "first_caption_s": round(t_first_caption, 4),
            "startup_s": round(t_import + t_load + t_first_caption, 3),
            "seconds_per_image_768x512": round(float(np.median(times)), 4),
            "bound_full_s": round(float(np.median(bound)), 4),
            "seconds_per_image_with_bound": round(float(np.median(times) + np.median(bound)), 4),
            "seconds_all": [round(t, 4) for t in times], "version": jpegtext.__version__}


def _text_models(models: list[str], repeats: int, threads: int, out: Path) -> None:
    rows = []
    for model in models:
        cmd = [sys.executable, __file__, "--text-case", model, "--repeats", str(repeats),
               "--threads", str(threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{model}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{model}: start-up {row['startup_s']:.2f} s (import {row['import_s']:.2f}, load "
              f"{row['load_model_s']:.2f}, first caption {row['first_caption_s']:.3f}); "
              f"{row['seconds_per_image_768x512']:.3f} s per 768x512 image, "
              f"{row['seconds_per_image_with_bound']:.3f} with the file bound", flush=True)
    result = {"machine": platform.platform(), "cpu_count": os.cpu_count(),
              "threads": threads, "rows": rows,
              "command": "python benchmarks/decode.py --text-models " + " ".join(models)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default=None, help="fp32 (CPU default) / fp16 / bf16")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tile", type=int, default=None, help="default: automatic")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/decode.json"))
    ap.add_argument("--text-models", nargs="+", default=None,
                    help="compare start-up and per-image cost of these model files / names")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--text-case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.text_case:
        print(json.dumps(_text_case(args.text_case, args.repeats, args.threads)))
        return
    if args.text_models:
        from jpegtext.restore.runtime.zoo import use_checkout_weights

        use_checkout_weights()  # registered models not in the package, by name (subprocesses too)
        _text_models(args.text_models, args.repeats, args.threads, args.out)
        return
    precision = args.precision or ("fp16" if args.device.startswith("cuda") else "fp32")
    if args.case:
        config, size = args.case.split(":")
        print(json.dumps(_case(config, size, args.device, precision, args.repeats, args.tile,
                               args.threads)))
        return
    rows = []
    load_before = list(os.getloadavg())
    for config in args.configs:
        for size in args.sizes:
            cmd = [sys.executable, __file__, "--case", f"{config}:{size}", "--device",
                   args.device, "--precision", precision, "--repeats", str(args.repeats),
                   "--threads", str(args.threads)]
            if args.tile is not None:
                cmd += ["--tile", str(args.tile)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{config} {size}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            mem = row.get("cuda_max_allocated_gb", row["peak_rss_gb"])
            print(f"{config:6s} {size:10s} {row['device']:5s} {row['precision']:5s} "
                  f"tile={row['tile']:<5} {row['seconds_median']:8.3f} s  "
                  f"{row['megapixels_per_s']:7.3f} MP/s  peak {mem:.2f} GB", flush=True)
    summary = {}
    for config in args.configs:
        by = {r["size"]: r for r in rows if r["config"] == config}
        if "768x512" in by and "4000x3000" in by:
            ratio = by["4000x3000"]["megapixels_per_s"] / by["768x512"]["megapixels_per_s"]
            summary[config] = {
                "untiled_768x512_mp_s": by["768x512"]["megapixels_per_s"],
                "tiled_12mp_mp_s": by["4000x3000"]["megapixels_per_s"],
                "tiled_over_untiled": round(ratio, 3), "target_ratio": 0.8,
                "ratio_met": ratio >= 0.8,
                "peak_rss_12mp_gb": by["4000x3000"]["peak_rss_gb"], "target_rss_gb": 2.0,
                "rss_met": by["4000x3000"]["peak_rss_gb"] <= 2.0}
            print(f"{config}: 12 MP tiled / 768x512 untiled = {ratio:.2f} (target >= 0.80), "
                  f"12 MP peak RSS {by['4000x3000']['peak_rss_gb']:.2f} GB (target <= 2)")
    result = {"machine": platform.platform(), "processor": platform.processor(),
              "cpu_count": os.cpu_count(), "threads": args.threads,
              "load_average_before": load_before, "load_average_after": list(os.getloadavg()),
              "command": "python benchmarks/decode.py " + " ".join(sys.argv[1:]),
              "summary": summary, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
