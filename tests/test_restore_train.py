"""Training on a tiny synthetic dataset: both stages, exports, exact resume, DDP equivalence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from jpegtext.errors import ConfigError
from jpegtext.restore.networks.config import ModelConfig
from jpegtext.restore.runtime.modelfile import load_damsm_file, load_model_file
from jpegtext.restore.training.config import TrainConfig
from jpegtext.restore.training.train import Trainer, run_training

COLOURS = {"red": (200, 30, 30), "green": (30, 160, 40), "blue": (30, 60, 200),
           "yellow": (230, 210, 40)}


def _make_dataset(root: Path, n: int = 12, size: int = 48) -> None:
    """Images split in two colour halves, captioned by those colours, with class ids."""
    rng = np.random.default_rng(0)
    names = list(COLOURS)
    rows = []
    (root / "img").mkdir(parents=True)
    for i in range(n):
        top, bottom = names[i % 4], names[(i // 4 + 1 + i % 4) % 4]
        arr = np.zeros((size, size, 3), np.uint8)
        arr[: size // 2] = COLOURS[top]
        arr[size // 2 :] = COLOURS[bottom]
        arr = np.clip(arr + rng.normal(0, 12, arr.shape), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(root / "img" / f"{i:03d}.png")
        rows.append({"file": f"img/{i:03d}.png", "split": "val" if i >= n - 4 else "train",
                     "class_id": i % 3,
                     "captions": [f"{top} at the top, {bottom} at the bottom"]})
    (root / "labels.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


TINY_MODEL = {
    "text": {"kind": "bilstm", "embed_dim": 16, "hidden_dim": 8, "dropout": 0.0},
    "generator": {"widths": [8, 8, 16, 16], "enc_blocks": [0, 1, 1, 1], "mid_blocks": 1,
                  "dec_blocks": [1, 0, 0], "text_dim": 16, "gfm_hidden": 16},
    "qualities": [1, 5, 10],
}


def _config(root: Path, stage: str, **over: object) -> TrainConfig:
    raw: dict[str, object] = {
        "stage": stage,
        "model": TINY_MODEL,
        "image_encoder": {"feature_dim": 16, "input_size": 64},
        "discriminator": {"base": 8, "layers": 2},
        "data": {
            "sources": [{"root": str(root), "manifest": "labels.jsonl", "split": "train",
                         "caption": "manifest"}],
            "crop": 32, "scale_min": 0.7, "qualities": [1, 5, 10], "caption_dropout": 0.0,
        },
        "loss": {"contrastive_weight": 0.0, "damsm_weight": 0.0},
        "batch_size": 4, "lr": 1e-3, "epochs": 3, "log_every": 1, "val_every": 1000,
        "ckpt_every": 1000, "seed": 3, "workers": 0,
    }
    raw.update(over)
    return TrainConfig.from_dict(raw)


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    _make_dataset(root)
    return root


def _random_trunk(monkeypatch: pytest.MonkeyPatch) -> None:
    # no ImageNet weights needed for these tests: a random AlexNet trunk
    monkeypatch.setattr(Trainer, "_trunk_state", lambda self: None)


def _generator_state(path: Path) -> dict[str, torch.Tensor]:
    return load_model_file(path).generator.state_dict()


def test_stage1_trains_and_exports(tiny_data: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _random_trunk(monkeypatch)
    cfg = _config(tiny_data, "damsm", epochs=8, batch_size=4,
                  data={"sources": [{"root": str(tiny_data), "manifest": "labels.jsonl",
                                     "split": "train", "caption": "manifest"}],
                        "val": {"root": str(tiny_data), "manifest": "labels.jsonl",
                                "split": "train", "caption": "manifest"},
                        "crop": 32, "qualities": [1], "caption_dropout": 0.0})
    run = tmp_path / "run1"
    metrics = run_training(cfg, run, progress=False)
    logs = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    losses = [r["loss_sent"] + r["loss_word"] for r in logs if "loss_sent" in r]
    assert len(losses) == 8 * 2  # 8 epochs x (8 train images // batch 4)
    assert np.mean(losses[-4:]) < np.mean(losses[:4])  # it learns
    assert metrics["val_n"] > 0 and 0.0 <= metrics["val_r1_sentence"] <= 1.0
    text, image, vocab, info = load_damsm_file(run / "damsm.safetensors", None)
    assert vocab is not None and "yellow" in vocab and info["steps"] == 16
    feats = text.encode(["red at the top"])
    assert feats.words.shape[1] == 16


def test_stage2_trains_exports_and_resumes_exactly(tiny_data: Path, tmp_path: Path) -> None:
    cfg = _config(tiny_data, "tgjar", max_steps=4, loss={"contrastive_weight": 0.0,
                                                         "damsm_weight": 0.0,
                                                         "gan_weight": 0.01})
    whole = tmp_path / "whole"
    run_training(cfg, whole, progress=False)
    # the same run, stopped after 3 steps (mid-epoch: 2 steps per epoch) and resumed
    parts = tmp_path / "parts"
    run_training(cfg.replace(max_steps=3), parts, progress=False)
    run_training(cfg, parts, progress=False)
    a, b = _generator_state(whole / "model.safetensors"), _generator_state(parts / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    # the generator left the identity it starts as
    assert any(v.abs().max() > 0 for k, v in a.items() if k.startswith("tail."))
    ck = torch.load(parts / "checkpoints" / "last.pt", weights_only=True)
    assert ck["step"] == 4 and ck["written_by_rank"] == 0


def test_stage2_with_lpips_and_damsm(tiny_data: Path, tmp_path: Path, lpips_trunk: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """All four losses on, validation with PSNR/LPIPS and a side-by-side image."""
    _random_trunk(monkeypatch)
    s1 = _config(tiny_data, "damsm", max_steps=2)
    run_training(s1, tmp_path / "s1", progress=False)
    data = {"sources": [{"root": str(tiny_data), "manifest": "labels.jsonl", "split": "train",
                         "caption": "manifest"}],
            "val": {"root": str(tiny_data), "manifest": "labels.jsonl", "split": "val",
                    "caption": "manifest"},
            "crop": 32, "qualities": [1, 5, 10], "caption_dropout": 0.25}
    cfg = _config(tiny_data, "tgjar", max_steps=3, data=data, lpips_trunk=str(lpips_trunk),
                  damsm_checkpoint=str(tmp_path / "s1" / "damsm.safetensors"),
                  loss={"contrastive_weight": 0.01, "damsm_weight": 0.0005}, ema_decay=0.9)
    metrics = run_training(cfg, tmp_path / "s2", progress=False)
    logs = [json.loads(x) for x in (tmp_path / "s2" / "log.jsonl").read_text().splitlines()]
    assert {"l1", "contrastive", "gan", "damsm", "d"} <= set(logs[0])
    assert metrics["val_psnr"] > 10 and 0 <= metrics["val_lpips"] <= 1
    assert list((tmp_path / "s2" / "val").glob("step_*.png"))
    assert (tmp_path / "s2" / "best.safetensors").exists()


_DDP_SCRIPT = """
import sys, yaml
from jpegtext.restore.training.config import TrainConfig
from jpegtext.restore.training.train import run_training
cfg = TrainConfig.from_dict(yaml.safe_load(open(sys.argv[1])))
run_training(cfg, sys.argv[2], device="cpu", progress=False)
"""


@pytest.mark.slow
def test_ddp_two_processes_equal_single_process(tiny_data: Path, tmp_path: Path) -> None:
    """torchrun, 2 CPU processes x batch 2 == 1 process x batch 4 (same global batch)."""
    loss = {"contrastive_weight": 0.0, "damsm_weight": 0.0, "gan_weight": 0.01}
    single = _config(tiny_data, "tgjar", max_steps=3, batch_size=4, loss=loss)
    run_training(single, tmp_path / "single", device="cpu", progress=False)
    cfg_path = tmp_path / "ddp.yaml"
    cfg_path.write_text(yaml.safe_dump(single.replace(batch_size=2).to_dict()))
    script = tmp_path / "ddp_train.py"
    script.write_text(_DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for attempt in range(2):
        out = tmp_path / f"ddp{attempt}"
        proc = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
             "2", str(script), str(cfg_path), str(out)],
            capture_output=True, text=True, env=env, timeout=300)
        # a worker has been seen, once in many runs under load, to abort in the C++ runtime
        # ("terminate called without an active exception", SIGABRT): one fresh retry for that
        # signature only; any other failure, or the same one twice, fails the test
        if proc.returncode == 0 or "terminate called" not in proc.stderr:
            break
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = _generator_state(tmp_path / "single" / "model.safetensors")
    b = _generator_state(out / "model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    ck = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert ck["world_size"] == 2 and ck["written_by_rank"] == 0
    # rank 0 alone writes: one checkpoint file, one log
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.pt"]
    steps = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps if "l1" in r] == [1, 2, 3]  # not once per rank


def test_init_from_starts_from_a_model_and_checks_it(tiny_data: Path, tmp_path: Path) -> None:
    cfg = _config(tiny_data, "tgjar", max_steps=2, loss={"contrastive_weight": 0.0,
                                                         "damsm_weight": 0.0})
    run_training(cfg, tmp_path / "a", progress=False)
    src = tmp_path / "a" / "model.safetensors"
    trainer = Trainer(cfg.replace(init_from=str(src), seed=9), tmp_path / "b", progress=False)
    want = _generator_state(src)
    for k, v in trainer.generator.state_dict().items():
        torch.testing.assert_close(v, want[k], rtol=0, atol=0, msg=k)
    other = {**TINY_MODEL, "generator": {**TINY_MODEL["generator"], "mid_blocks": 2}}
    with pytest.raises(ConfigError, match="generator config differs"):
        Trainer(cfg.replace(init_from=str(src), model=ModelConfig.from_dict(other)),
                tmp_path / "c", progress=False)


def test_perceptual_fade_reaches_the_training_step(tiny_data: Path, tmp_path: Path) -> None:
    """With every sample at QF 10 and the GAN term faded to 0 there, it adds nothing."""
    data = {"sources": [{"root": str(tiny_data), "manifest": "labels.jsonl", "split": "train",
                         "caption": "manifest"}], "crop": 32, "qualities": [10]}
    loss = {"contrastive_weight": 0.0, "damsm_weight": 0.0, "gan_weight": 0.01}
    faded = _config(tiny_data, "tgjar", max_steps=2, data=data,
                    loss={**loss, "perceptual_fade": [1, 10], "perceptual_floor": 0.0})
    plain = _config(tiny_data, "tgjar", max_steps=2, data=data, loss=loss)
    run_training(faded, tmp_path / "faded", progress=False)
    run_training(plain, tmp_path / "plain", progress=False)
    logs = {name: [json.loads(x) for x in (tmp_path / name / "log.jsonl").read_text().splitlines()
                   if '"gan"' in x] for name in ("faded", "plain")}
    assert logs["faded"] and all(r["gan"] == 0.0 for r in logs["faded"])
    assert all(r["gan"] > 0.0 for r in logs["plain"])


def test_captions_file_replaces_manifest_captions(tiny_data: Path) -> None:
    """flowers256 keeps splits in labels.jsonl and human captions in captions.jsonl."""
    from jpegtext.restore.training.data import read_records

    rows = [json.loads(x) for x in (tiny_data / "labels.jsonl").read_text().splitlines()]
    (tiny_data / "human.jsonl").write_text("\n".join(
        json.dumps({"file": r["file"], "captions": [f"human {i}", f"other {i}"]})
        for i, r in enumerate(rows)) + "\n")
    recs = read_records({"root": str(tiny_data), "manifest": "labels.jsonl", "split": "val",
                         "caption": "manifest", "captions": "human.jsonl"})
    assert [r.captions for r in recs] == [(f"human {i}", f"other {i}") for i in range(8, 12)]
    assert [r.class_id for r in recs] == [r["class_id"] for r in rows[8:]]
    with pytest.raises(ConfigError, match="captions file not found"):
        read_records({"root": str(tiny_data), "manifest": "labels.jsonl",
                      "captions": "missing.jsonl"})


def test_text_off_twin_sees_only_empty_captions(tiny_data: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The no-text twin: same data and seed, but the generator is only ever given ""."""
    seen: list[list[str]] = []
    trainer = Trainer(_config(tiny_data, "tgjar", max_steps=2, text_off=True), tmp_path / "t",
                      progress=False)
    encode = trainer.text.encode
    monkeypatch.setattr(trainer.text, "encode",
                        lambda caps, device="cpu": seen.append(list(caps)) or encode(caps, device))
    trainer.fit()
    assert seen and all(c == "" for caps in seen for c in caps)
    info = load_model_file(tmp_path / "t" / "model.safetensors").info
    assert info["text_off"] is True
    # the text run with the same seed sees the real captions
    seen.clear()
    trainer = Trainer(_config(tiny_data, "tgjar", max_steps=2), tmp_path / "x", progress=False)
    encode = trainer.text.encode
    monkeypatch.setattr(trainer.text, "encode",
                        lambda caps, device="cpu": seen.append(list(caps)) or encode(caps, device))
    trainer.fit()
    assert any(c.endswith("at the bottom") for caps in seen for c in caps)


