"""How far each of issue 13's held-out goals is from being met, in standard errors.

    python benchmarks/goal_uncertainty.py runs/text_ablation_r52 \\
        benchmarks/results/text_r52/text_control_flowers_test.json \\
        --reference runs/v9_flowers_test_q1:tgjar-text-wordpiece-r35-cpu \\
        --out benchmarks/results/text_r52/goal_uncertainty.json

The Table-3 summaries (``benchmarks/run_text_ablation.sh``) keep means only; this reads the
per-image rows its work folders keep (``RUNS_DIR/<set>/results.jsonl``) and gives every goal its
paired difference with a standard error and a 95 % interval:

* per-image differences (text model against its twin, true caption against empty, against a
  reference model such as v9) pair the same image, QF and JPEG bytes; the interval is Student's t
  over the images;
* text control (``benchmarks/text_control_flowers.py``) is a mean over colour pairs that share
  images (up to four per image), so its interval comes from resampling the 20 images (cluster
  bootstrap, 10,000 draws, seed 0).

A goal is *met* or *missed* by its point estimate, as the issue judges; ``clear`` says whether the
95 % interval excludes the goal's bound (the verdict would survive a new draw of images) or
contains it (the verdict is within the noise of these test images). ``--reference DIR:METHOD``
adds the shipping rules' margin against that model on flowers test at QF 1 (PSNR -0.05 dB, LPIPS
+0.002), from a ``jpegtext evaluate`` folder over the same images and captions; v9's is made by

    jpegtext evaluate ../shared/data/flowers256 --name flowers256-test \\
        --out runs/v9_flowers_test_q1 --qualities 1 --metrics psnr lpips \\
        --weights-dir ../shared/weights --manifest labels.jsonl --split test --consistency off \\
        --captions runs/text_ablation_r52/flowers_first_caption.jsonl \\
        --methods examples/weights/tgjar-text-wordpiece-r35-cpu.safetensors

Beside the goals (not goals themselves) it splits text - twin, per set and QF, into the image path
(empty caption - twin) and the caption (true - empty), which add up image by image.

``--by-colour-word FLOWERS_ROOT`` splits text - twin and true - empty at QF 1 by whether the
true caption names a colour (the test of ``drift_regions.py``). ``--control-reference FILE`` adds the paired text-control difference against another model's
file (the same images and colour pairs), resampled by image as above.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy import stats

V4 = "tgjar-small-v4"
FLOWERS = "flowers256-test"
OTHERS = ("coco_mini-val", "kodak", "live1")


def _rows(folder: Path) -> dict[tuple[str, int, str], dict]:
    """Per-image rows of a ``jpegtext evaluate`` folder, keyed by (image, quality, method)."""
    out = {}
    with (folder / "results.jsonl").open() as f:
        for line in f:
            r = json.loads(line)
            out[(r["image"], int(r["quality"]), r["method"])] = r
    return out


def _methods(rows: dict) -> tuple[str, str]:
    """(text model, twin) of a Table-3 folder: the twin is the other model's ``:nocap``."""
    names = {m for _, _, m in rows}
    text = next(m for m in sorted(names) if ":" not in m and m not in ("jpeg", V4))
    twin = next(m for m in sorted(names) if m.endswith(":nocap") and not m.startswith(text + ":"))
    return text, twin


def paired(a: dict, b: dict, quality: int, metric: str, method_a: str, method_b: str) -> dict:
    """Mean, standard error and 95 % t-interval of ``a - b`` over the images both rows have."""
    keys = sorted(k[0] for k in a if k[1] == quality and k[2] == method_a)
    d = np.array([a[(k, quality, method_a)][metric] - b[(k, quality, method_b)][metric]
                  for k in keys if (k, quality, method_b) in b])
    if len(d) < 2:
        raise SystemExit(f"fewer than two paired images for {method_a} - {method_b} at QF {quality}")
    se = float(d.std(ddof=1) / math.sqrt(len(d)))
    half = float(stats.t.ppf(0.975, len(d) - 1)) * se
    return {"n": len(d), "mean": float(d.mean()), "se": se,
            "ci95": [float(d.mean()) - half, float(d.mean()) + half]}


