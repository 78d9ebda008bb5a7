"""Fuzzy supplier-name matching for the duplicate check.

The same company is keyed twice with small differences: another case, a double space, a
missing full stop, a legal form left out, a plural dropped (``Atlas Logistics GmbH`` and
``ATLAS  LOGISTICS GMBH``, ``Atlas Logistic GmbH``, ``Atlas Logistics``). Names are therefore
compared in a normal form (case folded, accents and punctuation removed, spaces collapsed,
legal form spelled one way) with :class:`difflib.SequenceMatcher`. Two names whose legal
forms are both given and differ (``Inc`` against ``GmbH``) are different legal entities, so
the legal form then counts in the comparison; when one name lacks it, only the rest counts.

The score is the mean of the whole names' similarity and their first words' similarity:
sandbox and real supplier names share trade words (``Office Supplies``, ``Consulting``), so
``Acme Office Supplies Inc.`` and ``Cedar Office Supplies Inc.`` are alike as strings but not
as companies; the first word is usually the distinctive one.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from typing import Final

__all__ = ["NAME_THRESHOLD", "NormalName", "normal_name", "search_terms", "similarity"]

NAME_THRESHOLD: Final = 0.9
"""Similarity from which two names are a suspected duplicate (1.0 = the same normal form)."""

_LEGAL_FORMS: Final = {
    "inc": "inc", "incorporated": "inc", "corp": "corp", "corporation": "corp", "llc": "llc",
    "ltd": "ltd", "limited": "ltd", "plc": "plc", "gmbh": "gmbh", "ag": "ag", "kg": "kg", "ug": "ug",
    "sas": "sas", "sarl": "sarl", "sa": "sa", "bv": "bv", "nv": "nv", "kk": "kk", "co": "co",
    "spa": "spa", "srl": "srl", "ab": "ab", "as": "as", "oy": "oy",
}
"""Legal-form tokens (as they read once dots are removed) and their one spelling."""

_WORD: Final = re.compile(r"[a-z0-9]+")


class NormalName:
    """A company name in normal form: its words and its legal form, if it names one."""

    __slots__ = ("core", "form")

    def __init__(self, core: str, form: str | None) -> None:
        self.core = core
        """The words without the legal form, single-spaced."""
        self.form = form
        """The legal form in its one spelling (``gmbh``, ``inc``), or None."""

    @property
    def full(self) -> str:
        """Core and legal form."""
        return f"{self.core} {self.form}" if self.form else self.core


def normal_name(name: str) -> NormalName:
    """``name`` case folded, without accents and punctuation, with its trailing legal form split off."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").casefold()
    text = text.replace(".", "")  # "B.V." and "K.K." read as one token, "Inc." as "inc"
    words = _WORD.findall(text)
    form = None
    if len(words) > 1 and words[-1] in _LEGAL_FORMS:
        form = _LEGAL_FORMS[words.pop()]
    return NormalName(" ".join(words), form)


def similarity(first: str, second: str) -> float:
    """How alike two company names are, from 0.0 to 1.0 (rounded to two places)."""
    a, b = normal_name(first), normal_name(second)
    if a.form and b.form and a.form != b.form:
        left, right = a.full, b.full
    else:
        left, right = a.core, b.core
    if not left or not right:
        return 0.0
    whole = SequenceMatcher(None, left, right, autojunk=False).ratio()
    lead = SequenceMatcher(None, left.split()[0], right.split()[0], autojunk=False).ratio()
    return round((whole + lead) / 2, 2)


def search_terms(name: str, *, limit: int = 2) -> list[str]:
    """Words of ``name`` to search the ERP with (its ``name`` filter is a substring match).

    The first word (usually the distinctive one) and the longest other word: a near-duplicate
    keeps at least one of them intact, and each narrows the candidates to score.
    """
    words = [word for word in normal_name(name).core.split() if len(word) >= 3]
    if not words:
        return []
    terms = [words[0]]
    rest = sorted((word for word in words[1:] if word != words[0]), key=len, reverse=True)
    terms.extend(rest[: max(0, limit - 1)])
    return terms