def test_init_new_text_allows_another_text_encoder(tiny_data: Path, tmp_path: Path) -> None:
    cfg = _config(tiny_data, "tgjar", max_steps=1)
    run_training(cfg, tmp_path / "a", progress=False)
    src = tmp_path / "a" / "model.safetensors"
    other = {**TINY_MODEL, "text": {**TINY_MODEL["text"], "embed_dim": 12}}
    with pytest.raises(ConfigError, match="text encoder or vocabulary differs"):
        Trainer(cfg.replace(init_from=str(src), model=ModelConfig.from_dict(other)),
                tmp_path / "b", progress=False)
    trainer = Trainer(cfg.replace(init_from=str(src), model=ModelConfig.from_dict(other),
                                  init_new_text=True), tmp_path / "c", progress=False)
    want = _generator_state(src)
    for k, v in trainer.generator.state_dict().items():
        torch.testing.assert_close(v, want[k], rtol=0, atol=0, msg=k)


def test_text_lr_scale_speeds_up_only_the_text_reading_layers(tiny_data: Path,
                                                               tmp_path: Path) -> None:
    trainer = Trainer(_config(tiny_data, "tgjar", max_steps=1, text_lr_scale=4.0, lr=1e-3),
                      tmp_path / "r", progress=False)
    groups = trainer.opt["g"].param_groups
    assert [g["lr"] for g in groups] == [1e-3, 4e-3]
    names = {id(p): n for n, p in trainer.generator.named_parameters()}
    text = sorted(names[id(p)] for p in groups[1]["params"])
    assert "gfm.fc.0.weight" in text and "lfm.0.word_proj.weight" in text and "lfm.2.null" in text
    assert not any(n.startswith(("head.", "tail.", "mid.")) for n in text)
    trainer.fit()  # the schedule keeps the ratio
    assert [g["lr"] for g in trainer.opt["g"].param_groups] == [1e-3, 4e-3]


