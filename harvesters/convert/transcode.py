"""cp874 text to UTF-8, a column of cells at a time, with the GIL released.

The delimited reader splits a cp874 chunk before decoding it (see readers/delimited.py)
and hands each column's cells here. ``bytes.decode("cp874")`` would hold the GIL for
the whole column while none of the converter's other threads (splitting, typing,
casting, writing) can run Python; glibc's iconv does the same conversion at about the
same speed, and ctypes releases the GIL for the call.

Python's codec stays the reference: iconv is used only when it converts each of the
256 byte values exactly as Python's cp874 does (the same text, and a refusal where
Python refuses). A libc without iconv or without CP874 falls back to the codec.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import threading

_CODE_PAGE = b"CP874"
_FAILED = ctypes.c_size_t(-1).value
_lock = threading.Lock()
_iconv = None  # the libc functions once checked; False when unusable


def cp874_strings_to_utf8(values):
    """A binary array of cp874 text (cells split from a cp874 chunk) as a UTF-8 string
    array; UnicodeDecodeError where Python's codec raises one. An ASCII column is the
    same bytes; otherwise the cells' text is converted in one call and their offsets
    grow by the two bytes (NBSP: one) each character above ASCII gains."""
    import numpy as np
    import pyarrow as pa

    if values.offset:
        values = values.take(pa.array(np.arange(len(values))))
    bitmap, offsets_buf, data_buf = values.buffers()
    if data_buf is None:
        return pa.StringArray.from_buffers(len(values), offsets_buf, None, bitmap, values.null_count)
    offsets = np.frombuffer(offsets_buf, np.int32)[: len(values) + 1]
    base, end = int(offsets[0]), int(offsets[-1])
    body = np.frombuffer(data_buf, np.uint8)[base:end]
    high = body >= 0x80
    if not high.any():
        return pa.StringArray.from_buffers(len(values), offsets_buf, data_buf, bitmap, values.null_count)
    grow = high.view(np.int8) * np.int8(2)
    grow[body == 0xA0] = 1
    before = np.zeros(len(body) + 1, np.int32)  # bytes gained before each byte
    np.cumsum(grow, dtype=np.int32, out=before[1:])
    relative = offsets - base
    size = len(body) + int(before[-1])
    libc = _usable()
    if libc is False:
        text = body.tobytes().decode("cp874").encode("utf-8")
    else:
        text = _convert(libc, ctypes.c_char_p(data_buf.address + base), len(body), size,
                        lambda: body.tobytes())
    return pa.StringArray.from_buffers(len(values), pa.py_buffer((relative + before[relative]).astype(np.int32)),
                                       pa.py_buffer(text), bitmap, values.null_count)


def _usable():
    global _iconv
    with _lock:
        if _iconv is None:
            _iconv = _load()
    return _iconv


def _load():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True) if name else None
        if libc is None:
            return False
        libc.iconv_open.restype = ctypes.c_void_p
        libc.iconv_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.iconv.restype = ctypes.c_size_t
        libc.iconv.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t),
                               ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)]
        libc.iconv_close.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return False
    api = ctypes.pythonapi
    api.PyBytes_FromStringAndSize.restype = ctypes.py_object
    api.PyBytes_FromStringAndSize.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
    api.PyBytes_AsString.restype = ctypes.c_void_p
    api.PyBytes_AsString.argtypes = [ctypes.py_object]
    for byte in range(256):  # the same text as Python's codec, or the same refusal
        data = bytes([byte])
        try:
            expected: bytes | None = data.decode("cp874").encode("utf-8")
        except UnicodeDecodeError:
            expected = None
        if expected is not None and byte >= 0x80 and len(expected) != (2 if byte == 0xA0 else 3):
            return False  # the output size would be wrong
        try:
            got: bytes | None = _convert(libc, ctypes.c_char_p(data), 1, len(expected or b"x"), lambda: data)
        except UnicodeDecodeError:
            got = None
        except OSError:
            return False
        if got != expected:
            return False
    return libc


def _convert(libc, src: ctypes.c_char_p, length: int, size: int, source) -> bytes:
    """``length`` bytes at ``src`` converted into a new bytes object of ``size`` bytes, written
    in place by iconv (a bytes object filled before anyone sees it, as CPython builds them):
    no copy of the text with the GIL held. ``source()``: those bytes, for an error."""
    handle = libc.iconv_open(b"UTF-8", _CODE_PAGE)
    if handle is None or handle == _FAILED:
        raise OSError(ctypes.get_errno(), "iconv_open CP874")
    try:
        out = ctypes.pythonapi.PyBytes_FromStringAndSize(None, size)
        src_left = ctypes.c_size_t(length)
        dst, dst_left = ctypes.c_char_p(ctypes.pythonapi.PyBytes_AsString(out)), ctypes.c_size_t(size)
        if libc.iconv(handle, ctypes.byref(src), ctypes.byref(src_left), ctypes.byref(dst),
                      ctypes.byref(dst_left)) == _FAILED:
            code = ctypes.get_errno()
            at = length - src_left.value
            if code == errno.EILSEQ:
                raise UnicodeDecodeError("cp874", source(), at, at + 1, "character maps to <undefined>")
            raise OSError(code, "iconv CP874")
        if dst_left.value:
            raise OSError(0, f"iconv CP874 wrote {size - dst_left.value} bytes, {size} expected")
        return out
    finally:
        libc.iconv_close(handle)
