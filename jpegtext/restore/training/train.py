"""Two-stage training of TGJAR (paper section 3.5), single process or DDP under torchrun.

Stage 1 (``damsm``) pretrains the text encoder and the image encoder's projections with the
DAMSM word and sentence losses. Stage 2 (``tgjar``) freezes them (and LPIPS) and trains the
generator and the PatchGAN with L = w_C L_C + w_R L_R + w_G L_G + w_IT L_IT.

A run lives in one folder: ``config.yaml`` (what was asked), ``log.jsonl`` (losses and
validation), ``checkpoints/last.pt`` (exact resume: weights, optimisers, schedule, data
position), ``val/step_*.png`` (JPEG | restored | clean) and the final export
(``damsm.safetensors`` or ``model.safetensors``). Under ``torchrun`` every rank trains on its
shard of each global batch and only rank 0 logs, validates and writes files.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from jpegtext._device import resolve_device
from jpegtext.errors import ConfigError, WeightsError
from jpegtext.restore.networks.text import (
    BiLSTMTextEncoder,
    MiniLMTextEncoder,
    Vocabulary,
    WordPieceTextEncoder,
    WordPieceVocabulary,
    build_text_encoder,
    minilm_piece_table,
)
from jpegtext.restore.training.config import TrainConfig
from jpegtext.restore.training.data import (
    CaptionedImageDataset,
    collate,
    read_records,
    with_true_twins,
)

__all__ = ["Trainer", "build_vocabulary", "checkpoint_conflicts", "new_text_encoder",
           "retrieval_r1", "run_training"]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- distributed set-up
class _Dist:
    """Process-group facts: world size, rank, device; a no-op outside torchrun."""

    def __init__(self, device: str | torch.device | None) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        dev = resolve_device(device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", local if self.world > 1 else 0)
        self.device = dev
        self.owns_group = False
        if self.world > 1 and not dist.is_initialized():
            if dev.type == "cuda":
                torch.cuda.set_device(dev)
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
            self.owns_group = True

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


class _ResumableSampler(DistributedSampler):
    """DistributedSampler that can start an epoch part-way (exact resume)."""

    def __init__(self, dataset: Any, num_replicas: int, rank: int, seed: int,
                 epoch_size: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed,
                         drop_last=True)
        self.start = 0
        self.epoch_size = epoch_size

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        n = len(self.dataset)
        # an epoch may be longer than the dataset: concatenate permutations
        per = []
        total = self.epoch_size or n
        k = 0
        while len(per) < total:
            g2 = torch.Generator()
            g2.manual_seed(self.seed + self.epoch * 1000003 + k)
            per.extend(torch.randperm(n, generator=g2).tolist())
            k += 1
        per = per[:total]
        usable = (len(per) // self.num_replicas) * self.num_replicas
        mine = per[self.rank:usable:self.num_replicas]
        return iter(mine[self.start:])

    def __len__(self) -> int:
        total = self.epoch_size or len(self.dataset)
        return total // self.num_replicas - self.start


# --------------------------------------------------------------------------- helpers
def _records(config: TrainConfig) -> list[Any]:
    recs = []
    for src in config.data.sources:
        weight = int(src.get("weight", 1))
        if weight < 1:
            raise ConfigError(f"data source weight must be >= 1: {dict(src)}")
        recs.extend(read_records(src) * weight)
    if not recs:
        raise ConfigError("the config has no training data sources (data.sources)")
    return recs


def build_vocabulary(config: TrainConfig) -> Vocabulary:
    """Words of the built-in captioner plus every word of the sources' human captions."""
    from jpegtext.captioner import BUILTIN_VOCABULARY

    captions = [" ".join(sorted(BUILTIN_VOCABULARY))]
    for src in config.data.sources:
        if src.get("caption", "builtin") != "builtin":
            for rec in read_records(src):
                captions.extend(rec.captions)
    return Vocabulary.build(captions, min_count=config.vocab_min_count)


def new_text_encoder(
    config: TrainConfig,
) -> tuple[Vocabulary | WordPieceVocabulary | None, BiLSTMTextEncoder | MiniLMTextEncoder]:
    """A fresh (untrained) text encoder of the run's kind, with its vocabulary: the words of
    the training captions (bi-LSTM), MiniLM's pieces and their PCA table (WordPiece), or the
    frozen MiniLM (no vocabulary)."""
    tcfg = config.model.text
    vocab: Vocabulary | WordPieceVocabulary | None = None
    if tcfg.kind == "bilstm":
        vocab = build_vocabulary(config)
    elif tcfg.kind == "wordpiece":
        vocab = WordPieceVocabulary.from_minilm()
    text = build_text_encoder(tcfg, vocab)
    if isinstance(text, WordPieceTextEncoder):
        text.set_piece_table(minilm_piece_table(tcfg.piece_dim))
    return vocab, text


