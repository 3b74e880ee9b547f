"""aisdk timestamps decoded from their bytes: ``dd/mm/yyyy HH:MM:SS``, 19 characters, UTC.

pyarrow parses such a layout with its ``strptime``, a large share of reading an aisdk file. The
layout is fixed-width, so its numbers can be read from the bytes of a pyarrow string column with
integer arithmetic on whole columns (several digits per 64-bit word, "SIMD within a register"),
and a day file has one date per block, decoded once. Anything that is not exactly the layout is
left to pyarrow's parser, which then gives its usual result or error.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["decode_dmy_hms"]

# a "dd/mm/yyyy HH:MM:SS" value as fields of one 19-byte record: the first 8 and next 2 bytes of
# the date, the space, and the 8 bytes of the time as one little-endian integer
_DMY_RECORD = np.dtype({"names": ["date", "year", "space", "hms"], "formats": ["<u8", "<u2", "u1", "<u8"],
                        "offsets": [0, 8, 10, 11], "itemsize": 19})
_U8 = np.uint64


def _le(text: bytes) -> np.uint64:
    return _U8(int.from_bytes(text, "little"))


# SWAR constants: xor with the text of zeros leaves 0-9 in digit bytes and 0 in separators
_HMS_ZERO, _HMS_HIGH = _le(b"00:00:00"), _le(b"\xf0\xf0\xff\xf0\xf0\xff\xf0\xf0")
_DATE_ZERO, _DATE_HIGH = _le(b"00/00/00"), _le(b"\xf0\xf0\xff\xf0\xf0\xff\xf0\xf0")
_SIX, _TEN = _le(b"\x06\x06\x00\x06\x06\x00\x06\x06"), _le(b"\x10\x10\x00\x10\x10\x00\x10\x10")


def _digits(x: np.ndarray, zero: np.uint64, high: np.uint64) -> np.ndarray | None:
    """``x`` (8 text bytes each, as in ``dd/mm/yy`` or ``HH:MM:SS``) with its three two-digit
    numbers in bytes 0, 3 and 6; None if a digit or separator is not one."""
    x = x ^ zero
    if np.any(x & high) or np.any((x + _SIX) & _TEN):  # bit 4 after adding 6: a byte above 9
        return None
    return x * _U8(10) + (x >> _U8(8))  # byte k: 10·digit k + digit k+1 (at most 99: no carries)


def _dmy_days(d: np.ndarray, m: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Days since 1970-01-01 of day, month, year arrays; None if one is not a date."""
    if np.any((m < 1) | (m > 12) | (d < 1) | (y < 1678) | (y > 2261)):
        return None
    first = ((y - 1970) * 12 + m - 1).astype("datetime64[M]")
    start = first.astype("datetime64[D]").astype(np.int64)
    if np.any(d > (first + 1).astype("datetime64[D]").astype(np.int64) - start):
        return None
    return start + d - 1


def decode_dmy_hms(col: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """[n] UTC nanoseconds of ``dd/mm/yyyy HH:MM:SS`` strings (aisdk's layout), decoded from the
    fixed-width bytes with integer arithmetic (the date once where a block holds one day). None
    unless every value is exactly that layout (19 characters, a valid date and time, years
    1678-2261), so that anything else goes to pyarrow's parser and its errors."""
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    out = []
    for arr in chunks:
        n = len(arr)
        if n == 0:
            continue
        if arr.null_count or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return None
        width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
        offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset : arr.offset + n + 1]
        if int(offsets[-1]) - int(offsets[0]) != 19 * n or np.any(np.diff(offsets) != 19):
            return None
        rec = np.frombuffer(arr.buffers()[2], dtype=_DMY_RECORD, count=n, offset=int(offsets[0]))
        if np.any(rec["space"] != 0x20):
            return None
        v = _digits(rec["hms"], _HMS_ZERO, _HMS_HIGH)
        if v is None:
            return None
        h, mi, sec = v & _U8(0xFF), (v >> _U8(24)) & _U8(0xFF), (v >> _U8(48)) & _U8(0xFF)
        if np.any(h > 23) or np.any(mi > 59) or np.any(sec > 59):
            return None
        day_s = (h * _U8(3600) + mi * _U8(60) + sec).view(np.int64)
        date, year = rec["date"], rec["year"]
        one = bool(np.all(date == date[0]) and np.all(year == year[0]))
        if one:  # one day in the block: decode the first value's date only
            date, year = date[:1], year[:1]
        dv = _digits(date, _DATE_ZERO, _DATE_HIGH)
        yy = year ^ np.uint16(0x3030)  # the year's last two digits
        if dv is None or np.any(yy & np.uint16(0xF0F0)) or np.any((yy + np.uint16(0x0606)) & np.uint16(0x1010)):
            return None
        yy = yy.astype(np.int64)
        d, m = (dv & _U8(0xFF)).astype(np.int64), ((dv >> _U8(24)) & _U8(0xFF)).astype(np.int64)
        y = ((dv >> _U8(48)) & _U8(0xFF)).astype(np.int64) * 100 + (yy & 0xFF) * 10 + (yy >> 8)
        days = _dmy_days(d, m, y)
        if days is None:
            return None
        out.append((days * 86_400 + day_s) * 1_000_000_000)
    if not out:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(out) if len(out) > 1 else out[0]