def _control_rows(path: Path, model: str | None = None) -> list[tuple[tuple[str, str, str], float]]:
    """((image, from, to), region shift) of every pair of a text control file's first model, or
    of the model whose ``model`` entry (as given to ``--model``) or file name is ``model``."""
    results = json.loads(path.read_text())["results"]
    if model is not None:
        found = [r for r in results if model in (r["model"], Path(r["model"]).stem)]
        if len(found) != 1:
            raise SystemExit(f"{path}: no single model {model!r} among "
                             f"{[r['model'] for r in results]}")
        results = found
    rows = results[0]["rows"]
    return [((r["file"], r.get("from", ""), r.get("to", "")), r["shift_region"]) for r in rows]


def control(path: Path, reference: Path | None = None, draws: int = 10_000,
            seed: int = 0, model: str | None = None, reference_model: str | None = None) -> dict:
    """Text control (mean region shift over pairs) with an image-cluster bootstrap interval;
    with ``reference`` (another model's file on the same images, or the same file with
    ``reference_model``), the paired difference. ``model``: which model of a file holding several
    (default its first)."""
    rows = _control_rows(path, model)
    if reference is not None:
        ref_rows = _control_rows(reference, reference_model)
        ref = dict(ref_rows)
        if len(ref) != len(ref_rows) or len(dict(rows)) != len(rows):
            raise SystemExit("text control files with repeated (image, from, to) cannot be paired")
        rows = [(k, v - ref[k]) for k, v in rows if k in ref]
    files = sorted({k[0] for k, _ in rows})
    per = [np.array([v for k, v in rows if k[0] == f]) for f in files]
    sums = np.array([p.sum() for p in per])
    counts = np.array([len(p) for p in per])
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(files), size=(draws, len(files)))
    boot = sums[pick].sum(1) / counts[pick].sum(1)
    mean = float(sums.sum() / counts.sum())
    return {"n_images": len(files), "n_pairs": int(counts.sum()), "mean": mean,
            "se": float(boot.std(ddof=1)),
            "ci95": [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))]}


def by_colour_word(rows: dict, text: str, twin: str, root: Path, quality: int = 1) -> dict:
    """Text - twin and true - empty (LPIPS, PSNR) on flowers test split by whether the true
    caption names a colour (:func:`~jpegtext.restore.training.colour_swap.named_region` is not
    None: a colour word covering at least 3 % of the image), each with its paired interval."""
    from PIL import Image

    from jpegtext.restore.training.colour_swap import named_region

    groups: dict[str, set[str]] = {"names a colour": set(), "names no colour": set()}
    for (image, q, method), row in rows.items():
        if q == quality and method == text:
            with Image.open(root / image) as im:
                named = named_region(im.convert("RGB"), row["caption"].lower()) is not None
            groups["names a colour" if named else "names no colour"].add(image)
    out = {}
    for group, images in groups.items():
        sub = {k: v for k, v in rows.items() if k[0] in images}
        out[group] = {f"{label}, {metric}": paired(sub, sub, quality, metric, text, other)
                      for label, other in (("text - twin", twin), ("true - empty", f"{text}:nocap"))
                      for metric in ("lpips", "psnr_rgb")}
        for what, stat in out[group].items():
            print(f"  {group} ({len(images)}): {what:24s} {stat['mean']:+.4f} "
                  f"(SE {stat['se']:.4f})")
    return out


def _goal(what: str, stat: dict, bound: float, upper: bool) -> dict:
    """``upper``: the goal is ``mean <= bound`` (a difference that must be low enough)."""
    lo, hi = stat["ci95"]
    met = stat["mean"] <= bound if upper else stat["mean"] >= bound
    clear = (hi < bound or lo > bound)
    sigmas = (stat["mean"] - bound) / stat["se"] if stat["se"] > 0 else float("inf")
    sign = "<=" if upper else ">="
    print(f"  {what:48s} {stat['mean']:+9.4f} (SE {stat['se']:.4f}, 95 % "
          f"[{lo:+.4f}, {hi:+.4f}]) goal {sign} {bound:+g}: {'met' if met else 'MISSED'}, "
          f"{'clear' if clear else 'within noise'} ({sigmas:+.1f} SE from the bound)")
    return {"goal": what, "bound": f"{sign} {bound:g}", **stat, "met": met, "clear": clear,
            "se_from_bound": sigmas}


