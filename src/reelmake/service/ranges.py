"""HTTP Range requests read as RFC 9110 (section 14) says, for Starlette's FileResponse.

Starlette's own parser answers 400 to a Range header it cannot read, 416 when any one of several ranges
lies beyond the end, and reads `1_0`, `+5` or non-ASCII digits as numbers. RFC 9110 says instead: a
header that is not a valid `bytes` ranges-specifier is ignored (200 with the whole file); a set is
satisfiable when at least one of its ranges is (206 with those); only a set with none is 416.
Starlette's FileResponse still does the sending (single range, multipart/byteranges, HEAD, If-Range).
"""

from __future__ import annotations

import re

from starlette.responses import FileResponse, RangeNotSatisfiable

# One range-spec: `first-last`, `first-` or `-suffix`, in ASCII digits (RFC 9110 14.1.1).
RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
MAX_RANGES = 100  # more ranges than this in one request: ignored (whole file), as RFC 9110 14.2 allows


def _number(digits: str) -> int:
    """A position; absurdly long numbers are simply larger than any file (no huge int conversion)."""
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= 18 else 10**18


def parse_ranges(header: str, size: int) -> list[tuple[int, int]]:
    """The ranges to send as sorted, merged [start, end) pairs; [] means "ignore the header, send it all".

    Raises RangeNotSatisfiable when the header is valid but none of its ranges overlaps the file.
    """
    unit, equals, specifier = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return []  # an unknown unit or no ranges-specifier: MUST be ignored
    specs = [part.strip(" \t") for part in specifier.split(",")]
    specs = [spec for spec in specs if spec]  # the list syntax allows empty elements
    if not specs or len(specs) > MAX_RANGES:
        return []
    ranges = []
    for spec in specs:
        match = RANGE_SPEC.fullmatch(spec)
        if match is None or not (match[1] or match[2]):
            return []
        first, last = match[1], match[2]
        if first:
            start = _number(first)
            end = _number(last) + 1 if last else size
            if last and end <= start:
                return []  # last-pos before first-pos: the whole header is invalid
            if start < size:
                ranges.append((start, min(end, size)))
        elif (suffix := _number(last)) > 0 and size > 0:
            ranges.append((max(size - suffix, 0), size))
    if not ranges:
        raise RangeNotSatisfiable(size)
    ranges.sort()
    merged = [ranges[0]]
    for start, end in ranges[1:]:
        if start <= merged[-1][1]:  # overlapping or adjacent: one part (RFC 9110 allows coalescing)
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class MediaFileResponse(FileResponse):
    """Starlette's FileResponse with RFC 9110's reading of the Range header."""

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        return parse_ranges(http_range, file_size)