def test_image_lr_scale_zero_trains_only_the_text_reading_layers(tiny_data: Path,
                                                                 tmp_path: Path) -> None:
    trainer = Trainer(_config(tiny_data, "tgjar", max_steps=2, text_lr_scale=2.0, lr=1e-3,
                              image_lr_scale=0.0), tmp_path / "f", progress=False)
    with torch.no_grad():  # a trained generator: a fresh one's zero tail passes no gradient
        trainer.generator.tail.weight.normal_(0.0, 0.05)
    before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    trainer.fit()
    after = trainer.generator.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("gfm.fc.0.") or ".word_proj." in k or k.endswith(".null")
                           for k in changed), changed
    assert [g["lr"] for g in trainer.opt["g"].param_groups] == [0.0, 2e-3]
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"stage": "tgjar", "data": {"sources": []}, "image_lr_scale": -1})


def test_chroma_drop_greys_the_input_only_and_repeats(tiny_data: Path) -> None:
    """chroma_drop takes colour from the JPEG input (never from the target), luma kept."""
    from jpegtext.restore.training.config import DataConfig
    from jpegtext.restore.training.data import CaptionedImageDataset, desaturate, read_records

    img = Image.fromarray(np.array([[COLOURS["red"], COLOURS["blue"]]] * 2, np.uint8))
    grey = np.asarray(desaturate(img, 0.0)).astype(int)
    assert np.abs(grey - grey[:, :, :1]).max() <= 1  # R = G = B
    same = np.asarray(desaturate(img, 1.0)).astype(int)
    assert np.abs(same - np.asarray(img).astype(int)).max() <= 2
    recs = read_records({"root": str(tiny_data), "manifest": "labels.jsonl", "split": "train",
                         "caption": "manifest"})
    base = {"crop": 32, "scale_min": 0.7, "qualities": [10], "caption_dropout": 0.0}
    plain = CaptionedImageDataset(recs, DataConfig.from_dict(base), seed=1)
    dropped = CaptionedImageDataset(
        recs, DataConfig.from_dict({**base, "chroma_drop": 1.0, "chroma_keep": 0.0}), seed=1)

    def spread(x: torch.Tensor) -> float:  # mean distance of the channels from their mean
        return float((x - x.mean(dim=0, keepdim=True)).abs().mean())

    for i in range(3):
        a, b = plain[i], dropped[i]
        assert torch.equal(a["clean"], b["clean"]) and a["caption"] == b["caption"]
        assert spread(b["jpeg"]) < 0.01 < spread(a["jpeg"])
        assert torch.equal(b["jpeg"], dropped[i]["jpeg"])  # the same sample every time
    with pytest.raises(ConfigError, match="chroma_drop"):
        DataConfig.from_dict({**base, "chroma_drop": 1.5})


def test_chroma_drop_on_human_spares_builtin_and_empty_captions(tiny_data: Path) -> None:
    """chroma_drop_on: human greys only the samples with a human caption; the draws repeat."""
    from jpegtext.restore.training.config import DataConfig
    from jpegtext.restore.training.data import CaptionedImageDataset, read_records

    def spread(x: torch.Tensor) -> float:
        return float((x - x.mean(dim=0, keepdim=True)).abs().mean())

    base = {"crop": 32, "scale_min": 0.7, "qualities": [10], "chroma_drop": 1.0,
            "chroma_keep": 0.0, "chroma_drop_on": "human"}
    for mode, greyed in (("manifest", True), ("builtin", False)):
        recs = read_records({"root": str(tiny_data), "manifest": "labels.jsonl", "split": "train",
                             "caption": mode})
        ds = CaptionedImageDataset(recs, DataConfig.from_dict(base), seed=1)
        for i in range(3):
            assert (spread(ds[i]["jpeg"]) < 0.01) == greyed, (mode, i)
    recs = read_records({"root": str(tiny_data), "manifest": "labels.jsonl", "split": "train",
                         "caption": "manifest"})
    empty = CaptionedImageDataset(recs, DataConfig.from_dict(base), seed=1, caption_dropout=0.99)
    for i in range(3):
        assert empty[i]["caption"] == "" and spread(empty[i]["jpeg"]) > 0.01
    with pytest.raises(ConfigError, match="chroma_drop_on"):
        DataConfig.from_dict({**base, "chroma_drop_on": "captions"})


def test_colour_swap_repaints_the_named_colour_only() -> None:
    """A caption's colour word and the pixels of that colour change together; the rest stays."""
    from jpegtext.restore.training.colour_swap import TARGET_COLOURS, swap_colour

    arr = np.zeros((64, 64, 3), np.uint8)
    arr[:] = COLOURS["green"]
    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 32) ** 2 + (xx - 32) ** 2 < 20 ** 2
    arr[disc] = COLOURS["yellow"]
    img = Image.fromarray(arr)
    caption = "a flower with Yellow petals and a yellow centre"
    choices = [c for c in TARGET_COLOURS if c != "yellow"]
    for mode, (k, target) in ((m, kt) for m in ("absolute", "relative", "offset")
                              for kt in enumerate(choices)):
        out, new_caption, named = swap_colour(img, caption, (k + 0.5) / len(choices), mode)
        assert named == target
        assert new_caption == f"a flower with {target} petals and a {target} centre"
        got = np.asarray(out).astype(float)
        anchor = np.array(TARGET_COLOURS[target], float)
        before = np.linalg.norm(arr[disc].mean(0) - anchor)
        after = np.linalg.norm(got[disc].mean(0) - anchor)
        assert after < 0.6 * before, (mode, target, before, after)  # the disc took the colour
        far = ~((yy - 32) ** 2 + (xx - 32) ** 2 < 24 ** 2)  # background beyond the soft edge
        assert np.abs(got[far] - arr[far]).max() <= 1, (mode, target)
    # no colour word, or a named colour the image lacks: the sample is left as it was
    for text in ("a flower with round petals", "a flower with blue petals"):
        out, new_caption, named = swap_colour(img, text, 0.3)
        assert out is img and new_caption == text and named == ""
    # named_region is the map the swap repaints: the disc, softened at its edge, and nothing
    # where the caption names no colour the image has
    from jpegtext.restore.training.colour_swap import named_region

    region = named_region(img, caption)
    assert region.shape == (64, 64) and region[disc].mean() > 0.95 and region[far].max() < 0.01
    changed = np.abs(np.asarray(swap_colour(img, caption, 0.5, "natural")[0]).astype(float)
                     - arr).max(2) > 1
    assert changed.any() and region[changed].min() > 1e-3  # no change outside the map
    assert named_region(img, "a flower with round petals") is None
    assert named_region(img, "a flower with blue petals") is None


