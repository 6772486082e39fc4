"""Train on a lent GPU machine: a kit small enough to travel, and the script that runs there.

The device tool sends the working tree (tracked and untracked-not-ignored files plus the carried
paths, 64 MiB at most) and brings back at most 8 files of 16 MiB from ``$OUT``; ``../shared`` does
not travel and nothing can be fetched there. So, here (README, "Training on a lent GPU")::

    python tools/gpu_kit.py prepare CONFIG [CONFIG ...]   # gpu_kit/: data subset, weights, configs
    python tools/gpu_kit.py slim                          # only the code stays tracked (index only)
    # device run: command printed by prepare, carry ["gpu_kit"]
    python tools/gpu_kit.py restore                       # the index and excludes as before

and there ``python tools/gpu_kit.py train`` trains every config of the kit at once, with the same
number of steps: a probe of ``--probe-minutes`` measures each run's speed side by side, then all
resume to the step count the slowest reaches in the time left. Each run's exported weights and
``log.jsonl`` go into ``summary.json`` (steps, sha256, device, console tails) in ``$OUT``, the
weights in parts of at most 16 MiB, which ``python tools/gpu_kit.py collect FILES_AT runs/DEST``
joins here.

The data subset keeps every k-th training image of each source (``--stride``; sorted by file, so
the same subset every time) and scales the source weights so each source keeps its share of the
samples; validation is done here afterwards, on the full split, so the kit has no val data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
KIT = REPO / "gpu_kit"
TREE_LIMIT = 64 * 2**20  # what may travel, tree and carried paths together
FILE_LIMIT = 16 * 2**20  # one file back from $OUT
SAFETY = 0.9  # of the probe's steady rate that the main phase plans for
WEIGHT_KEYS = ("damsm_checkpoint", "init_from", "lpips_trunk", "alexnet_trunk")  # files a config names
EXPORT_S = 15.0  # seconds kept for splitting the weights and writing summary.json
DEFAULT_STRIDES = {"flowers256": 6, "flickr8k_sub": 3, "coco_mini": 1, "bsds500_train": 2}
# the paths that travel when the tree is slimmed: the package and what builds and configures it
SLIM_KEEP = ["jpegtext", "tools", "examples/configs", "setup.cfg", "pyproject.toml", "README.md",
             ".gitignore"]
SLIM_DROP = ["jpegtext/restore/weights/*.safetensors"]  # the default model: a run does not need it
_EXCLUDE_MARK = "# gpu_kit slim: remove with `python tools/gpu_kit.py restore`"


class KitError(Exception):
    """A kit that cannot be made or run as asked."""


# --------------------------------------------------------------------------- prepare
def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or raw.get("stage") != "tgjar":
        raise KitError(f"{path}: not a stage-2 (tgjar) training config")
    return raw


def _subset_source(src: dict[str, Any], kit: Path, stride: int,
                   done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Copy every ``stride``-th image of one source (``src["root"]`` absolute) into ``kit/data``
    with a manifest of them (file, class, captions: what ``read_records`` read); the source as the
    kit's config names it (root relative to ``kit/configs``), its weight scaled by the kept share."""
    from jpegtext.errors import ConfigError
    from jpegtext.restore.training.data import read_records

    root = Path(src["root"])
    key = f"{root}|{src.get('manifest')}|{src.get('captions')}|{src.get('split')}"
    if key not in done:
        try:
            records = read_records(src)  # sorted by path, split applied, captions merged
        except ConfigError as exc:
            raise KitError(str(exc)) from None
        kept = records[::stride]  # read_records found at least one
        dest = kit / "data" / root.name
        manifest = f"kit_{src.get('split') or 'all'}_{len(done)}.jsonl"
        rows, nbytes = [], 0
        for rec in kept:
            name = rec.path.relative_to(root).as_posix()
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(rec.path, dest / name)
            nbytes += (dest / name).stat().st_size
            rows.append({"file": name, "class_id": rec.class_id, "captions": list(rec.captions)})
        (dest / manifest).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        done[key] = {"root": root.name, "manifest": manifest, "images": len(kept),
                     "of": len(records), "stride": stride, "bytes": nbytes}
    info = done[key]
    out = {k: v for k, v in src.items() if k not in ("captions", "split")}
    out.update(root=f"../data/{info['root']}", manifest=info["manifest"],
               weight=max(1, round(int(src.get("weight", 1)) * info["of"] / info["images"])))
    return out


