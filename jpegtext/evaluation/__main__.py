"""``python -m jpegtext.evaluation SUMMARY.json... [-o OUT.md]``: one table for several runs."""

from __future__ import annotations

from jpegtext.evaluation.report import main

if __name__ == "__main__":
    raise SystemExit(main())