def _region_lch(rgb: np.ndarray) -> tuple[float, float, float]:
    """Mean CIELAB lightness, chroma and circular-mean hue (degrees, 0-360) of RGB pixels."""
    from jpegtext.captioner.colour import lab_to_lch, rgb_to_lab

    lightness, chroma, hue = lab_to_lch(rgb_to_lab(np.asarray(rgb, np.uint8).reshape(1, -1, 3)))
    rad = np.deg2rad(hue)
    mean_hue = np.degrees(np.arctan2(np.sin(rad).mean(), np.cos(rad).mean())) % 360.0
    return float(lightness.mean()), float(chroma.mean()), float(mean_hue)


def _lch_rgb(lightness: float, chroma: float, hue: float) -> np.ndarray:
    """The 8-bit sRGB colour of one CIELAB LCh value (clipped to the gamut)."""
    import cv2

    rad = np.deg2rad(hue)
    lab = np.array([[[lightness, chroma * np.cos(rad), chroma * np.sin(rad)]]], np.float32)
    return np.clip(np.rint(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255), 0, 255).astype(np.uint8)[0, 0]


def _hue_gap(a: float, b: float) -> float:
    return float((a - b + 180.0) % 360.0 - 180.0)


def test_colour_swap_offset_keeps_the_region_offset_from_its_own_anchor() -> None:
    """"offset": a petal 12 degrees off the yellow anchor lands about 12 degrees off the new
    anchor (so naming the colour the pixels have is exactly no change); "relative" lands on it."""
    from jpegtext.restore.training.colour_swap import TARGET_COLOURS, swap_colour

    lch, hue_gap = _region_lch, _hue_gap
    anchor_l, anchor_c, anchor_h = lch(np.array(TARGET_COLOURS["yellow"]))
    # 12 degrees off the anchor, at half its chroma (inside the sRGB gamut once turned)
    petal = _lch_rgb(anchor_l, 0.5 * anchor_c, anchor_h - 12.0)
    arr = np.full((64, 64, 3), 90, np.uint8)
    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 32) ** 2 + (xx - 32) ** 2 < 20 ** 2
    arr[disc] = petal
    img = Image.fromarray(arr)
    before = lch(arr[disc])
    assert abs(hue_gap(before[2], anchor_h) + 12.0) < 2.0  # still named yellow, 12 deg off
    choices = [c for c in TARGET_COLOURS if c != "yellow"]
    for k, target in enumerate(choices):
        if target == "white":
            continue
        u = (k + 0.5) / len(choices)
        target_h = lch(np.array(TARGET_COLOURS[target]))[2]
        offset, _, named = swap_colour(img, "yellow petals", u, "offset")
        relative, _, _ = swap_colour(img, "yellow petals", u, "relative")
        assert named == target
        got = lch(np.asarray(offset)[disc])
        # most of the offset kept (the sRGB gamut clips some of it), not put on the anchor
        assert -18.0 < hue_gap(got[2], target_h) < -6.0, (target, got, target_h)
        lands = hue_gap(lch(np.asarray(relative)[disc])[2], target_h)
        assert abs(lands) < 6.0, target
        assert hue_gap(got[2], target_h) < lands - 5.0, target


def test_colour_swap_natural_lands_on_the_colour_people_give_the_new_word() -> None:
    """"natural": a petal with the mean colour of flowers captioned "yellow" becomes the mean
    colour of flowers captioned with the new word (not that word's saturated anchor)."""
    from jpegtext.restore.training.colour_swap import TARGET_COLOURS, natural_lch, swap_colour

    people = natural_lch()
    assert set(people) == set(TARGET_COLOURS)
    lch = _region_lch
    arr = np.full((64, 64, 3), COLOURS["green"], np.uint8)
    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 32) ** 2 + (xx - 32) ** 2 < 20 ** 2
    arr[disc] = _lch_rgb(*people["yellow"])
    img = Image.fromarray(arr)
    choices = [c for c in TARGET_COLOURS if c != "yellow"]
    for k, target in enumerate(choices):
        out, caption, named = swap_colour(img, "yellow petals", (k + 0.5) / len(choices), "natural")
        assert named == target and caption == f"{target} petals"
        got, want = lch(np.asarray(out)[disc]), people[target]
        assert abs(got[0] - want[0]) < 4.0, (target, got, want)
        assert abs(got[1] - want[1]) < 0.2 * want[1] + 3.0, (target, got, want)
        if target != "white":
            assert abs(_hue_gap(got[2], want[2])) < 8.0, (target, got, want)
            anchor = lch(np.array(TARGET_COLOURS[target]))
            assert abs(got[1] - anchor[1]) > 10.0 or abs(got[0] - anchor[0]) > 10.0, target
        background = ~((yy - 32) ** 2 + (xx - 32) ** 2 < 24 ** 2)
        assert np.abs(np.asarray(out)[background].astype(int) - arr[background]).max() <= 1


def test_colour_swap_natural_lightness_share_zero_keeps_lightness() -> None:
    """colour_swap_lightness 0: a natural swap turns hue and chroma to the new word's and leaves
    every pixel's lightness as it was (the default moves it to the new word's)."""
    from jpegtext.captioner.colour import rgb_to_lab
    from jpegtext.restore.training.colour_swap import natural_lch, swap_colour

    people = natural_lch()
    arr = np.full((64, 64, 3), COLOURS["green"], np.uint8)
    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 32) ** 2 + (xx - 32) ** 2 < 20 ** 2
    arr[disc] = _lch_rgb(*people["yellow"])
    arr[disc & (xx < 32)] = _lch_rgb(people["yellow"][0] - 15, *people["yellow"][1:])  # shading
    img = Image.fromarray(arr)
    for share in (0.0, 1.0):
        out, _, named = swap_colour(img, "yellow petals", 0.5, "natural", lightness_share=share)
        before, after = rgb_to_lab(arr)[..., 0], rgb_to_lab(np.asarray(out))[..., 0]
        lit = disc & (xx >= 32)  # the half at people's yellow (the shaded half may not be named)
        moved = float(np.mean(after[lit] - before[lit]))
        want = people[named][0] - people["yellow"][0]
        if share == 0.0:
            assert np.abs(after[disc] - before[disc]).max() < 3.0  # gamut clipping only
            got = _region_lch(np.asarray(out)[lit])
            assert abs(_hue_gap(got[2], people[named][2])) < 8.0, (named, got)
        else:
            assert abs(moved - want) < 4.0, (named, moved, want)