def _copy_half(src: Path, dst: Path) -> None:
    """Copy a weights file with its float32 tensors stored as float16 (half the bytes). Loading
    casts them back into the float32 modules (``load_state_dict`` copies across dtypes); the
    values move by at most one float16 rounding (relative 2**-11)."""
    import torch

    if src.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import save_file

        with safe_open(str(src), "pt") as fh:
            meta = fh.metadata()
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        save_file({k: t.half() if t.dtype == torch.float32 else t for k, t in tensors.items()},
                  str(dst), metadata=meta)
    else:
        state = torch.load(src, map_location="cpu", weights_only=True)
        torch.save({k: t.half() if t.dtype == torch.float32 else t for k, t in state.items()}, dst)


def prepare(configs: list[Path], shared: Path, kit: Path = KIT, strides: dict[str, int] | None = None,
            workers: int = 0, overrides: dict[str, Any] | None = None,
            half: tuple[str, ...] = ()) -> dict[str, Any]:
    """Write ``kit``: ``data/`` (the subset), ``weights/``, ``configs/`` (one per run) and
    ``kit.json``; return the kit's description. ``shared`` replaces the configs' ``../shared``.
    The weights of the config keys in ``half`` (``init_from``, ``alexnet_trunk``, ...) travel as
    float16 (see :func:`_copy_half`), for a kit that would not fit otherwise."""
    import yaml

    strides = {**DEFAULT_STRIDES, **(strides or {})}
    if kit.exists():
        shutil.rmtree(kit)
    (kit / "configs").mkdir(parents=True)
    (kit / "weights").mkdir()
    done: dict[str, dict[str, Any]] = {}
    names = [c.stem for c in configs]
    if len(configs) > 3:  # each run sends its weights in two parts; $OUT gives back 8 files
        raise KitError("at most 3 runs fit what the device sends back")
    if len(set(names)) != len(names):
        raise KitError("two configs with one file name")
    workers = workers or max(1, (16 - len(configs)) // len(configs))
    # torch's own threads: without a cap each run's main process takes one per core (16) on top of
    # the loader processes; the GPU does the arithmetic, so the cores left over are enough
    threads = max(1, (16 - len(configs) * workers) // len(configs))
    for cfg_path in configs:
        raw = _load_yaml(cfg_path)
        base = cfg_path.resolve().parent

        def shared_path(rel: str, base: Path = base) -> Path:
            parts = Path(rel).parts
            if "shared" in parts:  # ../shared may be elsewhere here (tests, another checkout)
                return shared.resolve().joinpath(*parts[parts.index("shared") + 1:])
            return (base / rel).resolve()

        data = dict(raw.get("data") or {})
        sources = []
        for src in data.get("sources", []):
            src = dict(src)
            root = shared_path(src["root"])
            src["root"] = str(root)
            sources.append(_subset_source(src, kit, strides.get(root.name, 1), done))
        data["sources"] = sources
        data.pop("val", None)  # validation runs here afterwards, on the full split
        raw["data"] = data
        for key in WEIGHT_KEYS:
            if raw.get(key):
                src_path = shared_path(raw[key])
                if not src_path.is_file():
                    raise KitError(f"{cfg_path}: {key} not found: {src_path}")
                if key in half:
                    _copy_half(src_path, kit / "weights" / src_path.name)
                else:
                    shutil.copyfile(src_path, kit / "weights" / src_path.name)
                raw[key] = f"../weights/{src_path.name}"
        raw["workers"] = workers
        raw["threads"] = threads
        raw.update(overrides or {})
        text = f"# made by tools/gpu_kit.py from {cfg_path.as_posix()}\n" + yaml.safe_dump(raw, sort_keys=False)
        (kit / "configs" / f"{cfg_path.stem}.yaml").write_text(text, encoding="utf-8")
    desc = {"runs": names, "configs": [c.as_posix() for c in configs], "workers": workers, "threads": threads,
            "overrides": overrides or {}, "half": sorted(half), "data": list(done.values())}
    (kit / "kit.json").write_text(json.dumps(desc, indent=1) + "\n", encoding="utf-8")
    return desc


def fetch_wheels(kit: Path = KIT) -> None:
    """The packages the device lacks (lpips), as wheels in ``kit/wheels``, from PyPI here."""
    import importlib.metadata as md

    (kit / "wheels").mkdir(exist_ok=True)
    version = md.version("lpips")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "-d", str(kit / "wheels"), f"lpips=={version}"], check=True)