def measure(run_dir: Path, control_file: Path, reference: str | None = None,
            control_reference: Path | None = None, colour_root: Path | None = None) -> dict:
    """Every goal of issue 13 measured on the held-out sets, with its uncertainty."""
    flowers = _rows(run_dir / FLOWERS)
    text, twin = _methods(flowers)
    empty = f"{text}:nocap"
    goals = []
    print(f"{run_dir}: text model {text}, twin {twin}")
    goals.append(_goal("flowers test QF 1: text - twin, LPIPS",
                       paired(flowers, flowers, 1, "lpips", text, twin), -0.02, True))
    goals.append(_goal("flowers test QF 1: text - twin, PSNR dB",
                       paired(flowers, flowers, 1, "psnr_rgb", text, twin), 0.0, False))
    for q in (5, 10):
        goals.append(_goal(f"flowers test QF {q}: text - twin, LPIPS",
                           paired(flowers, flowers, q, "lpips", text, twin), 0.0, True))
    goals.append(_goal("flowers test QF 1: true - empty, LPIPS",
                       paired(flowers, flowers, 1, "lpips", text, empty), -0.01, True))
    for name in OTHERS:
        if (run_dir / name / "results.jsonl").is_file():
            rows = _rows(run_dir / name)
            goals.append(_goal(f"{name} QF 1: true - empty, LPIPS",
                               paired(rows, rows, 1, "lpips", text, empty), 0.0, True))
    goals.append(_goal("flowers test QF 1: text control, levels", control(control_file),
                       15.0, False))
    margins = []
    if reference:
        folder, _, method = reference.rpartition(":")
        ref = _rows(Path(folder))
        print(f"against {method} (the shipping rules' margins)")
        margins.append(_goal(f"flowers test QF 1: text - {method}, PSNR dB",
                             paired(flowers, ref, 1, "psnr_rgb", text, method), -0.05, False))
        margins.append(_goal(f"flowers test QF 1: text - {method}, LPIPS",
                             paired(flowers, ref, 1, "lpips", text, method), 0.002, True))
    split = {"decomposition": decomposition(run_dir, text, twin)}
    if colour_root is not None:
        print(f"flowers test QF 1 by the true caption's colour word ({colour_root})")
        split["by_colour_word"] = by_colour_word(flowers, text, twin, colour_root)
    return {"run_dir": str(run_dir), "text_model": text, "twin": twin, **split,
            "control_file": str(control_file), "reference": reference,
            "goals": goals, "margins": margins, **_paired_control(control_file, control_reference)}


def decomposition(run_dir: Path, text: str, twin: str) -> list[dict]:
    """Where text - twin comes from, per set and QF (not a goal): the image path (empty caption
    - twin: what the text model gives without text) plus the caption (true - empty); the two
    add up to text - twin image by image."""
    print("text - twin = image path (empty - twin) + caption (true - empty), LPIPS")
    empty, out = f"{text}:nocap", []
    for name in (FLOWERS, *OTHERS):
        if not (run_dir / name / "results.jsonl").is_file():
            continue
        rows = _rows(run_dir / name)
        for q in (1, 5, 10):
            if not any(k[1] == q for k in rows):
                continue
            path = paired(rows, rows, q, "lpips", empty, twin)
            caption = paired(rows, rows, q, "lpips", text, empty)
            print(f"  {name} QF {q:<2d}: image path {path['mean']:+.4f} (SE {path['se']:.4f}), "
                  f"caption {caption['mean']:+.4f} (SE {caption['se']:.4f})")
            out.append({"set": name, "quality": q, "image_path": path, "caption": caption})
    return out


def _paired_control(control_file: Path, reference: Path | None) -> dict:
    if reference is None:
        return {}
    stat = control(control_file, reference)
    lo, hi = stat["ci95"]
    print(f"text control against {reference} (same pairs): {stat['mean']:+.2f} levels "
          f"(SE {stat['se']:.2f}, 95 % [{lo:+.2f}, {hi:+.2f}], {stat['n_pairs']} pairs)")
    return {"control_reference": str(reference), "control_paired": stat}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path, help="RUNS_DIR of run_text_ablation.sh (per-image rows)")
    ap.add_argument("control", type=Path, help="text_control_flowers.py's JSON on flowers test")
    ap.add_argument("--reference", help="FOLDER:METHOD of a jpegtext evaluate run on flowers test")
    ap.add_argument("--control-reference", type=Path,
                    help="another model's text control file: the paired difference on its pairs")
    ap.add_argument("--by-colour-word", type=Path, metavar="FLOWERS_ROOT",
                    help="split text - twin and true - empty by whether the caption names a colour")
    ap.add_argument("--out", type=Path, help="write the result as JSON")
    args = ap.parse_args()
    result = measure(args.run_dir, args.control, args.reference, args.control_reference,
                     args.by_colour_word)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