def test_colour_swap_far_never_picks_a_neighbouring_colour() -> None:
    """far=True: no yellow -> orange, no purple -> blue or pink; far=False does pick them."""
    from jpegtext.restore.training.colour_swap import TARGET_COLOURS, swap_colour

    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 32) ** 2 + (xx - 32) ** 2 < 20 ** 2
    grid = [(k + 0.5) / 40 for k in range(40)]
    for word, near in (("yellow", {"yellow", "orange"}), ("purple", {"purple", "blue", "pink"})):
        arr = np.full((64, 64, 3), COLOURS["green"], np.uint8)
        arr[disc] = TARGET_COLOURS[word]
        img = Image.fromarray(arr)
        for mode in ("absolute", "offset"):
            picked = {swap_colour(img, f"{word} petals", u, mode, far=True)[2] for u in grid}
            assert picked == set(TARGET_COLOURS) - near, (word, mode, picked)
            anywhere = {swap_colour(img, f"{word} petals", u, mode)[2] for u in grid}
            assert anywhere & near - {word}, (word, mode, anywhere)


def test_colour_swap_changes_target_and_caption_never_the_input(tiny_data: Path) -> None:
    """colour_swap: the JPEG input is the unswapped one; only human captions at low QF swap."""
    from jpegtext.restore.training.config import DataConfig
    from jpegtext.restore.training.data import CaptionedImageDataset, read_records

    base = {"crop": 32, "scale_min": 0.7, "qualities": [1], "caption_dropout": 0.0}
    swap = {**base, "colour_swap": 1.0, "colour_swap_max_quality": 5}
    recs = read_records({"root": str(tiny_data), "manifest": "labels.jsonl", "split": "train",
                         "caption": "manifest"})
    plain = CaptionedImageDataset(recs, DataConfig.from_dict(base), seed=1)
    swapped = CaptionedImageDataset(recs, DataConfig.from_dict(swap), seed=1)
    n_swapped = 0
    for i in range(len(recs)):
        a, b = plain[i], swapped[i]
        assert torch.equal(a["jpeg"], b["jpeg"])  # the input never learns the new colour
        if a["caption"] != b["caption"]:
            n_swapped += 1
            assert not torch.equal(a["clean"], b["clean"])
            assert torch.equal(b["clean"], swapped[i]["clean"])  # the same sample every time
        else:
            assert torch.equal(a["clean"], b["clean"])
    assert n_swapped >= len(recs) // 2  # every caption names red, blue or yellow (or green)
    # above the quality limit, or with built-in captions, nothing is swapped
    high = CaptionedImageDataset(recs, DataConfig.from_dict({**swap, "qualities": [10]}), seed=1)
    builtin = CaptionedImageDataset(
        read_records({"root": str(tiny_data), "manifest": "labels.jsonl", "split": "train",
                      "caption": "builtin"}), DataConfig.from_dict(base), seed=1)
    builtin_swap = CaptionedImageDataset(builtin.records, DataConfig.from_dict(swap), seed=1)
    plain_high = CaptionedImageDataset(recs, DataConfig.from_dict({**base, "qualities": [10]}),
                                       seed=1)
    for i in range(3):
        assert high[i]["caption"] == plain_high[i]["caption"]
        assert torch.equal(high[i]["clean"], plain_high[i]["clean"])
        assert builtin_swap[i]["caption"] == builtin[i]["caption"]
        assert torch.equal(builtin_swap[i]["clean"], builtin[i]["clean"])
    for bad in ({"colour_swap": 1.5}, {"colour_swap_max_quality": 0},
                {"colour_swap_mode": "hue"}, {"colour_swap_far": "yes"},
                {"colour_swap_paired": 1}, {"colour_swap_lightness": 1.5}):
        with pytest.raises(ConfigError, match="colour_swap"):
            DataConfig.from_dict({**base, **bad})


def test_colour_swap_paired_puts_the_true_twin_of_each_swap_in_the_batch(tiny_data: Path) -> None:
    """colour_swap_paired: each swapped sample brings its unswapped self (same JPEG, true caption,
    true target) into the batch; unswapped samples come once."""
    from jpegtext.restore.training.config import DataConfig
    from jpegtext.restore.training.data import (
        CaptionedImageDataset,
        collate,
        read_records,
        with_true_twins,
    )

    base = {"crop": 32, "scale_min": 0.7, "qualities": [1], "caption_dropout": 0.0}
    recs = read_records({"root": str(tiny_data), "manifest": "labels.jsonl", "split": "train",
                         "caption": "manifest"})
    plain = CaptionedImageDataset(recs, DataConfig.from_dict(base), seed=1)
    cfg = {**base, "colour_swap": 0.5, "colour_swap_paired": True}
    paired = CaptionedImageDataset(recs, DataConfig.from_dict(cfg), seed=1)
    items = [paired[i] for i in range(len(recs))]
    swapped = [i for i, it in enumerate(items) if it["paired"]]
    assert 0 < len(swapped) < len(recs)  # half the samples swap
    batch = with_true_twins(collate(items))
    n = len(recs)
    assert len(batch["caption"]) == batch["clean"].shape[0] == n + len(swapped)
    assert all(v.shape[0] == n + len(swapped) for v in batch.values() if torch.is_tensor(v))
    for k, i in enumerate(swapped):
        truth = plain[i]
        assert batch["caption"][i] != truth["caption"]  # the swap itself, kept
        assert batch["caption"][n + k] == truth["caption"]  # its truthful twin, appended
        assert torch.equal(batch["clean"][n + k], truth["clean"])
        assert torch.equal(batch["jpeg"][n + k], batch["jpeg"][i])
        assert batch["quality"][n + k] == batch["quality"][i]
    # without pairing the batch is what the dataset gave
    unpaired = CaptionedImageDataset(recs, DataConfig.from_dict({**cfg, "colour_swap_paired":
                                                                 False}), seed=1)
    same = with_true_twins(collate([unpaired[i] for i in range(n)]))
    assert same["clean"].shape[0] == n