def tree_bytes(repo: Path = REPO) -> int:
    """Bytes of what the device tool sends from ``repo`` (tracked + untracked-not-ignored)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=repo, capture_output=True, check=True).stdout
    total = 0
    for name in out.decode().split("\0"):
        p = repo / name
        if name and p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- slim / restore
def _git(*args: str, repo: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout


def slim(repo: Path = REPO) -> None:
    """Leave only :data:`SLIM_KEEP` in the git index and exclude the rest: the files stay where
    they are, untracked-and-ignored, so the device tool does not send them. Nothing is committed;
    :func:`restore` undoes it. Refuses on a dirty tree (restore must give back exactly HEAD)."""
    exclude = repo / ".git" / "info" / "exclude"
    text = exclude.read_text() if exclude.exists() else ""
    if _EXCLUDE_MARK in text:
        raise KitError("already slim: run `python tools/gpu_kit.py restore` first")
    if _git("status", "--porcelain", "--untracked-files=no", repo=repo).strip():
        raise KitError("the working tree has uncommitted changes: commit them first")
    keep = [k for k in SLIM_KEEP if (repo / k).exists()]
    _git("rm", "-r", "-q", "--cached", ".", repo=repo)
    _git("add", "-f", "--", *keep, repo=repo)
    for pattern in SLIM_DROP:
        _git("rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", pattern, repo=repo)
    lines = [_EXCLUDE_MARK, "/*"]
    for k in keep:  # un-ignore each kept path and the folders above it, ignore their siblings
        parts = k.split("/")
        for i in range(1, len(parts)):
            lines += [f"!/{'/'.join(parts[:i])}/", f"/{'/'.join(parts[:i])}/*"]
        lines.append(f"!/{k}")
    lines += [f"/{p}" for p in SLIM_DROP] + [_EXCLUDE_MARK + " (end)"]
    exclude.parent.mkdir(parents=True, exist_ok=True)
    exclude.write_text(text + ("\n" if text and not text.endswith("\n") else "")
                       + "\n".join(lines) + "\n")
    hook = _hook(repo)
    if not hook.exists():  # a commit now would delete every file the index lost
        hook.parent.mkdir(parents=True, exist_ok=True)
        hook.write_text(f"#!/bin/sh\n{_EXCLUDE_MARK}\necho 'gpu_kit slim is active: run "
                        "`python tools/gpu_kit.py restore` before committing' >&2\nexit 1\n")
        hook.chmod(0o755)


def _hook(repo: Path) -> Path:
    """The repository's pre-commit hook file (wherever core.hooksPath or a worktree puts it)."""
    path = Path(_git("rev-parse", "--git-path", "hooks/pre-commit", repo=repo).strip())
    return path if path.is_absolute() else repo / path


def restore(repo: Path = REPO) -> None:
    """Undo :func:`slim`: the index back to HEAD, the excludes as they were."""
    exclude = repo / ".git" / "info" / "exclude"
    text = exclude.read_text() if exclude.exists() else ""
    if _EXCLUDE_MARK in text:
        head, rest = text.split(_EXCLUDE_MARK, 1)
        end = _EXCLUDE_MARK + " (end)\n"
        exclude.write_text(head + (rest.split(end, 1)[1] if end in rest else ""))
    _git("reset", "-q", repo=repo)
    hook = _hook(repo)
    if hook.is_file() and _EXCLUDE_MARK in hook.read_text(errors="replace"):
        hook.unlink()


