"""Copy: does the image carry the words its brief asked for? OCR, then character error rate.

OCR is rapidocr-onnxruntime (PP-OCRv4 detection + recognition as ONNX models that
ship *inside its wheel*: nothing is downloaded, ever). It is optional: without it
the check reports "copy check unavailable" (passed = None) rather than guessing.
Loading the models takes ~2 s once per process; reading a social card ~1-4 s on
this machine's 2 shared cores, so it runs in a worker thread and only for
text-bearing asset types.

The character error rate is the Levenshtein distance between the intended text
and the best-matching run of consecutive OCR lines, over the intended length,
after case-folding and collapsing punctuation and spaces (a card may carry body
text beside its headline; the headline must be there, spelled right).
"""
from __future__ import annotations

import re
import threading
import unicodedata

import numpy as np

from engine.quality.check import AT_MOST, Check, measured, not_applicable
from engine.quality.pixels import Pixels

__all__ = ["copy_check", "read_text", "ocr_available", "character_error_rate", "normalise_text", "OcrLine",
           "VERSION"]

VERSION = "copy/1 (rapidocr-onnxruntime PP-OCRv4, CER)"
OCR_MAX_SIDE = 1024  # larger images are read at this size: legible headlines stay legible, time halves

_engine = None
_engine_lock = threading.Lock()
_unavailable: str | None = None


def ocr_available() -> tuple[bool, str]:
    """(available, why not)."""
    _load()
    return _unavailable is None, _unavailable or ""


def _load():
    global _engine, _unavailable
    with _engine_lock:
        if _engine is None and _unavailable is None:
            try:
                from rapidocr_onnxruntime import RapidOCR  # noqa: PLC0415 (heavy, optional)
                _engine = RapidOCR()
            except Exception as exc:  # not installed, or its runtime cannot load here
                _unavailable = f"copy check unavailable: OCR could not load ({type(exc).__name__}: {exc})"
    return _engine


class OcrLine(tuple):
    """(text, confidence, (left, top, right, bottom))."""
    __slots__ = ()

    @property
    def text(self) -> str:
        return self[0]

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self[2]


def read_text(pixels: Pixels) -> list[OcrLine]:
    """OCR lines in reading order (top to bottom, then left to right); RuntimeError when OCR is unavailable."""
    engine = _load()
    if engine is None:
        raise RuntimeError(_unavailable)
    image = pixels.source.convert("RGB")
    scale = 1.0
    if max(image.size) > OCR_MAX_SIDE:
        scale = max(image.size) / OCR_MAX_SIDE
        image = image.resize((round(image.width / scale), round(image.height / scale)))
    with _engine_lock:  # one inference at a time: onnxruntime already uses every core
        result, _ = engine(np.asarray(image))
    lines = []
    for points, text, confidence in result or []:
        xs, ys = [p[0] * scale for p in points], [p[1] * scale for p in points]
        lines.append(OcrLine((str(text), float(confidence), (int(min(xs)), int(min(ys)), int(max(xs)) + 1,
                                                                 int(max(ys)) + 1))))
    lines.sort(key=lambda line: (line.box[1] // 16, line.box[0]))
    return lines


def normalise_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w]+", " ", text)
    return " ".join(text.split())


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def character_error_rate(read: list[str], intended: str) -> tuple[float, str]:
    """(CER, the OCR text it was measured on): best over runs of consecutive lines."""
    target = normalise_text(intended)
    if not target:
        return 0.0, ""
    lines = [normalise_text(t) for t in read if normalise_text(t)]
    best, best_text = 1.0, ""
    for start in range(len(lines)):
        for end in range(start + 1, min(len(lines), start + 6) + 1):
            candidate = " ".join(lines[start:end])
            cer = min(1.0, _levenshtein(candidate, target) / len(target))
            if cer < best:
                best, best_text = cer, candidate
    return best, best_text


def copy_check(pixels: Pixels, intended: str | None, *, max_cer: float,
               lines: list[OcrLine] | None = None, read: bool = True) -> Check:
    """``lines``: OCR already done (the contrast check reuses the text boxes); read here when None.

    ``read=False`` skips OCR (benchmarks, a quick score): the check says so instead of guessing.
    """
    if not intended:
        return not_applicable("copy", "this asset carries no intended text", version=VERSION, threshold=max_cer,
                              op=AT_MOST)
    if lines is None and not read:
        return not_applicable("copy", "copy check skipped (OCR off)", version=VERSION, threshold=max_cer,
                              op=AT_MOST, detail={"intended": intended})
    if lines is None:
        available, why = ocr_available()
        if not available:
            return not_applicable("copy", why, version=VERSION, threshold=max_cer, op=AT_MOST,
                                  detail={"intended": intended, "unavailable": True})
        lines = read_text(pixels)
    cer, matched = character_error_rate([line.text for line in lines], intended)
    read = " / ".join(line.text for line in lines)
    note = (f"reads {matched!r} for {intended!r}: CER {cer:.2f}" if lines
            else f"no text found; expected {intended!r}")
    return measured("copy", cer, max_cer, AT_MOST, version=VERSION, note=note,
                    detail={"intended": intended, "read": read[:500], "matched": matched})