def test_part_distractor_prefixes_human_captions_and_changes_nothing_else(
        tiny_data: Path) -> None:
    """part_distractor: a clause giving a small part a colour goes before the caption (and its
    truthful twin's); crops, inputs, targets and swaps stay those of a run without it."""
    from jpegtext.restore.training.colour_swap import DISTRACTOR_PARTS, distractor_clause
    from jpegtext.restore.training.config import DataConfig
    from jpegtext.restore.training.data import CaptionedImageDataset, read_records

    base = {"crop": 32, "scale_min": 0.7, "qualities": [1], "caption_dropout": 0.0,
            "colour_swap": 0.5, "colour_swap_paired": True}
    recs = read_records({"root": str(tiny_data), "manifest": "labels.jsonl", "split": "train",
                         "caption": "manifest"})
    plain = CaptionedImageDataset(recs, DataConfig.from_dict(base), seed=1)
    every = CaptionedImageDataset(recs, DataConfig.from_dict({**base, "part_distractor": 1.0}),
                                  seed=1)
    n_paired = 0
    for i in range(len(recs)):
        a, b = plain[i], every[i]
        assert torch.equal(a["jpeg"], b["jpeg"]) and torch.equal(a["clean"], b["clean"])
        assert b["caption"] != a["caption"] and b["caption"].endswith(a["caption"])
        clause = b["caption"][: -len(a["caption"])]
        assert any(part in clause for part in DISTRACTOR_PARTS)
        if a["paired"]:
            n_paired += 1
            assert b["true_caption"] == clause + a["true_caption"]  # the same clause
    assert n_paired > 0
    # built-in captions never get one, and chance 0 draws none
    builtin = CaptionedImageDataset(
        read_records({"root": str(tiny_data), "manifest": "labels.jsonl", "split": "train",
                      "caption": "builtin"}), DataConfig.from_dict({**base,
                                                                    "part_distractor": 1.0}),
        seed=1)
    builtin_plain = CaptionedImageDataset(builtin.records, DataConfig.from_dict(base), seed=1)
    assert builtin[0]["caption"] == builtin_plain[0]["caption"]
    rng = np.random.default_rng(0)
    assert {distractor_clause(rng, 0.0) for _ in range(50)} == {""}
    share = np.mean([distractor_clause(rng, 0.3) != "" for _ in range(2000)])
    assert 0.25 < share < 0.35
    with pytest.raises(ConfigError, match="part_distractor"):
        DataConfig.from_dict({**base, "part_distractor": 1.5})


def test_paired_swaps_reach_the_training_step(tiny_data: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A stage-2 step with colour_swap_paired sees each swap and its true twin."""
    from jpegtext.restore.training import train as train_mod

    seen: list[list[str]] = []
    real = train_mod.with_true_twins

    def spy(batch):  # type: ignore[no-untyped-def]
        out = real(batch)
        seen.append(out["caption"])
        return out

    monkeypatch.setattr(train_mod, "with_true_twins", spy)
    data = {"sources": [{"root": str(tiny_data), "manifest": "labels.jsonl", "split": "train",
                         "caption": "manifest"}], "crop": 32, "qualities": [1],
            "caption_dropout": 0.0, "colour_swap": 1.0, "colour_swap_paired": True}
    run_training(_config(tiny_data, "tgjar", max_steps=2, data=data), tmp_path / "r",
                 progress=False)
    assert len(seen) == 2 and all(len(c) > 4 for c in seen)  # batch 4 plus the twins


def test_lightness_is_cielab_lightness_and_anchor_weighs_it() -> None:
    from jpegtext.captioner.colour import rgb_to_lab
    from jpegtext.restore.training.losses import LightnessAnchorLoss, lightness

    rgb = torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    rgb[0, :, 0, 0] = 0.0  # black: the linear segment, finite gradient
    ours = lightness(rgb.requires_grad_(True))
    ours.sum().backward()
    assert rgb.grad is not None and torch.isfinite(rgb.grad).all()
    ref = np.stack([rgb_to_lab(x.detach().permute(1, 2, 0).numpy())[..., 0] for x in rgb])
    np.testing.assert_allclose(ours.detach()[:, 0].numpy() * 100, ref, atol=0.5)
    anchor = LightnessAnchorLoss(2.0)
    x = rgb.detach()
    assert anchor(x, x).item() == 0.0
    darker = x * 0.5
    both = anchor(x, darker).item()
    assert both > 0
    # a sample weighted 0 is left out: only the first counts, half of the batch mean
    one = anchor(x, torch.cat([darker[:1], x[1:]]), torch.tensor([1.0, 0.0])).item()
    first = anchor(x[:1], darker[:1]).item()
    assert one == pytest.approx(first / 2, rel=1e-5)
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"stage": "tgjar", "loss": {"lightness_anchor": -1.0},
                               "data": {"sources": []}})


def test_lightness_anchor_sigma_ties_texture_and_frees_shading() -> None:
    """With sigma, a uniform brightening costs nothing and a changed texture costs as before."""
    from jpegtext.restore.training.losses import LightnessAnchorLoss

    base = torch.full((1, 3, 32, 32), 0.4)
    brighter = base + 0.1  # broad: the same change everywhere
    texture = base.clone()
    texture[..., ::2, ::2] += 0.1  # fine: a pixel-scale pattern
    whole, fine = LightnessAnchorLoss(1.0), LightnessAnchorLoss(1.0, sigma=2.0)
    assert whole(brighter, base).item() > 0.05
    assert fine(brighter, base).item() < 1e-5
    assert fine(texture, base).item() > 0.4 * whole(texture, base).item() > 0


def test_chroma_loss_is_cielab_colour_of_regions() -> None:
    """a*b* match OpenCV's; a lightness change costs nothing, a hue change does, and the blur keeps
    a region's colour while it averages away a pixel-scale colour pattern."""
    from jpegtext.captioner.colour import rgb_to_lab
    from jpegtext.restore.training.losses import ChromaLoss, cielab, lightness

    rgb = torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    lab = cielab(rgb.requires_grad_(True))
    lab.sum().backward()
    assert rgb.grad is not None and torch.isfinite(rgb.grad).all()
    ref = np.stack([rgb_to_lab(x.detach().permute(1, 2, 0).numpy()) for x in rgb])
    np.testing.assert_allclose(lab.detach().permute(0, 2, 3, 1).numpy() * 100, ref, atol=0.5)
    assert torch.equal(lab[:, :1], lightness(rgb))
    grey = torch.full((1, 3, 16, 16), 0.5)
    red, blue = grey.clone(), grey.clone()
    red[:, 0] += 0.3
    blue[:, 2] += 0.3
    plain, region = ChromaLoss(1.0), ChromaLoss(2.0, sigma=2.0)
    assert plain(grey * 0.6, grey).item() < 1e-6  # darker grey: no colour change
    assert plain(red, blue).item() > 0.2
    assert region(red, blue).item() == pytest.approx(2 * plain(red, blue).item(), rel=1e-4)
    checker = grey.clone()
    checker[:, 0, ::2, ::2] += 0.2
    checker[:, 0, 1::2, 1::2] -= 0.2
    assert region(checker, grey).item() / 2 < 0.2 * plain(checker, grey).item()
    one = plain(torch.cat([red, red]), torch.cat([blue, red]), torch.tensor([1.0, 0.0])).item()
    assert one == pytest.approx(plain(red, blue).item() / 2, rel=1e-5)
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"stage": "tgjar", "loss": {"chroma_weight": -1.0},
                               "data": {"sources": []}})