# --------------------------------------------------------------------------- train (device)
def _rows(run_dir: Path) -> list[dict[str, Any]]:
    """The training rows (those with ``time_s``) of a run's log.jsonl, oldest first."""
    log = run_dir / "log.jsonl"
    rows = [json.loads(x) for x in log.read_text().splitlines() if x.strip()] if log.exists() else []
    return [r for r in rows if "time_s" in r]


def _last_step(run_dir: Path) -> tuple[int, float]:
    """(step, seconds) of the last training row of a run's log.jsonl; (0, 0) when none."""
    rows = _rows(run_dir)
    return (int(rows[-1]["step"]), float(rows[-1]["time_s"])) if rows else (0, 0.0)


def _speed(run_dir: Path, since: int, wall: float) -> tuple[float, float]:
    """(steps per second, fixed seconds) of the phase that went on from step ``since`` in
    ``wall`` seconds. The rate is the steady one between the phase's first and last log rows
    (``time_s`` counts from each process's start, and the first row also carries the warm-up);
    the fixed part is what a launch costs besides its steps at that rate (start-up, warm-up,
    export). A resumed run counts only the steps this phase made. With fewer than two rows the
    rate is the steps its export records over ``wall`` (start-up included; fixed part 0), and
    (0, wall) when it made none."""
    rows = [r for r in _rows(run_dir) if int(r["step"]) > since]
    if len(rows) < 2 or float(rows[-1]["time_s"]) <= float(rows[0]["time_s"]):
        made = _reached(run_dir) - since
        return (made / wall, 0.0) if made > 0 and wall > 0 else (0.0, wall)
    rate = (int(rows[-1]["step"]) - int(rows[0]["step"])) / (float(rows[-1]["time_s"]) - float(rows[0]["time_s"]))
    return rate, max(wall - (int(rows[-1]["step"]) - since) / rate, 0.0)


def _reached(run_dir: Path) -> int:
    """The steps a run has made: its log's last row, or its export's count when further."""
    return max(_last_step(run_dir)[0], _model_steps(run_dir / "model.safetensors"))


def _model_steps(model: Path) -> int:
    """The step count a model file records (0 when there is none)."""
    if not model.is_file():
        return 0
    from safetensors import safe_open

    with safe_open(str(model), "np") as fh:
        return int(json.loads(fh.metadata().get("info", "{}")).get("steps", 0))


def collect(files_at: Path, dest: Path) -> dict[str, Any]:
    """Here, after the device run: join each run's parts into ``dest/NAME/model.safetensors``
    (sha256 checked against the summary) beside its ``log.jsonl``; copy ``summary.json``."""
    summary = json.loads((files_at / "summary.json").read_text())
    for name, info in summary["runs"].items():
        run = dest / name
        run.mkdir(parents=True, exist_ok=True)
        (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in info["log"]))
        if not info.get("parts"):
            continue
        data = b"".join((files_at / part).read_bytes() for part in info["parts"])
        if hashlib.sha256(data).hexdigest() != info["sha256"]:
            raise KitError(f"{name}: the joined parts do not match the sha256 the device recorded")
        (run / "model.safetensors").write_bytes(data)
    shutil.copyfile(files_at / "summary.json", dest / "summary.json")
    return summary


def _launch(kit: Path, runs: list[str], work: Path, device: str, extra: list[str],
            phase: str) -> dict[str, int]:
    """Run ``jpegtext train`` for every config at once; wait; return the exit codes."""
    procs = {}
    for name in runs:
        cmd = [sys.executable, "-m", "jpegtext", "train", "tgjar", str(kit / "configs" / f"{name}.yaml"),
               "--run-dir", str(work / name), "--device", device, "--quiet", *extra]
        log = open(work / f"{name}.{phase}.txt", "w")  # noqa: SIM115 - closed below
        procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
    codes = {}
    for name, (proc, log) in procs.items():
        codes[name] = proc.wait()
        log.close()
    return codes


