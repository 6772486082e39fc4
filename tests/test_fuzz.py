"""Seeded fuzzing of the readers (fast tier): no changed caption, only documented errors, no hang.

The longer run is ``python benchmarks/fuzz.py`` (its counts are in the README).
"""

from __future__ import annotations

import pytest
from fuzzing import (
    expected_payload,
    make_file,
    mutations,
    payload_edits,
    run_cases,
    truncations,
)

N_MUTATIONS = 2000


@pytest.fixture(scope="module")
def jpegtext_file() -> bytes:
    return make_file()


def _assert_clean(report, *, allow_lost: bool = True, allow_same: bool = True) -> None:
    assert report.failed == 0, report.failures
    assert report.counts["changed"] == 0 and report.counts["undocumented"] == 0
    assert report.counts["slow"] == 0
    if not allow_lost:
        assert report.counts["lost"] == 0, report.counts
    if not allow_same:
        assert report.counts["same"] == 0, report.counts


def test_every_truncation_is_an_invalid_jpeg_error(jpegtext_file: bytes) -> None:
    report = run_cases(truncations(jpegtext_file), expected_payload(jpegtext_file))
    assert report.cases == len(jpegtext_file)
    assert report.counts["error"] == report.cases, report.counts


def test_seeded_mutations_raise_only_documented_errors(jpegtext_file: bytes) -> None:
    report = run_cases(mutations(jpegtext_file, N_MUTATIONS, seed=15),
                       expected_payload(jpegtext_file))
    assert report.cases == N_MUTATIONS
    _assert_clean(report)
    # The mutations reach both outcomes: some leave the file readable, many break it.
    assert report.counts["same"] > 100 and report.counts["error"] > 100, report.counts


def test_every_single_byte_change_inside_the_payload_is_refused(jpegtext_file: bytes) -> None:
    # Every offset of the COM segment (marker, length, magic, JSON, hash) x 16 values.
    report = run_cases(payload_edits(jpegtext_file, values=16), expected_payload(jpegtext_file),
                       decode=False)
    assert report.cases > 100 * 16
    _assert_clean(report, allow_lost=False, allow_same=False)


def test_single_byte_changes_in_the_xmp_mirror_never_change_the_caption() -> None:
    # With the COM payload: the COM caption wins (the damaged mirror is warned about) or an
    # error is raised; without it (XMP-only file): the caption is the same or an error.
    for com in (True, False):
        data = make_file(xmp=True, com=com)
        expected = (expected_payload(data)[0], None, None) if not com else expected_payload(data)
        report = run_cases(payload_edits(data, values=4, xmp=True), expected, decode=False)
        _assert_clean(report, allow_lost=False)
        assert report.counts["error"] > 0


@pytest.mark.parametrize("index", range(8))
def test_full_byte_range_at_a_few_offsets(jpegtext_file: bytes, index: int) -> None:
    # All 255 other values at offsets spread over the payload: the hash catches every one.
    cases = list(payload_edits(jpegtext_file, values=255))
    per_offset = 255
    offsets = len(cases) // per_offset
    k = (index * offsets) // 8
    chosen = cases[k * per_offset : (k + 1) * per_offset]
    report = run_cases(iter(chosen), expected_payload(jpegtext_file), decode=False)
    _assert_clean(report, allow_lost=False, allow_same=False)
