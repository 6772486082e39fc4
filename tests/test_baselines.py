"""AR-CNN and DnCNN-3 baselines: weight-file readers against literal re-implementations of the
authors' MATLAB semantics, the restore interface, and (slow tier) the gain on LIVE1 at QF 10."""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import shared_path
from PIL import Image
from scipy import ndimage
from scipy.io import savemat

from jpegtext.errors import InvalidImageError, MissingWeightsError, WeightsError
from jpegtext.evaluation.baselines import (
    ENV_ARCNN_DIR,
    ENV_DNCNN3,
    ARCNNNet,
    DnCNN3Restorer,
    DnCNNNet,
    choose_arcnn_quality,
    load_arcnn,
    load_dncnn3,
)
from jpegtext.metrics import psnr, rgb_to_ycbcr

# ------------------------------------------------------------------ synthetic weight files


def _arcnn_mat(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Random AR-CNN weights in the official layout: weights_convN (in, k*k, out)."""
    rng = np.random.default_rng(seed)
    shapes = {"conv1": (1, 9, 64), "conv2": (64, 7, 32), "conv22": (32, 1, 16), "conv3": (16, 5, 1)}
    mat = {}
    for name, (cin, k, cout) in shapes.items():
        w = rng.normal(0, 0.6 / np.sqrt(cin * k * k), size=(cin, k * k, cout))
        mat[f"weights_{name}"] = w[:, :, 0] if name == "conv3" else w
        mat[f"biases_{name}"] = rng.normal(0, 0.01, size=(cout, 1)).astype(np.float32)
    savemat(path, mat)
    return mat


def _arcnn_matlab_reference(mat: dict[str, np.ndarray], im: np.ndarray) -> np.ndarray:
    """Literal numpy transcription of the official ARCNN.m test code.

    ``reshape(weights(j, :, i), k, k)`` (column-major) and ``imfilter(x, h, 'same',
    'replicate')`` (correlation, replicated borders).
    """

    def imfilter(x: np.ndarray, h: np.ndarray) -> np.ndarray:
        return ndimage.correlate(x, h, mode="nearest")

    def layer(x: list[np.ndarray], w: np.ndarray, b: np.ndarray, relu: bool) -> list[np.ndarray]:
        cin, kk, cout = w.shape
        k = int(round(np.sqrt(kk)))
        out = []
        for i in range(cout):
            acc = np.zeros_like(x[0])
            for j in range(cin):
                acc += imfilter(x[j], np.reshape(w[j, :, i], (k, k), order="F"))
            acc += b.ravel()[i]
            out.append(np.maximum(acc, 0) if relu else acc)
        return out

    x = [im]
    x = layer(x, mat["weights_conv1"], mat["biases_conv1"], True)
    x = layer(x, mat["weights_conv2"], mat["biases_conv2"], True)
    x = layer(x, mat["weights_conv22"], mat["biases_conv22"], True)
    return layer(x, mat["weights_conv3"][:, :, None], mat["biases_conv3"], False)[0]


def _dncnn_mat(path: Path, kernels: list[np.ndarray], biases: list[np.ndarray]) -> None:
    """Write a MatConvNet simplenn net the way MATLAB v7.3 stores it.

    MATLAB arrays are column-major, so HDF5 shows a (H, W, in, out) filter as (out, in, W, H);
    a last layer with one output loses its trailing singleton: (H, W, in) -> (in, W, H).
    Strings are uint16 code units; cells are object references under '#refs#'.
    """
    with h5py.File(path, "w") as f:
        refs = f.create_group("#refs#")
        layer_refs = []

        def text(s: str) -> np.ndarray:
            return np.array([[ord(c)] for c in s], dtype=np.uint16)

        for i, (k, b) in enumerate(zip(kernels, biases, strict=True)):
            g = refs.create_group(f"conv{i}")
            g["type"], g["name"] = text("conv"), text(f"layer{i}")
            hdf = k.transpose(0, 1, 3, 2)  # torch (out, in, H, W) -> HDF5 (out, in, W, H)
            if hdf.shape[0] == 1:
                hdf = hdf[0]
            w_ds = refs.create_dataset(f"w{i}", data=hdf.astype(np.float32))
            b_ds = refs.create_dataset(f"b{i}", data=b[None, :].astype(np.float32))
            cell = g.create_dataset("weights", (2, 1), dtype=h5py.ref_dtype)
            cell[0, 0], cell[1, 0] = w_ds.ref, b_ds.ref
            g["pad"], g["stride"] = np.array([[1.0]]), np.array([[1.0]])
            layer_refs.append(g.ref)
            if i < len(kernels) - 1:
                r = refs.create_group(f"relu{i}")
                r["type"], r["name"], r["leak"] = text("relu"), text(f"relu{i}"), np.array([[0.0]])
                layer_refs.append(r.ref)
        layers = f.create_group("net").create_dataset(
            "layers", (len(layer_refs), 1), dtype=h5py.ref_dtype
        )
        for i, ref in enumerate(layer_refs):
            layers[i, 0] = ref


def _matconvnet_reference(kernels: list[np.ndarray], biases: list[np.ndarray], im: np.ndarray):
    """vl_nnconv semantics (correlation, zero padding 1) + ReLU, then the residual y - f(y)."""
    x = [im]
    for n, (k, b) in enumerate(zip(kernels, biases, strict=True)):
        out = []
        for o in range(k.shape[0]):
            acc = np.full_like(im, b[o])
            for i in range(k.shape[1]):
                acc += ndimage.correlate(x[i], k[o, i], mode="constant", cval=0.0)
            out.append(np.maximum(acc, 0) if n < len(kernels) - 1 else acc)
        x = out
    return im - x[0]


@pytest.fixture
def tiny_dncnn(tmp_path: Path) -> tuple[Path, list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(3)
    shapes = [(4, 1), (4, 4), (1, 4)]
    kernels = [rng.normal(0, 0.5, size=(o, i, 3, 3)) for o, i in shapes]
    biases = [rng.normal(0, 0.05, size=o) for o, _ in shapes]
    path = tmp_path / "tiny_dncnn.mat"
    _dncnn_mat(path, kernels, biases)
    return path, kernels, biases


@pytest.fixture
def arcnn_dir(tmp_path: Path) -> Path:
    for i, q in enumerate((10, 20, 30, 40)):
        _arcnn_mat(tmp_path / f"q{q}.mat", seed=i)
    return tmp_path


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 110 + 70 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    img = np.stack([base, base * 0.8 + 30 * (xx > w // 2), 255 - base], -1)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ readers vs MATLAB semantics


def test_arcnn_reader_matches_the_official_matlab_code(tmp_path: Path) -> None:
    mat = _arcnn_mat(tmp_path / "q10.mat")
    net = ARCNNNet.from_mat(tmp_path / "q10.mat").double()
    rng = np.random.default_rng(1)
    im = rng.random((13, 17))
    ref = _arcnn_matlab_reference(mat, im)
    with torch.no_grad():
        out = net(torch.from_numpy(im)[None, None])[0, 0].numpy()
    # float32 weights in the module: agreement to ~1e-6 of a [0, 1] signal.
    assert np.abs(out - ref).max() < 1e-5
    # The other reading (row-major kernels) is distinguishable on random weights.
    with torch.no_grad():
        for conv in (net.conv1, net.conv2, net.conv3):
            conv.weight.copy_(conv.weight.transpose(2, 3).clone())
        wrong = net(torch.from_numpy(im)[None, None])[0, 0].numpy()
    assert np.abs(wrong - ref).max() > 1e-2


def test_dncnn_reader_matches_matconvnet_semantics(tiny_dncnn: tuple) -> None:
    path, kernels, biases = tiny_dncnn
    net = DnCNNNet.from_mat(path).double()
    assert len(net.convs) == 3 and net.convs[0].out_channels == 4
    im = np.random.default_rng(2).random((11, 14))
    ref = _matconvnet_reference(kernels, biases, im)
    with torch.no_grad():
        out = net(torch.from_numpy(im)[None, None])[0, 0].numpy()
    assert np.abs(out - ref).max() < 1e-5


def test_dncnn_reader_refuses_unfolded_batch_norm(tmp_path: Path, tiny_dncnn: tuple) -> None:
    path, _, _ = tiny_dncnn
    with h5py.File(path, "r+") as f:
        layer = f[f["net"]["layers"][2, 0]]  # second conv
        del layer["type"]
        layer["type"] = np.array([[ord(c)] for c in "bnorm"], dtype=np.uint16)
    with pytest.raises(WeightsError, match="bnorm"):
        DnCNNNet.from_mat(path)


def test_arcnn_reader_refuses_wrong_shapes(tmp_path: Path) -> None:
    mat = _arcnn_mat(tmp_path / "q10.mat")
    mat["weights_conv2"] = mat["weights_conv2"][:, :25]
    savemat(tmp_path / "q20.mat", mat)
    with pytest.raises(WeightsError, match="weights_conv2"):
        ARCNNNet.from_mat(tmp_path / "q20.mat")


# ------------------------------------------------------------------ restore interface


@pytest.mark.parametrize(
    ("quality", "expected"), [(1, 10), (10, 10), (11, 20), (25, 30), (40, 40), (75, 40)]
)
def test_arcnn_quality_choice(quality: int, expected: int) -> None:
    assert choose_arcnn_quality(quality, [40, 10, 30, 20]) == expected


def test_quality_is_validated() -> None:
    with pytest.raises(ValueError, match='Invalid quality "0"'):
        choose_arcnn_quality(0, [10])
    with pytest.raises(ValueError, match="Invalid quality"):
        choose_arcnn_quality(101, [10])


def test_load_arcnn_from_folder_loads_what_is_needed(arcnn_dir: Path) -> None:
    assert load_arcnn(arcnn_dir, device="cpu").qualities == (10, 20, 30, 40)
    assert load_arcnn(arcnn_dir, 15, device="cpu").qualities == (20,)
    assert load_arcnn(arcnn_dir / "q30.mat", device="cpu").qualities == (30,)
    (arcnn_dir / "model.mat").write_bytes((arcnn_dir / "q10.mat").read_bytes())
    with pytest.raises(WeightsError, match="qNN.mat"):
        load_arcnn(arcnn_dir / "model.mat", device="cpu")


def test_arcnn_uses_the_model_of_the_chosen_quality(arcnn_dir: Path) -> None:
    all_models = load_arcnn(arcnn_dir, device="cpu")
    img = _image(24, 32)
    for q, trained in ((5, 10), (20, 20), (33, 40)):
        single = load_arcnn(arcnn_dir / f"q{trained}.mat", device="cpu")
        assert np.array_equal(all_models.restore(img, q), single.restore(img, q))
    assert not np.array_equal(all_models.restore(img, 10), all_models.restore(img, 20))


def test_colour_restore_changes_luma_only() -> None:
    torch.manual_seed(0)
    net = DnCNNNet(depth=3, width=8)
    with torch.no_grad():
        net.convs[-1].bias.zero_()  # a varying residual of ~10 grey levels, no clipping
    restorer = DnCNN3Restorer(net, device="cpu")
    img = _image(40, 56)
    out = restorer.restore(img, 10)
    assert out.shape == img.shape and out.dtype == np.uint8
    ycc_in = rgb_to_ycbcr(img.astype(np.float64))
    ycc_out = rgb_to_ycbcr(out.astype(np.float64))
    dy = ycc_out[..., 0] - ycc_in[..., 0]
    assert np.abs(dy).mean() > 2.0 and dy.std() > 1.0  # luma was restored, not shifted
    # A luma change moves R, G and B by the same amount; the input's RGB are integers, so the
    # three channels round alike and the chroma comes back exactly (where nothing clipped).
    unclipped = (out > 0).all(-1) & (out < 255).all(-1)
    assert unclipped.mean() > 0.9
    assert np.abs(ycc_out[..., 1:] - ycc_in[..., 1:])[unclipped].max() < 1e-9


def test_greyscale_restore_and_jpeg_identity(tiny_dncnn: tuple) -> None:
    path, kernels, biases = tiny_dncnn
    restorer = load_dncnn3(path, device="cpu")
    grey = _image(20, 24)[..., 0]
    out = restorer.restore(grey, 50)
    ref = _matconvnet_reference(kernels, biases, grey / 255.0) * 255.0
    assert out.shape == grey.shape
    assert np.abs(out.astype(np.float64) - np.clip(np.floor(ref + 0.5), 0, 255)).max() <= 1


def test_tiling_gives_the_untiled_result(arcnn_dir: Path, tiny_dncnn: tuple) -> None:
    img = _image(53, 71, seed=4)
    for build in (
        lambda tile: load_arcnn(arcnn_dir, device="cpu", tile=tile),
        lambda tile: load_dncnn3(tiny_dncnn[0], device="cpu", tile=tile),
    ):
        whole, tiled = build(None), build(16)
        y = torch.rand(1, 1, 53, 71)
        assert torch.allclose(whole.restore_y(y, 10), tiled.restore_y(y, 10), atol=1e-5)
        assert (
            np.abs(whole.restore(img, 10).astype(int) - tiled.restore(img, 10).astype(int)).max()
            <= 1
        )


def test_bad_inputs_and_missing_weights(
    arcnn_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    restorer = load_arcnn(arcnn_dir, device="cpu")
    with pytest.raises(InvalidImageError, match="uint8"):
        restorer.restore(np.zeros((8, 8, 3), np.float32), 10)
    with pytest.raises(InvalidImageError, match=r"\(H, W, 3\)"):
        restorer.restore(np.zeros((8, 8, 4), np.uint8), 10)
    monkeypatch.delenv(ENV_ARCNN_DIR, raising=False)
    monkeypatch.delenv(ENV_DNCNN3, raising=False)
    with pytest.raises(MissingWeightsError, match=ENV_ARCNN_DIR):
        load_arcnn()
    with pytest.raises(MissingWeightsError, match=ENV_DNCNN3):
        load_dncnn3()
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingWeightsError, match=r"q\*\.mat"):
        load_arcnn(tmp_path / "empty")
    with pytest.raises(MissingWeightsError, match="not found"):
        load_dncnn3(tmp_path / "DnCNN3.mat")


def test_env_vars_supply_the_weights(
    arcnn_dir: Path, tiny_dncnn: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_ARCNN_DIR, str(arcnn_dir))
    monkeypatch.setenv(ENV_DNCNN3, str(tiny_dncnn[0]))
    assert load_arcnn(device="cpu").qualities == (10, 20, 30, 40)
    assert len(load_dncnn3(device="cpu").net.convs) == 3


# ------------------------------------------------------------------ real weights (slow tier)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    mode = "RGB" if img.ndim == 3 else "L"
    kwargs = {"subsampling": "4:2:0"} if img.ndim == 3 else {}
    Image.fromarray(img).save(buf, format="JPEG", quality=quality, **kwargs)
    buf.seek(0)
    return np.array(Image.open(buf).convert(mode))


def _centre(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[(h - size) // 2 : (h - size) // 2 + size, (w - size) // 2 : (w - size) // 2 + size]


@pytest.mark.slow
def test_official_baselines_gain_over_jpeg_on_live1_qf10(live1_dir: Path) -> None:
    """The proof that both run as their authors meant: >= 1 dB Y-PSNR over JPEG at QF 10.

    All 29 LIVE1 images, centre 128x128 crops (the whole images take minutes for DnCNN on one
    thread: see benchmarks/baselines_live1.py for them), product encoder (Pillow, 4:2:0).
    """
    arcnn = load_arcnn(shared_path("weights", "arcnn"), 10, device="cpu")
    dncnn = load_dncnn3(shared_path("weights", "dncnn", "DnCNN3.mat"), device="cpu")
    paths = sorted(live1_dir.glob("*.png"))
    assert len(paths) == 29
    gains: dict[str, list[float]] = {"arcnn": [], "dncnn3": []}
    for p in paths:
        clean = _centre(np.array(Image.open(p).convert("RGB")), 128)
        decoded = _jpeg(clean, 10)
        base = psnr(clean, decoded, channel="y")
        gains["arcnn"].append(psnr(clean, arcnn.restore(decoded, 10), channel="y") - base)
        gains["dncnn3"].append(psnr(clean, dncnn.restore(decoded, 10), channel="y") - base)
    mean = {k: float(np.mean(v)) for k, v in gains.items()}
    assert mean["arcnn"] >= 1.0, mean
    assert mean["dncnn3"] >= 1.0, mean
    assert mean["dncnn3"] > mean["arcnn"], mean  # as in the DnCNN paper
    assert min(min(v) for v in gains.values()) > 0.0, gains


@pytest.mark.slow
def test_arcnn_kernel_orientation_by_the_numbers(live1_dir: Path) -> None:
    """H/W order of the kernels, decided by the only asymmetry JPEG has: its quantisation table.

    Transposing every kernel equals restoring the transposed image, so on natural images the two
    readings score alike; compressing both an image and its transpose cancels the content and
    leaves the table's asymmetry, which the right reading exploits (it was trained on it).
    """
    arcnn = load_arcnn(shared_path("weights", "arcnn"), 10, device="cpu")
    flipped = load_arcnn(shared_path("weights", "arcnn"), 10, device="cpu")
    with torch.no_grad():
        for m in flipped.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.copy_(m.weight.transpose(2, 3).clone())
    advantage = []
    for p in sorted(live1_dir.glob("*.png")):
        luma = rgb_to_ycbcr(np.array(Image.open(p).convert("RGB")).astype(float))[..., 0]
        y = _centre(np.clip(np.floor(luma + 0.5), 0, 255).astype(np.uint8), 160)
        s = 0.0
        for img in (y, np.ascontiguousarray(y.T)):
            dec = _jpeg(img, 10)
            s += psnr(img, arcnn.restore(dec, 10)) - psnr(img, flipped.restore(dec, 10))
        advantage.append(s)
    advantage_arr = np.array(advantage)
    assert advantage_arr.mean() > 0.02, advantage_arr
    assert (advantage_arr > 0).sum() >= 22, advantage_arr