def test_lightness_anchor_ties_truthful_captions_only(tiny_data: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """lightness_anchor: the stage-2 step compares the output for each truthful (non-empty,
    unswapped) caption with the same generator's output for an empty caption; swapped samples and
    the no-text twin are left out."""
    from jpegtext.restore.training import train as train_mod
    from jpegtext.restore.training.losses import LightnessAnchorLoss

    calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    batches: list[dict] = []
    real_forward, real_twins = LightnessAnchorLoss.forward, train_mod.with_true_twins

    def spy_forward(self, pred, reference, sample_weight=None):  # type: ignore[no-untyped-def]
        calls.append((pred.detach(), reference, sample_weight))
        return real_forward(self, pred, reference, sample_weight)

    def spy_twins(batch):  # type: ignore[no-untyped-def]
        out = real_twins(batch)
        batches.append(out)
        return out

    monkeypatch.setattr(LightnessAnchorLoss, "forward", spy_forward)
    monkeypatch.setattr(train_mod, "with_true_twins", spy_twins)
    data = {"sources": [{"root": str(tiny_data), "manifest": "labels.jsonl", "split": "train",
                         "caption": "manifest"}], "crop": 32, "qualities": [1],
            "caption_dropout": 0.3, "colour_swap": 0.5, "colour_swap_paired": True}
    loss = {"contrastive_weight": 0.0, "damsm_weight": 0.0, "lightness_anchor": 1.0}
    run_training(_config(tiny_data, "tgjar", max_steps=3, data=data, loss=loss),
                 tmp_path / "a", progress=False)
    assert len(calls) == len(batches) == 3
    weights: list[bool] = []
    for (pred, reference, weight), batch in zip(calls, batches, strict=True):
        expected = [bool(c) and not bool(s) for c, s in zip(batch["caption"], batch["swapped"],
                                                            strict=True)]
        assert weight.bool().tolist() == expected
        assert not reference.requires_grad and reference.shape == pred.shape
        weights += expected
    assert any(weights) and not all(weights)  # swapped or empty samples were left out
    log = [json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert any("anchor" in r for r in log)
    calls.clear()
    run_training(_config(tiny_data, "tgjar", max_steps=2, data=data, loss=loss, text_off=True),
                 tmp_path / "t", progress=False)
    assert not calls  # the twin's captions are all empty: no second forward


def _swap_batches(monkeypatch: pytest.MonkeyPatch,
                  tiny_data: Path) -> tuple[list[dict], dict]:
    """Record every stage-2 batch (with its truthful twins); a data config with paired swaps."""
    from jpegtext.restore.training import train as train_mod

    batches: list[dict] = []
    real_twins = train_mod.with_true_twins

    def spy_twins(batch):  # type: ignore[no-untyped-def]
        batches.append(real_twins(batch))
        return batches[-1]

    monkeypatch.setattr(train_mod, "with_true_twins", spy_twins)
    data = {"sources": [{"root": str(tiny_data), "manifest": "labels.jsonl", "split": "train",
                         "caption": "manifest"}], "crop": 32, "qualities": [1],
            "caption_dropout": 0.3, "colour_swap": 0.5, "colour_swap_paired": True}
    return batches, data


def test_keep_named_and_keep_swapped_weigh_the_keep_term_by_the_named_region(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """keep_named / keep_swapped: a truthful sample is kept with keep_start + keep_named on the
    region its caption's colour word names, a swapped one with keep_swapped outside the region
    its swap repainted; a truthful twin names its swapped sample's region."""
    from jpegtext.restore.training import losses as losses_mod

    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    real = losses_mod.pixel_weighted_l1

    def spy(pred, target, weight):  # type: ignore[no-untyped-def]
        calls.append((target, weight))
        return real(pred, target, weight)

    monkeypatch.setattr(losses_mod, "pixel_weighted_l1", spy)
    batches, data = _swap_batches(monkeypatch, tiny_data)
    loss = {"contrastive_weight": 0.0, "damsm_weight": 0.0, "keep_start": 2.0,
            "keep_named": 3.0, "keep_swapped": 5.0}
    trainer = Trainer(_config(tiny_data, "tgjar", max_steps=3, data=data, loss=loss),
                      tmp_path / "k", progress=False)
    trainer.fit()
    assert len(calls) == 3
    seen_named = seen_swap = False
    for (target, weight), batch in zip(calls, batches, strict=True):
        named, swapped = batch["named"], batch["swapped"]
        assert weight.shape == (len(swapped), 1, *target.shape[2:])
        for i in range(len(swapped)):
            if swapped[i]:
                assert torch.allclose(weight[i], 5.0 * (1.0 - named[i]))
                assert named[i].max() > 0.5  # a swap always repaints a named region
                seen_swap = True
            else:
                assert torch.allclose(weight[i], 2.0 + 3.0 * named[i])
                seen_named |= bool(named[i].max() > 0.5)
    assert seen_swap and seen_named
    # a truthful twin appended by with_true_twins repeats its swapped sample's region
    from jpegtext.restore.training.data import with_true_twins

    regions = torch.rand(3, 1, 4, 4)
    twin = with_true_twins({
        "clean": torch.zeros(3, 3, 4, 4), "jpeg": torch.zeros(3, 3, 4, 4),
        "quality": torch.ones(3, dtype=torch.long), "class_id": torch.zeros(3, dtype=torch.long),
        "index": torch.arange(3), "caption": ["a", "b", "c"], "named": regions,
        "swapped": torch.tensor([False, True, False]), "paired": torch.tensor([False, True, False]),
        "true_clean": [torch.ones(3, 4, 4)], "true_caption": ["b0"]})
    assert torch.equal(twin["named"], torch.cat([regions, regions[1:2]]))
    a, b = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    assert real(a, b, torch.full((2, 1, 4, 4), 2.0)).item() == pytest.approx(2.0)
    with pytest.raises(ValueError):
        real(a, b, torch.ones(2, 3, 4, 4))
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"stage": "tgjar", "data": {"sources": []},
                               "loss": {"keep_named": 1.0}})


def test_lightness_anchor_start_ties_every_unswapped_sample_to_the_frozen_start(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """lightness_anchor_reference "start": the reference is the generator as training began
    (frozen), and every sample that is not a swap is tied, the twin's empty captions too."""
    from jpegtext.restore.training.losses import LightnessAnchorLoss

    calls: list[torch.Tensor] = []
    real_forward = LightnessAnchorLoss.forward

    def spy_forward(self, pred, reference, sample_weight=None):  # type: ignore[no-untyped-def]
        calls.append(sample_weight)
        return real_forward(self, pred, reference, sample_weight)

    monkeypatch.setattr(LightnessAnchorLoss, "forward", spy_forward)
    batches, data = _swap_batches(monkeypatch, tiny_data)
    loss = {"contrastive_weight": 0.0, "damsm_weight": 0.0, "lightness_anchor": 1.0,
            "lightness_anchor_sigma": 2.0, "lightness_anchor_reference": "start"}
    for text_off in (False, True):
        calls.clear()
        batches.clear()
        trainer = Trainer(_config(tiny_data, "tgjar", max_steps=3, data=data, loss=loss,
                                  text_off=text_off), tmp_path / f"s{text_off}", progress=False)
        start = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
        trainer.fit()
        assert len(calls) == 3
        for weight, batch in zip(calls, batches, strict=True):
            assert weight.bool().tolist() == (~batch["swapped"]).tolist()
        frozen = trainer.anchor_start.state_dict()
        assert all(torch.equal(frozen[k], v) for k, v in start.items())  # never trained
        assert not all(torch.equal(trainer.generator.state_dict()[k], v) for k, v in start.items())
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"stage": "tgjar", "data": {"sources": []},
                               "loss": {"lightness_anchor_reference": "teacher"}})


