"""flask/meinheld/source.py: the series file and the DEP-3 headers that make check-patches (no network here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "flask" / "meinheld"))
import source  # noqa: E402

GOOD = """Description: one line of what
 Why: a longer text,
 .
 What: the fix.
Author: someone
Origin: vendor
Forwarded: no
---
diff --git a/x b/x
--- a/x
+++ b/x
"""


def test_series_lists_patches_in_order_without_comments_or_blank_lines() -> None:
    text = "# the order matters\n01-a.patch\n\n02-b.patch -p1  # a comment\n"
    assert source.series(text) == ["01-a.patch", "02-b.patch"]


def test_series_refuses_a_strip_level_other_than_p1() -> None:
    with pytest.raises(ValueError, match="-p0"):
        source.series("01-a.patch -p0\n")


def test_dep3_header_reads_fields_and_continuation_lines() -> None:
    header = source.dep3_header(GOOD)
    assert header.problems == []
    assert header.fields["Description"].splitlines() == ["one line of what", "Why: a longer text,", ".",
                                                          "What: the fix."]
    assert header.fields["Forwarded"] == "no"


@pytest.mark.parametrize("field", ["Description", "Origin", "Forwarded"])
def test_dep3_header_without_a_required_field_is_a_problem(field: str) -> None:
    text = "\n".join(line for line in GOOD.splitlines() if not line.startswith(field + ":"))
    assert f"no {field}" in source.dep3_header(text).problems


def test_dep3_header_stops_at_the_diff() -> None:
    text = "Description: x\nOrigin: vendor\nAuthor: a\n---\nForwarded: no\n"
    assert "no Forwarded" in source.dep3_header(text).problems


def test_vendor_patch_without_author_is_a_problem() -> None:
    text = GOOD.replace("Author: someone\n", "")
    assert any("Author" in problem for problem in source.dep3_header(text).problems)


def test_every_patch_in_the_repository_is_listed_and_has_a_dep3_header() -> None:
    names = source.series()
    assert sorted(names) == sorted(path.name for path in source.PATCHES.glob("*.patch"))
    for name in names:
        assert source.dep3_header((source.PATCHES / name).read_text()).problems == [], name
