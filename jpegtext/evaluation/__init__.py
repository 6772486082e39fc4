"""Evaluation harness: the paper's experiments, reproducible with one command.

::

    from jpegtext.evaluation import EvaluationConfig, run_evaluation

    cfg = EvaluationConfig(dataset_dir=Path("../shared/data/kodak"), out_dir=Path("runs/kodak"),
                           qualities=(1,), methods=("jpeg", "arcnn"),
                           lpips_trunk=..., niqe_params=..., arcnn_dir=...)
    out = run_evaluation(cfg)
    print(out.markdown)

The command line is ``jpegtext evaluate`` (:mod:`jpegtext.cli.evaluate`). Parts:
:mod:`~jpegtext.evaluation.dataset` (images, captions, wrong-caption derangement),
:mod:`~jpegtext.evaluation.methods` (the method interface and its implementations),
:mod:`~jpegtext.evaluation.harness` (the run, resumable), :mod:`~jpegtext.evaluation.report`
(CSV, means, markdown tables) and :mod:`~jpegtext.evaluation.figure` (comparison figures).

Importing this package imports neither torch nor the metrics' models; they load when a run
starts.
"""

from __future__ import annotations

from jpegtext.evaluation.dataset import (
    EvalImage,
    derangement,
    list_images,
    read_captions_file,
    select_subset,
    wrong_caption_sources,
)
from jpegtext.evaluation.figure import FigureRow, captioned_strip, comparison_figure
from jpegtext.evaluation.harness import (
    METRIC_CHOICES,
    EvaluationConfig,
    EvaluationOutput,
    check_runtime,
    run_evaluation,
)
from jpegtext.evaluation.methods import (
    BaselineMethod,
    JPEGMethod,
    Method,
    MethodLoader,
    MethodSpec,
    TGJARMethod,
    default_method_names,
    parse_method_specs,
)
from jpegtext.evaluation.report import NA_WEIGHTS, aggregate, render_markdown

__all__ = [
    "METRIC_CHOICES",
    "NA_WEIGHTS",
    "BaselineMethod",
    "EvalImage",
    "EvaluationConfig",
    "EvaluationOutput",
    "FigureRow",
    "JPEGMethod",
    "Method",
    "MethodLoader",
    "MethodSpec",
    "TGJARMethod",
    "aggregate",
    "captioned_strip",
    "check_runtime",
    "comparison_figure",
    "default_method_names",
    "derangement",
    "list_images",
    "parse_method_specs",
    "read_captions_file",
    "render_markdown",
    "run_evaluation",
    "select_subset",
    "wrong_caption_sources",
]