def train(kit: Path, out: Path, device: str = "cuda", minutes: float = 7.0,
          probe_minutes: float = 1.0, work: Path = Path("/tmp/gpu_kit_runs")) -> dict[str, Any]:
    """Train every run of ``kit`` side by side to one step count within ``minutes`` of wall time
    (start-up and export included); copy weights, logs and ``summary.json`` to ``out``."""
    start = time.perf_counter()
    desc = json.loads((kit / "kit.json").read_text())
    runs = desc["runs"]
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"kit": desc, "device": device, "minutes": minutes, "runs": {}}
    try:
        import torch

        summary["torch"] = torch.__version__
        if device.startswith("cuda") and torch.cuda.is_available():
            summary["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover - torch is there wherever jpegtext trains
        pass
    before = {name: _reached(work / name) for name in runs}  # > 0: a warm machine resumes
    t0 = time.perf_counter()
    codes = _launch(kit, runs, work, device, ["--max-minutes", str(probe_minutes)], "probe")
    wall = time.perf_counter() - t0
    probe = {name: (_reached(work / name), _last_step(work / name)[1]) for name in runs}
    speed = {name: _speed(work / name, before[name], wall) for name in runs}
    summary["probe"] = {n: {"rc": codes[n], "from": before[n], "step": s, "seconds": t,
                            "steps_per_s": round(speed[n][0], 3), "fixed_s": round(speed[n][1], 1)}
                        for n, (s, t) in probe.items()}
    target = 0
    if all(c == 0 for c in codes.values()) and all(r > 0 for r, _ in speed.values()):
        left = minutes * 60 - (time.perf_counter() - start) - EXPORT_S
        # the slowest run sets the count; SAFETY keeps a run that slows down from being cut off
        # by --max-minutes, which would leave the runs at different steps (a void round)
        target = min(probe[n][0] + int(SAFETY * r * (left - fixed)) for n, (r, fixed) in speed.items())
        target = max(target, max(s for s, _ in probe.values()))
        codes = _launch(kit, runs, work, device,
                        ["--max-steps", str(target), "--max-minutes", f"{max(left, 0.5 * 60) / 60:.2f}"],
                        "main")
    summary["target_steps"] = target
    for name in runs:
        model = work / name / "model.safetensors"
        info: dict[str, Any] = {"rc": codes[name], "steps": _model_steps(model)}
        if model.is_file():  # in parts of at most FILE_LIMIT bytes: what $OUT gives back
            data = model.read_bytes()
            info["sha256"] = hashlib.sha256(data).hexdigest()
            info["bytes"] = len(data)
            info["parts"] = []
            for i in range(0, len(data), FILE_LIMIT):
                part = f"{name}.safetensors.part{i // FILE_LIMIT}"
                (out / part).write_bytes(data[i:i + FILE_LIMIT])
                info["parts"].append(part)
        log = work / name / "log.jsonl"
        info["log"] = [json.loads(x) for x in log.read_text().splitlines() if x.strip()] \
            if log.is_file() else []
        info["console"] = {}
        for phase in ("probe", "main"):
            txt = work / f"{name}.{phase}.txt"
            if txt.is_file():
                info["console"][phase] = txt.read_text(errors="replace")[-3000:]
        summary["runs"][name] = info
    summary["wall_s"] = round(time.perf_counter() - start, 1)
    summary["equal_steps"] = len({r["steps"] for r in summary["runs"].values()}) == 1
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


# --------------------------------------------------------------------------- CLI
def _kv(items: list[str], conv: Any) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise KitError(f"expected NAME=VALUE, got {item!r}")
        out[key] = conv(value)
    return out


DEVICE_COMMAND = ("python3 -m pip install -q --no-index --no-deps --target /tmp/site gpu_kit/wheels/*.whl"
                  " && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1"
                  " && nvidia-smi -L; python3 tools/gpu_kit.py train --out $OUT --minutes {minutes}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="write gpu_kit/ for these stage-2 configs")
    p.add_argument("configs", nargs="+", type=Path)
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    p.add_argument("--stride", action="append", default=[], metavar="SOURCE=K",
                   help=f"keep every K-th image of a data folder (default {DEFAULT_STRIDES})")
    p.add_argument("--workers", type=int, default=0, help="loader processes per run (0: 16 cores shared)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=YAML",
                   help="override a top-level config key in every run (e.g. batch_size=2 for a smoke test)")
    p.add_argument("--half", action="append", default=[], choices=WEIGHT_KEYS, metavar="KEY",
                   help=f"carry this config key's weights as float16 (one of {', '.join(WEIGHT_KEYS)})")
    p.add_argument("--minutes", type=float, default=7.0, help="wall time the device command plans for")
    p.add_argument("--no-wheels", action="store_true", help="skip downloading the lpips wheel")
    sub.add_parser("slim", help="only the code stays in the git index (what the device tool sends)")
    sub.add_parser("restore", help="undo slim")
    c = sub.add_parser("collect", help="(here, after the run) join the weights the device sent back")
    c.add_argument("files_at", type=Path, help="the folder the device tool put the $OUT files in")
    c.add_argument("dest", type=Path, help="where each run's folder goes, e.g. runs/r48_gpu")
    t = sub.add_parser("train", help="(on the device) train the kit's runs side by side")
    t.add_argument("--kit", type=Path, default=KIT)
    t.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "out")))
    t.add_argument("--device", default="cuda")
    t.add_argument("--minutes", type=float, default=7.0)
    t.add_argument("--probe-minutes", type=float, default=1.0)
    t.add_argument("--work", type=Path, default=Path("/tmp/gpu_kit_runs"))
    args = ap.parse_args(argv)
    try:
        if args.cmd == "prepare":
            import yaml

            desc = prepare(args.configs, args.shared, KIT, _kv(args.stride, int), args.workers,
                           _kv(args.set, yaml.safe_load), tuple(args.half))
            if not args.no_wheels:
                fetch_wheels(KIT)
            for d in desc["data"]:
                print(f"{d['root']:>14}: {d['images']:4d} of {d['of']:4d} images (every {d['stride']}), "
                      f"{d['bytes'] / 1e6:.1f} MB")
            kit_b = dir_bytes(KIT)
            print(f"kit {kit_b / 2**20:.1f} MiB; the tree now {tree_bytes() / 2**20:.1f} MiB "
                  f"(run `slim` first), limit {TREE_LIMIT / 2**20:.0f} MiB together")
            print("device command (carry [\"gpu_kit\"]):\n  " + DEVICE_COMMAND.format(minutes=args.minutes))
        elif args.cmd == "slim":
            slim()
            total = tree_bytes() + (dir_bytes(KIT) if KIT.is_dir() else 0)
            print(f"slim: {tree_bytes() / 2**20:.1f} MiB of tree + kit = {total / 2**20:.1f} MiB "
                  f"(limit {TREE_LIMIT / 2**20:.0f}); undo with `python tools/gpu_kit.py restore`")
            if total > TREE_LIMIT:
                print("over the limit: prepare with larger --stride values or --half KEY", file=sys.stderr)
                return 1
        elif args.cmd == "restore":
            restore()
            print("restored: the index is HEAD's again")
        elif args.cmd == "collect":
            s = collect(args.files_at, args.dest)
            for name, info in s["runs"].items():
                print(f"{name}: {info['steps']} steps, rc {info['rc']}, "
                      f"{'model ' + info['sha256'][:12] if info.get('parts') else 'no model'}")
        else:
            s = train(args.kit, args.out, args.device, args.minutes, args.probe_minutes, args.work)
            short = {n: {k: r.get(k) for k in ("rc", "steps", "sha256")} for n, r in s["runs"].items()}
            print(json.dumps({"target_steps": s["target_steps"], "equal_steps": s["equal_steps"],
                              "wall_s": s["wall_s"], "runs": short}, indent=1))
            return 0 if s["equal_steps"] and all(r["rc"] == 0 for r in s["runs"].values()) else 1
    except (KitError, subprocess.CalledProcessError, OSError) as exc:
        print(f"gpu_kit: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