def test_keep_start_ties_unswapped_samples_to_the_frozen_start_with_their_captions(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """keep_start: L1 between the output and the frozen starting generator's output for the same
    JPEG and the same caption, on every sample that is not a colour swap."""
    from jpegtext.restore.training.losses import L1Loss

    calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    real_forward = L1Loss.forward

    def spy_forward(self, pred, target, sample_weight=None):  # type: ignore[no-untyped-def]
        if sample_weight is not None:  # the keep term (the plain L1 to the clean image has none)
            calls.append((pred.detach(), target, sample_weight))
        return real_forward(self, pred, target, sample_weight)

    monkeypatch.setattr(L1Loss, "forward", spy_forward)
    batches, data = _swap_batches(monkeypatch, tiny_data)
    loss = {"contrastive_weight": 0.0, "damsm_weight": 0.0, "keep_start": 2.0}
    trainer = Trainer(_config(tiny_data, "tgjar", max_steps=3, data=data, loss=loss),
                      tmp_path / "k", progress=False)
    start = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    trainer.fit()
    assert trainer.anchor is None and len(calls) == 3
    weights: list[bool] = []
    for (pred, target, weight), batch in zip(calls, batches, strict=True):
        assert weight.bool().tolist() == (~batch["swapped"]).tolist()
        assert not target.requires_grad and target.shape == pred.shape
        weights += weight.bool().tolist()
    assert any(weights) and not all(weights)  # the swaps were left out
    # the target is the start's output for the sample's own caption, not an empty one
    pred, target, _ = calls[-1]
    batch = batches[-1]
    g = trainer.anchor_start
    with torch.no_grad():
        text = trainer.text.encode(list(batch["caption"]), trainer.device)
        again = g(batch["jpeg"], text.words, text.mask, text.sentence, batch["quality"])
    assert torch.allclose(again, target, atol=1e-6)
    assert all(torch.equal(g.state_dict()[k], v) for k, v in start.items())  # never trained
    log = [json.loads(x) for x in (tmp_path / "k" / "log.jsonl").read_text().splitlines()]
    assert any("keep" in r for r in log)
    a, b = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    assert L1Loss(2.0)(a, b, torch.tensor([1.0, 0.0])).item() == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"stage": "tgjar", "data": {"sources": []},
                               "loss": {"keep_start": -1.0}})


def test_keep_twin_ties_each_kept_sample_to_the_closer_of_start_and_twin(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """keep_twin: a kept sample's target is the starting model's output with its caption or the
    frozen twin's with an empty caption, whichever is closer (mean L1) to the clean crop."""
    from jpegtext.restore.training.losses import L1Loss

    calls: list[torch.Tensor] = []
    real_forward = L1Loss.forward

    def spy_forward(self, pred, target, sample_weight=None):  # type: ignore[no-untyped-def]
        if sample_weight is not None:
            calls.append(target)
        return real_forward(self, pred, target, sample_weight)

    base = _config(tiny_data, "tgjar", max_steps=2)
    run_training(base, tmp_path / "twin", progress=False)  # another generator: the "twin"
    twin_file = tmp_path / "twin" / "model.safetensors"
    monkeypatch.setattr(L1Loss, "forward", spy_forward)
    batches, data = _swap_batches(monkeypatch, tiny_data)
    loss = {"contrastive_weight": 0.0, "damsm_weight": 0.0, "keep_start": 2.0}
    trainer = Trainer(_config(tiny_data, "tgjar", max_steps=3, data=data, loss=loss,
                              keep_twin=str(twin_file), seed=5), tmp_path / "k", progress=False)
    twin_state = {k: v.clone() for k, v in trainer.keep_twin.state_dict().items()}
    trainer.fit()
    assert len(calls) == 3
    took_twin = took_start = False
    for target, batch in zip(calls, batches, strict=True):
        with torch.no_grad():
            text = trainer.text.encode(list(batch["caption"]), trainer.device)
            start = trainer.anchor_start(batch["jpeg"], text.words, text.mask, text.sentence,
                                         batch["quality"])
            blank = trainer.text.encode([""] * len(batch["caption"]), trainer.device)
            twin = trainer.keep_twin(batch["jpeg"], blank.words, blank.mask, blank.sentence,
                                     batch["quality"])
        for i in range(target.shape[0]):
            d_start = float((start[i] - batch["clean"][i]).abs().mean())
            d_twin = float((twin[i] - batch["clean"][i]).abs().mean())
            want = twin[i] if d_twin < d_start else start[i]
            took_twin |= d_twin < d_start
            took_start |= d_twin >= d_start
            assert torch.allclose(target[i], want, atol=1e-6)
    assert took_twin and took_start  # both targets were used: the choice is per sample
    assert all(torch.equal(trainer.keep_twin.state_dict()[k], v) for k, v in twin_state.items())
    log = [json.loads(x) for x in (tmp_path / "k" / "log.jsonl").read_text().splitlines()]
    shares = [r["keep_twin_share"] for r in log if "keep_twin_share" in r]
    assert shares and all(0.0 <= s <= 1.0 for s in shares)
    assert load_model_file(tmp_path / "k" / "model.safetensors") is not None
    with pytest.raises(ConfigError, match="keep_twin needs"):
        _config(tiny_data, "tgjar", keep_twin=str(twin_file))  # no keep_start
    other = {**TINY_MODEL, "generator": {**TINY_MODEL["generator"], "mid_blocks": 2}}
    with pytest.raises(ConfigError, match="keep_twin .* generator config differs"):
        Trainer(_config(tiny_data, "tgjar", loss=loss, keep_twin=str(twin_file),
                        model=other), tmp_path / "c", progress=False)