def _lr_for_epoch(config: TrainConfig, epoch: int) -> float:
    return max(config.lr * config.lr_gamma ** (epoch // config.lr_step_epochs), config.lr_min)


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def _generator_param_groups(generator: nn.Module, lr: float, text_lr_scale: float,
                            image_lr_scale: float = 1.0) -> list[dict[str, Any]]:
    """Adam groups: the layers that read text features (the GFM's first FC layer, the LFMs'
    word projections and null words) at ``text_lr_scale`` x lr, everything else at
    ``image_lr_scale`` x lr (0: frozen)."""
    text_names = {n for n, _ in generator.named_parameters()
                  if n.startswith("gfm.fc.0.") or ".word_proj." in n or n.endswith(".null")}
    text = [p for n, p in generator.named_parameters() if n in text_names]
    rest = [p for n, p in generator.named_parameters() if n not in text_names]
    groups = [{"params": rest, "lr": lr * image_lr_scale, "lr_scale": image_lr_scale}]
    if text:
        groups.append({"params": text, "lr": lr * text_lr_scale, "lr_scale": text_lr_scale})
    return groups


def _rng_state(device: torch.device) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":  # dropout on a GPU draws from its own generator
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


# what a checkpoint's tensors depend on: a run folder's checkpoint is resumed only with a config
# that agrees on these (other keys, e.g. lr or max_steps, may change between sessions)
_CHECKPOINT_KEYS = ("stage", "model", "image_encoder", "discriminator")


def _refuse_conflicts(config: TrainConfig, run_dir: str | os.PathLike[str]) -> None:
    """ConfigError (one line) when ``run_dir``'s checkpoint was made with another config in
    what it depends on (:func:`checkpoint_conflicts`)."""
    keys = checkpoint_conflicts(config, run_dir)
    if keys:
        shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
        verb = "differs" if len(keys) == 1 else "differ"
        raise ConfigError(
            f"{run_dir} holds a checkpoint of another config: {shown} {verb} from its "
            "config.yaml; use --no-resume to start over there, or another --run-dir")


def _flatten(raw: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b": value}`` of nested mappings (lists stay values)."""
    if not isinstance(raw, dict):
        return {prefix: raw}
    out: dict[str, Any] = {}
    for k, v in raw.items():
        out.update(_flatten(v, f"{prefix}{k}." if isinstance(v, dict) else f"{prefix}{k}"))
    return out


def checkpoint_conflicts(config: TrainConfig, run_dir: str | os.PathLike[str]) -> list[str]:
    """The keys (dotted) on which ``config`` differs from the config saved in ``run_dir`` and
    that its checkpoint depends on (:data:`_CHECKPOINT_KEYS`); empty when the folder has no
    checkpoint or no saved config, or when they agree."""
    import yaml

    run_dir = Path(run_dir)
    saved = run_dir / "config.yaml"
    if not (run_dir / "checkpoints" / "last.pt").is_file() or not saved.is_file():
        return []
    try:
        old = yaml.safe_load(saved.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{saved}: not readable ({exc}); use --no-resume to start over, or "
                          "another --run-dir") from None
    if not isinstance(old, dict):
        raise ConfigError(f"{saved}: not a config; use --no-resume to start over, or another "
                          "--run-dir")
    # keys a config.yaml of an older version lacks had their default then
    defaults = _flatten(TrainConfig().to_dict())
    new, old = _flatten(config.to_dict()), _flatten(old)
    return [k for k in new if k.split(".")[0] in _CHECKPOINT_KEYS
            and old.get(k, defaults.get(k)) != new[k]]


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b) ** 2).mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def _save_side_by_side(path: Path, *images: torch.Tensor) -> None:
    from PIL import Image

    row = torch.cat([im.clamp(0, 1) for im in images], dim=2)
    arr = (row.permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@torch.no_grad()
def retrieval_r1(text_encoder: nn.Module, image_encoder: nn.Module, images: torch.Tensor,
                 captions: list[str], class_ids: list[int] | None = None,
                 n_candidates: int = 100, seed: int = 0,
                 device: torch.device | str = "cpu") -> dict[str, float]:
    """Image-to-text R@1 among ``n_candidates`` captions (the true one + mismatched ones).

    Mismatched candidates are captions of other images whose text differs from the true
    caption (identical texts would be a tie, not a mistake) and, when class ids are given,
    whose class differs. Chance level is ``1 / n_candidates``.

    Args:
        images: (N, 3, H, W) float in [0, 1].
        captions: N captions.

    Returns:
        ``{"r1_sentence", "r1_word", "chance", "n"}``.
    """
    from jpegtext.restore.training.damsm import sentence_scores, word_scores

    rng = np.random.default_rng(seed)
    feats = []
    for i in range(0, len(captions), 64):
        feats.append(text_encoder.encode(captions[i:i + 64], device))
    regions, glob = [], []
    for i in range(0, len(images), 32):
        r, g = image_encoder(images[i:i + 32].to(device))
        regions.append(r)
        glob.append(g)
    regions_t, glob_t = torch.cat(regions), torch.cat(glob)
    hits_s = hits_w = n = 0
    for i in range(len(captions)):
        pool = [j for j in range(len(captions)) if captions[j] != captions[i]
                and (class_ids is None or class_ids[j] != class_ids[i])]
        if len(pool) < n_candidates - 1 or not captions[i].strip():
            continue
        cands = [i, *rng.choice(pool, n_candidates - 1, replace=False).tolist()]
        items = [_feat(feats, j) for j in cands]
        words, mask = _pad_words(items, max(it[0].shape[2] for it in items))
        sent = torch.cat([it[2] for it in items])
        s = sentence_scores(sent, glob_t[i:i + 1])[:, 0]
        w = word_scores(words, mask, regions_t[i:i + 1])[:, 0]
        hits_s += int(s.argmax() == 0)
        hits_w += int(w.argmax() == 0)
        n += 1
    return {"r1_sentence": hits_s / max(n, 1), "r1_word": hits_w / max(n, 1),
            "chance": 1.0 / n_candidates, "n": n}


def _feat(feats: list[Any], j: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    f = feats[j // 64]
    k = j % 64
    return f.words[k:k + 1], f.mask[k:k + 1], f.sentence[k:k + 1]


def _pad_words(items: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
               t: int) -> tuple[torch.Tensor, torch.Tensor]:
    words, masks = [], []
    for w, m, _ in items:
        extra = t - w.shape[2]
        words.append(nn.functional.pad(w, (0, extra)))
        masks.append(nn.functional.pad(m, (0, extra), value=True))
    return torch.cat(words), torch.cat(masks)


# --------------------------------------------------------------------------- the trainer
class Trainer:
    """One training run (either stage); see the module docstring for the run folder.

    Args:
        config: the run's configuration.
        run_dir: the run folder (created).
        device: None = CUDA when available, else CPU (under torchrun: the local GPU).
        progress: show a progress bar on rank 0.
    """

    def __init__(self, config: TrainConfig, run_dir: str | os.PathLike[str],
                 device: str | torch.device | None = None, progress: bool = True) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.dist = _Dist(device)
        self.device = self.dist.device
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.step = 0
        self.epoch = 0
        self.start_in_epoch = 0
        self.best: dict[str, float] = {}
        self.ckpt_writes = 0
        self._interrupted = False
        self._epoch_rng: torch.Tensor | None = None
        # nothing is written into the run folder until the run starts (fit): a config that
        # fails to build, or that another run's checkpoint does not fit, leaves it as it was
        self._build()

    # ----------------------------------------------------------------- building
    def _trunk_state(self) -> dict[str, torch.Tensor]:
        from jpegtext.restore.networks.image_encoder import load_alexnet_trunk_state

        return load_alexnet_trunk_state(self.config.alexnet_trunk)

    def _build(self) -> None:
        cfg = self.config
        from jpegtext.restore.networks.image_encoder import DAMSMImageEncoder

        records = _records(cfg)
        self.train_set = CaptionedImageDataset(records, cfg.data, seed=cfg.seed, train=True,
                                               caption_dropout=cfg.data.caption_dropout
                                               if cfg.stage == "tgjar" else 0.0,
                                               named_regions=cfg.loss.per_pixel_keep)
        self.val_set = None
        if cfg.data.val:
            vrec = read_records(cfg.data.val)[: cfg.data.val_limit]
            self.val_set = CaptionedImageDataset(vrec, cfg.data, seed=cfg.seed, train=False)
        if cfg.stage == "damsm":
            self.vocab, text = new_text_encoder(cfg)
            self.text = text.to(self.device)
            self.image = DAMSMImageEncoder(cfg.image_encoder, self._trunk_state()).to(self.device)
            params = [p for m in (self.text, self.image) for p in m.parameters()
                      if p.requires_grad]
            self.opt = {"enc": torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas))}
            self.trainable = {"text": self.text, "image": self.image}
        else:
            self._build_stage2()
        self._wrap_ddp()

    def _build_stage2(self) -> None:
        from jpegtext.restore.networks.discriminator import PatchDiscriminator
        from jpegtext.restore.networks.generator import TGJARGenerator
        from jpegtext.restore.training.losses import (
            ChromaLoss,
            ContrastiveLoss,
            DAMSMLoss,
            GANLoss,
            L1Loss,
            LightnessAnchorLoss,
        )

        cfg = self.config
        lc = cfg.loss
        self.image = None
        if cfg.damsm_checkpoint:
            from jpegtext.restore.runtime.modelfile import load_damsm_file

            trunk = self._trunk_state() if lc.damsm_weight > 0 else None
            self.text, image, self.vocab, _ = load_damsm_file(cfg.damsm_checkpoint, trunk)
            if lc.damsm_weight > 0:
                self.image = image.to(self.device).eval().requires_grad_(False)
        else:
            if lc.damsm_weight > 0:
                raise ConfigError("damsm_weight > 0 needs damsm_checkpoint (a stage-1 export)")
            log.warning("no damsm_checkpoint: the text encoder is random (frozen)")
            self.vocab, self.text = new_text_encoder(cfg)
        self.text = self.text.to(self.device).eval().requires_grad_(False)
        text_dim = getattr(self.text, "feature_dim", cfg.model.text.feature_dim)
        if text_dim != cfg.model.generator.text_dim:
            raise ConfigError(f"text features are {text_dim}-d but generator.text_dim is "
                              f"{cfg.model.generator.text_dim}")
        torch.manual_seed(cfg.seed)
        self.generator = TGJARGenerator(cfg.model.generator)
        if cfg.init_from:
            self._init_generator(cfg.init_from)
        self.generator = self.generator.to(self.device)
        self.disc = PatchDiscriminator(cfg.discriminator).to(self.device)
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False) \
            if cfg.ema_decay > 0 else None
        # lightness_anchor_reference "start" and keep_start: a frozen copy of the starting generator
        self.anchor_start = copy.deepcopy(self.generator).eval().requires_grad_(False) \
            if lc.keep_start > 0 or (lc.lightness_anchor > 0
                                     and lc.lightness_anchor_reference == "start") else None
        # keep_twin: a frozen no-text twin, the keep term's second target (empty captions)
        self.keep_twin = self._frozen_generator(cfg.keep_twin) if cfg.keep_twin else None
        self.l1 = L1Loss(lc.l1_weight)
        self.keep = L1Loss(lc.keep_start) if lc.keep_start > 0 else None
        self.anchor = LightnessAnchorLoss(lc.lightness_anchor, sigma=lc.lightness_anchor_sigma) \
            if lc.lightness_anchor > 0 else None
        self.chroma = ChromaLoss(lc.chroma_weight, sigma=lc.chroma_sigma) \
            if lc.chroma_weight > 0 else None
        self.gan = GANLoss(lc.gan_weight)
        self.damsm = DAMSMLoss(lc.damsm_weight, lc.gamma1, lc.gamma2, lc.gamma3)
        self.lpips = None
        if lc.contrastive_weight > 0 or self.val_set is not None:
            from jpegtext.metrics import load_lpips

            self.lpips = load_lpips(net="alex", trunk_path=cfg.lpips_trunk, device=self.device)
        self.contrastive = ContrastiveLoss(self.lpips, lc.contrastive_c, lc.contrastive_weight) \
            if lc.contrastive_weight > 0 else None
        betas = tuple(cfg.betas)
        self.opt = {
            "g": torch.optim.Adam(_generator_param_groups(self.generator, cfg.lr,
                                                          cfg.text_lr_scale,
                                                          cfg.image_lr_scale), betas=betas),
            "d": torch.optim.Adam(self.disc.parameters(), lr=cfg.lr, betas=betas),
        }
        self.trainable = {"generator": self.generator, "disc": self.disc}

    def _model_file(self, path: str, key: str) -> Any:
        """The model file a config ``key`` names; its generator config must be the run's."""
        from jpegtext.restore.runtime.modelfile import load_model_file

        src = load_model_file(path)
        if src.config.generator != self.config.model.generator:
            raise ConfigError(f"{key} {path}: its generator config differs from the run's")
        return src

    def _frozen_generator(self, path: str) -> nn.Module:
        """``keep_twin``: another model's generator, frozen, on this run's device."""
        generator = self._model_file(path, "keep_twin").generator
        return generator.to(self.device).eval().requires_grad_(False)

    def _init_generator(self, path: str) -> None:
        """Start from another model's generator (fine-tuning); configs must agree."""
        src = self._model_file(path, "init_from")
        same_text = src.config.text == self.config.model.text and not (
            src.vocab is not None and self.vocab is not None and src.vocab.itos != self.vocab.itos
        )
        if not same_text and not self.config.init_new_text:
            raise ConfigError(f"init_from {path}: its text encoder or vocabulary differs from the "
                              "run's (use the same damsm_checkpoint)")
        self.generator.load_state_dict(src.generator.state_dict())

    def _wrap_ddp(self) -> None:
        self.ddp: dict[str, nn.Module] = {}
        for name, m in self.trainable.items():
            # the text encoder is called through encode(), not forward(): its gradients are
            # averaged by hand (_allreduce_grads) instead of by a DDP wrapper
            if name != "text" and self.dist.world > 1 and any(p.requires_grad
                                                               for p in m.parameters()):
                ids = [self.device.index] if self.device.type == "cuda" else None
                self.ddp[name] = nn.parallel.DistributedDataParallel(m, device_ids=ids)
            else:
                self.ddp[name] = m

    # ----------------------------------------------------------------- checkpoints
    @property
    def ckpt_path(self) -> Path:
        return self.run_dir / "checkpoints" / "last.pt"

    def save_checkpoint(self) -> None:
        """Rank 0 writes everything needed to continue exactly (atomic replace)."""
        if not self.dist.main:
            return
        state: dict[str, Any] = {
            "step": self.step, "epoch": self.epoch, "start_in_epoch": self.start_in_epoch,
            "best": dict(self.best), "rng": _rng_state(self.device),
            "models": {k: _unwrap(m).state_dict() for k, m in self.trainable.items()},
            "opt": {k: o.state_dict() for k, o in self.opt.items()},
            "written_by_rank": self.dist.rank, "world_size": self.dist.world,
        }
        if self.config.stage == "tgjar" and self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if self.config.stage == "damsm" and isinstance(self.vocab, Vocabulary):
            # the text encoder's rows are these words: a resume must build the same vocabulary
            state["vocab"] = list(self.vocab.itos)
        path = self.ckpt_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        self.ckpt_writes += 1

    def load_checkpoint(self) -> bool:
        """Continue from ``checkpoints/last.pt`` when present; returns whether it did."""
        path = self.ckpt_path
        if not path.exists():
            return False
        fresh = "; use --no-resume to start over, or another --run-dir"
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a truncated or foreign file: one line, not a traceback
            raise WeightsError(f"{path}: not a readable checkpoint ({exc}){fresh}") from None
        vocab = state.get("vocab")
        if vocab is not None and self.vocab is not None and list(self.vocab.itos) != vocab:
            raise ConfigError(f"{path}: its text encoder has another vocabulary ({len(vocab)} "
                              f"words, this config's data give {len(self.vocab.itos)}){fresh}")
        try:
            for k, m in self.trainable.items():
                _unwrap(m).load_state_dict(state["models"][k])
            for k, o in self.opt.items():
                o.load_state_dict(state["opt"][k])
        except (KeyError, RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"{path}: the checkpoint does not fit this config ({first})"
                              f"{fresh}") from None
        if getattr(self, "ema", None) is not None:
            # a run that turns the EMA on starts it from the resumed generator
            self.ema.load_state_dict(state["ema"] if "ema" in state
                                     else self.generator.state_dict())
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.start_in_epoch = int(state["start_in_epoch"])
        self.best = dict(state.get("best", {}))
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        if self.dist.main:
            log.info("resumed from %s at step %d (epoch %d)", path, self.step, self.epoch)
        return True

    # ----------------------------------------------------------------- logging
    def _log(self, record: dict[str, Any]) -> None:
        if not self.dist.main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)  # validate() may run before fit()
        with open(self.run_dir / "log.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")

    # ----------------------------------------------------------------- the run folder
    def _start(self, resumed: bool, resume: bool) -> None:
        """Rank 0, once the run is built (and resumed): prepare the run folder. A resumed run
        keeps the log up to the checkpoint's step (later records belong to steps it redoes); a
        run started with ``resume=False`` keeps the previous run's files as ``log.N.jsonl``,
        ``config.N.yaml`` and ``checkpoints/last.N.pt``; then ``config.yaml`` is written."""
        if not self.dist.main:
            return
        import yaml

        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            _archive_previous_run(self.run_dir)
        else:
            _trim_log(self.run_dir / "log.jsonl", self.step if resumed else 0)
        _write_atomic(self.run_dir / "config.yaml",
                      yaml.safe_dump(self.config.to_dict(), sort_keys=False))

    # ----------------------------------------------------------------- the loop
    def fit(self, resume: bool = True) -> dict[str, Any]:
        """Train until ``epochs`` (or ``max_steps``), then export; returns the last metrics."""
        cfg = self.config
        if resume:
            _refuse_conflicts(self.config, self.run_dir)
        resumed = resume and self.load_checkpoint()
        sampler = _ResumableSampler(self.train_set, self.dist.world, self.dist.rank, cfg.seed,
                                    cfg.epoch_size)
        steps_per_epoch = len(sampler) // cfg.batch_size
        if steps_per_epoch < 1:
            raise ConfigError("the epoch is shorter than one global batch; lower batch_size or "
                              "raise epoch_size")
        self._start(resumed, resume)
        with self._interrupt_at_step_end():
            last = self._loop(sampler, steps_per_epoch)
        self.save_checkpoint()
        if self.val_set is not None:
            last = self.validate()
        self.export()
        self.dist.barrier()
        self.dist.close()
        return last

    @contextlib.contextmanager
    def _interrupt_at_step_end(self) -> Iterator[None]:
        """Single process: Ctrl-C (SIGINT) lets the current step finish, writes a checkpoint
        at that step boundary (so no finished step is lost) and then raises
        KeyboardInterrupt; a second Ctrl-C interrupts at once. Under torchrun (several
        processes) Ctrl-C keeps its default effect: the ranks would have to agree on a step."""
        self._interrupted = False
        if self.dist.world > 1 or threading.current_thread() is not threading.main_thread():
            yield
            return

        pid = os.getpid()

        def on_sigint(signum: int, frame: Any) -> None:
            if os.getpid() != pid:  # a data-loading worker (forked with this handler)
                return
            if self._interrupted:
                raise KeyboardInterrupt
            self._interrupted = True
            log.warning("interrupted: stopping after this step, with a checkpoint")

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _stop_interrupted(self) -> None:
        """At a step boundary after Ctrl-C: checkpoint, then raise KeyboardInterrupt."""
        if self.start_in_epoch == 0 and self._epoch_rng is not None:
            # no step of this epoch done: resuming redoes the loader's draw (see _loop)
            torch.set_rng_state(self._epoch_rng)
        self.save_checkpoint()
        log.warning("checkpoint written at step %d; rerun the same command to continue",
                    self.step)
        raise KeyboardInterrupt

    def _loop(self, sampler: _ResumableSampler, steps_per_epoch: int) -> dict[str, Any]:
        """The epochs and steps until ``epochs``, ``max_steps`` or ``max_minutes``."""
        cfg = self.config
        bar = None
        if self.progress and self.dist.main:
            from tqdm import tqdm

            total = cfg.max_steps or (None if cfg.max_minutes else steps_per_epoch * cfg.epochs)
            bar = tqdm(total=total, initial=self.step, unit="step", dynamic_ncols=True)
        last: dict[str, Any] = {}
        t0 = time.perf_counter()
        done = bool(cfg.max_steps) and self.step >= cfg.max_steps
        while self.epoch < cfg.epochs and not done:
            self.train_set.set_epoch(self.epoch)
            sampler.set_epoch(self.epoch)
            sampler.start = self.start_in_epoch * cfg.batch_size
            lr = _lr_for_epoch(cfg, self.epoch)
            for o in self.opt.values():
                _set_lr(o, lr)
            # A DataLoader iterator draws its workers' base seed from the global torch RNG
            # unless given a generator; an uninterrupted run makes that draw once per epoch, at
            # its start, so a run resumed part-way through an epoch must not draw (the global
            # RNG feeds dropout: stage 1 would not resume bit for bit). Samples do not depend
            # on that seed (see data.py).
            own = torch.Generator().manual_seed(cfg.seed + self.epoch) \
                if self.start_in_epoch else None
            # the state before that draw: what a checkpoint at this epoch's start holds
            self._epoch_rng = torch.get_rng_state() if own is None else None
            loader = DataLoader(self.train_set, batch_size=cfg.batch_size, sampler=sampler,
                                num_workers=cfg.workers, collate_fn=collate, drop_last=True,
                                persistent_workers=False, generator=own)
            batches = iter(loader)
            while True:
                if self._interrupted:  # a step boundary: the state a checkpoint holds
                    if bar is not None:
                        bar.close()
                    self._stop_interrupted()
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except Exception:
                    # Ctrl-C from a terminal also stops the loader's worker processes: the
                    # state is still that of the last finished step
                    if self._interrupted:
                        self._stop_interrupted()
                    raise
                losses = self._train_step(batch)
                self.step += 1
                self.start_in_epoch += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()}, refresh=False)
                if self.step % cfg.log_every == 0:
                    self._log({"step": self.step, "epoch": self.epoch, "lr": lr,
                               "time_s": round(time.perf_counter() - t0, 2), **losses})
                if self.step % cfg.val_every == 0:
                    last = self.validate()
                if self.step % cfg.ckpt_every == 0:
                    self.save_checkpoint()
                if cfg.max_steps and self.step >= cfg.max_steps:
                    done = True
                    break
                if cfg.max_minutes and self._out_of_time(t0):
                    done = True
                    break
            if not done:
                self.epoch += 1
                self.start_in_epoch = 0
        if bar is not None:
            bar.close()
        return last

    def _out_of_time(self, t0: float) -> bool:
        """Whether ``max_minutes`` have passed; under DDP rank 0 decides for everyone."""
        flag = torch.tensor([float(time.perf_counter() - t0 > 60 * self.config.max_minutes)])
        if self.dist.world > 1:
            dist.broadcast(flag, 0)
        return bool(flag.item())

    def _train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        if self.config.stage == "damsm":
            return self._damsm_step(batch)
        return self._tgjar_step(batch)

    def _damsm_step(self, batch: dict[str, Any]) -> dict[str, float]:
        from jpegtext.restore.training.damsm import damsm_loss

        cfg = self.config
        self.text.train()
        self.image.train()
        clean = batch["clean"].to(self.device)
        text = self.text.encode(batch["caption"], self.device)
        regions, glob = self.ddp["image"](clean)
        w, s = damsm_loss(text.words, text.mask, text.sentence, regions, glob,
                          batch["class_id"].to(self.device), cfg.loss.gamma1, cfg.loss.gamma2,
                          cfg.loss.gamma3)
        loss = w + s
        opt = self.opt["enc"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.dist.world > 1:
            _allreduce_grads(self.text)
        nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 0.25)
        opt.step()
        return {"loss_word": w.item(), "loss_sent": s.item()}

    def _captions(self, captions: list[str]) -> list[str]:
        """The captions stage 2 feeds the generator: all empty for the no-text twin."""
        return [""] * len(captions) if self.config.text_off else list(captions)

    def _keep_weight(self, batch: dict[str, Any]) -> torch.Tensor:
        """(B, 1, H, W) weights of the per-pixel keep term (``keep_named``, ``keep_swapped``):
        a truthful sample ``keep_start`` plus ``keep_named`` on the region its caption's colour
        word names; a swapped sample ``keep_swapped`` outside the region it repainted."""
        lc = self.config.loss
        named = batch["named"].to(self.device)
        swapped = batch["swapped"].to(self.device).view(-1, 1, 1, 1)
        truthful = lc.keep_start + lc.keep_named * named
        return torch.where(swapped, lc.keep_swapped * (1.0 - named), truthful)

    def _twin_output(self, jpeg: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        """What the frozen ``keep_twin`` model gives the same JPEGs with empty captions."""
        blank = self.text.encode([""] * jpeg.shape[0], self.device)
        return self.keep_twin(jpeg, blank.words, blank.mask, blank.sentence, quality)

    @staticmethod
    def _closer_of(a: torch.Tensor, b: torch.Tensor,
                   clean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sample, whichever of ``a`` and ``b`` has the lower mean L1 to ``clean``; and which
        samples took ``b`` (a bool per sample)."""
        take_b = (b - clean).abs().mean(dim=(1, 2, 3)) < (a - clean).abs().mean(dim=(1, 2, 3))
        return torch.where(take_b.view(-1, 1, 1, 1), b, a), take_b.cpu()

    def _tgjar_step(self, batch: dict[str, Any]) -> dict[str, float]:
        cfg = self.config
        if cfg.data.colour_swap_paired:
            batch = with_true_twins(batch)
        clean = batch["clean"].to(self.device)
        jpeg = batch["jpeg"].to(self.device)
        quality = batch["quality"].to(self.device)
        with torch.no_grad():
            text = self.text.encode(self._captions(batch["caption"]), self.device)
        g, d = self.ddp["generator"], self.ddp["disc"]
        self.generator.train()
        out = g(jpeg, text.words, text.mask, text.sentence, quality)
        # generator step (discriminator frozen)
        self.disc.requires_grad_(False)
        losses: dict[str, torch.Tensor] = {"l1": self.l1(out, clean)}
        if self.anchor is not None:
            tied = ~batch["swapped"]
            to_self = cfg.loss.lightness_anchor_reference == "self"
            if to_self:  # against itself an empty caption changes nothing
                tied &= torch.tensor([bool(c) for c in self._captions(batch["caption"])])
            if tied.any():
                net = self.generator if to_self else self.anchor_start
                with torch.no_grad():  # the same JPEGs, no caption
                    blank = self.text.encode([""] * len(batch["caption"]), self.device)
                    reference = net(jpeg, blank.words, blank.mask, blank.sentence, quality)
                losses["anchor"] = self.anchor(out, reference,
                                               sample_weight=tied.float().to(self.device))
        twin_share = None  # keep_twin: the share of kept samples tied to the twin's output
        if self.keep is not None:
            kept = ~batch["swapped"]
            if kept.any() or (cfg.loss.keep_swapped > 0 and batch["swapped"].any()):
                with torch.no_grad():  # the same JPEGs and captions through the starting model
                    start = self.anchor_start(jpeg, text.words, text.mask, text.sentence, quality)
                    if self.keep_twin is not None:
                        start, took = self._closer_of(start, self._twin_output(jpeg, quality),
                                                      clean)
                        twin_share = float(took[kept].float().mean()) if kept.any() else 0.0
                if cfg.loss.per_pixel_keep:
                    from jpegtext.restore.training.losses import pixel_weighted_l1

                    losses["keep"] = pixel_weighted_l1(out, start, self._keep_weight(batch))
                else:
                    losses["keep"] = self.keep(out, start,
                                               sample_weight=kept.float().to(self.device))
        if self.chroma is not None:
            losses["chroma"] = self.chroma(out, clean)
        fade = None if cfg.loss.perceptual_floor == 1.0 else \
            cfg.loss.perceptual_scale(quality.float())
        if self.contrastive is not None:
            losses["contrastive"] = self.contrastive(out, clean, jpeg, sample_weight=fade)
        if cfg.loss.gan_weight > 0:
            # the plain module, not its DDP wrapper: no discriminator gradients in this step
            losses["gan"] = self.gan(self.disc(out), True, sample_weight=fade)
        if self.image is not None:
            regions, glob = self.image(out)
            losses["damsm"] = self.damsm(text.words, text.mask, text.sentence, regions, glob,
                                         batch["class_id"].to(self.device))
        loss_g = sum(losses.values())
        self.opt["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt["g"].step()
        self.disc.requires_grad_(True)
        out_vals = {k: v.item() for k, v in losses.items()}
        if twin_share is not None:
            out_vals["keep_twin_share"] = twin_share
        # discriminator step
        if cfg.loss.gan_weight > 0:
            # one forward of real and fake together: DDP reduces once per forward/backward
            real, fake = d(torch.cat([clean, out.detach()])).chunk(2)
            loss_d = self.gan(real, True, is_disc=True) + self.gan(fake, False, is_disc=True)
            self.opt["d"].zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt["d"].step()
            out_vals["d"] = loss_d.item()
        if self.ema is not None:
            with torch.no_grad():
                for pe, p in zip(self.ema.parameters(), self.generator.parameters(), strict=True):
                    pe.lerp_(p.detach(), 1.0 - cfg.ema_decay)
        return out_vals

    # ----------------------------------------------------------------- validation + export
    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """Rank 0: validation metrics (logged; stage 2 also writes a side-by-side image)."""
        if not self.dist.main or self.val_set is None:
            return {}
        if self.config.stage == "damsm":
            return self._validate_damsm()
        gen = self.ema if self.ema is not None else self.generator
        gen.eval()
        rows = []
        for i in range(len(self.val_set)):
            item = self.val_set[i]
            clean = item["clean"][None].to(self.device)
            jpeg = item["jpeg"][None].to(self.device)
            text = self.text.encode(self._captions([item["caption"]]), self.device)
            q = torch.tensor([item["quality"]], device=self.device)
            out = gen(jpeg, text.words, text.mask, text.sentence, q).clamp(0, 1)
            row = {"q": item["quality"], "psnr": _psnr(out, clean), "psnr_jpeg": _psnr(jpeg, clean)}
            if self.lpips is not None:
                row["lpips"] = float(self.lpips(out, clean).mean())
                row["lpips_jpeg"] = float(self.lpips(jpeg, clean).mean())
            rows.append(row)
            if i == 0:
                _save_side_by_side(self.run_dir / "val" / f"step_{self.step:07d}.png",
                                   jpeg[0], out[0], clean[0])
        metrics: dict[str, Any] = {"step": self.step, "val": True}
        for key in rows[0]:
            metrics[f"val_{key}"] = float(np.mean([r[key] for r in rows]))
        self._log(metrics)
        if "val_lpips" in metrics and metrics["val_lpips"] < self.best.get("val_lpips", math.inf):
            self.best = {"val_lpips": metrics["val_lpips"], "step": float(self.step)}
            self._export_to(self.run_dir / "best.safetensors", gen)
        return metrics

    def _validate_damsm(self) -> dict[str, Any]:
        self.text.eval()
        self.image.eval()
        items = [self.val_set[i] for i in range(len(self.val_set))]
        size = self.config.image_encoder.input_size
        imgs = torch.stack([nn.functional.interpolate(it["clean"][None], size=(size, size),
                                                      mode="bilinear", align_corners=False)[0]
                            for it in items])
        caps = [it["caption"] for it in items]
        cls = [it["class_id"] for it in items]
        r = retrieval_r1(self.text, self.image, imgs, caps, cls if min(cls) >= 0 else None,
                         n_candidates=min(100, max(2, len(items) // 2)), seed=self.config.seed,
                         device=self.device)
        metrics = {"step": self.step, "val": True, **{f"val_{k}": v for k, v in r.items()}}
        self._log(metrics)
        return metrics

    def export(self) -> Path | None:
        """Rank 0 writes the run's final export and returns its path."""
        if not self.dist.main:
            return None
        from jpegtext.restore.runtime.modelfile import save_damsm_file

        self.run_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.config
        info = {"steps": self.step, "epochs_done": self.epoch, "seed": cfg.seed,
                "data": [dict(s) for s in cfg.data.sources], "world_size": self.dist.world,
                "text_off": cfg.text_off,
                "keep_twin": Path(cfg.keep_twin).name if cfg.keep_twin else None}
        if cfg.stage == "damsm":
            path = self.run_dir / "damsm.safetensors"
            save_damsm_file(path, self.text, self.image, cfg.model.text, cfg.image_encoder,
                            self.vocab, info, force=True)
            return path
        path = self.run_dir / "model.safetensors"
        self._export_to(path, self.ema if self.ema is not None else self.generator, info)
        return path

    def _export_to(self, path: Path, gen: nn.Module, info: dict[str, Any] | None = None) -> None:
        from jpegtext.restore.runtime.modelfile import save_model_file

        info = info or {"steps": self.step, "seed": self.config.seed}
        save_model_file(path, gen, self.text, self.config.model, self.vocab, info, force=True)


def _write_atomic(path: Path, text: str) -> None:
    from jpegtext._io import atomic_write_bytes

    atomic_write_bytes(path, text.encode("utf-8"), force=True)


def _trim_log(path: Path, step: int) -> None:
    """Drop the records of ``log.jsonl`` past ``step`` (the steps a resumed run redoes) and any
    line cut short by a crash; atomic."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        at = record.get("step") if isinstance(record, dict) else None
        if isinstance(at, int | float) and at > step:
            continue
        kept.append(line)
    if len(kept) != len(lines):
        log.info("log.jsonl: %d record(s) past step %d dropped (redone)", len(lines) - len(kept),
                 step)
        _write_atomic(path, "".join(f"{line}\n" for line in kept))


def _archive_previous_run(run_dir: Path) -> None:
    """``--no-resume``: keep a previous run's log, config and checkpoint under the first free
    number N (``log.N.jsonl``, ``config.N.yaml``, ``checkpoints/last.N.pt``), so the new run
    starts its own log and cannot be resumed from the old checkpoint."""
    files = [(run_dir / "log.jsonl", "log.{}.jsonl"), (run_dir / "config.yaml", "config.{}.yaml"),
             (run_dir / "checkpoints" / "last.pt", "last.{}.pt")]
    present = [(p, pattern) for p, pattern in files if p.exists()]
    if not present:
        return
    n = 1
    while any((p.parent / pattern.format(n)).exists() for p, pattern in files):
        n += 1
    for p, pattern in present:
        os.replace(p, p.parent / pattern.format(n))
    log.info("the previous run in %s is kept as log.%d.jsonl, config.%d.yaml, "
             "checkpoints/last.%d.pt", run_dir, n, n, n)


def _allreduce_grads(module: nn.Module) -> None:
    """Average gradients of a module that cannot be wrapped in DDP (the text encoder's
    ``encode`` is not its ``forward``)."""
    world = dist.get_world_size()
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad.div_(world)


def run_training(config: TrainConfig, run_dir: str | os.PathLike[str], *,
                 resume: bool = True, device: str | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Build a :class:`Trainer` and run it; returns the last validation metrics."""
    if resume:  # before building anything: a checkpoint of another config is refused at once
        _refuse_conflicts(config, run_dir)
    trainer = Trainer(config, run_dir, device=device, progress=progress)
    return trainer.fit(resume=resume)
