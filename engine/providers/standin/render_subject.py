"""Which icon glyph a prompt asks for, and the keyword matching scenes share.

The subject is read from the asset's title first (the quoted name the brief
template writes, or else the prompt's first clause), in the table's order of
specificity, so "Pet Trust" is a paw and not the generic trust shield; only
when the title says nothing drawable does the earliest keyword anywhere in the
prompt decide. The drawings themselves live in ``render_glyphs``.
"""
from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["GLYPH_WORDS", "earliest_keyword", "first_listed", "glyph_for", "subject_of", "title_of"]

# glyph → keywords, most specific subject first: the first entry whose keyword appears in the title wins.
# Bare "will" is left out (in prompts it is mostly the verb).
GLYPH_WORDS: dict[str, tuple[str, ...]] = {
    "quote": ("quote", "quotation", "testimonial", "client story"),
    "paw_shield": ("pet", "paw", "animal", "dog", "cat"),
    "vault": ("vault", "safe deposit", "strongbox"),
    "inventory": ("inventory", "asset list", "clipboard"),
    "checklist": ("checklist", "check list", "to-do", "todo", "ticked box"),
    "laptop_cloud": ("digital asset", "digital", "online account", "password", "laptop", "cloud", "crypto"),
    "tax_percent": ("estate tax", "tax", "percent", "inheritance tax"),
    "coin_jar": ("retirement", "401k", "ira", "pension", "nest egg", "piggy bank", "coin jar", "savings"),
    "deed_house": ("real estate deed", "deed", "title deed"),
    "courthouse": ("probate", "courthouse", "court"),
    "notary_stamp": ("notary", "notarize", "notarise", "stamp"),
    "signed_page": ("power of attorney", "attorney", "signed page"),
    "guardian": ("guardian", "guardianship", "minor", "child", "children"),
    "umbrella": ("life insurance", "insurance", "umbrella", "policy"),
    "medical_heart": ("healthcare directive", "health care", "healthcare", "medical", "living will", "hospital"),
    "hands_heart": ("charitable", "charity", "giving", "donation", "philanthropy", "hands heart", "cupped hands"),
    "gift": ("beneficiary", "beneficiaries", "inheritance", "gift", "heir"),
    "ledger": ("trustee", "ledger", "bookkeeping"),
    "folder_roof": ("living trust", "revocable trust", "folder"),
    "shield": ("trust", "shield", "protection", "protect"),
    "key": ("executor", "key", "access"),
    "calendar_renew": ("review", "reminder", "renewal", "renew", "annual", "circular arrow"),
    "calendar": ("calendar", "deadline", "date", "schedule", "appointment"),
    "envelope": ("letter of wishes", "letter", "envelope", "mail", "message"),
    "monogram": ("monogram", "portfolio", "heritage collection"),
    "documents": ("documents", "paperwork", "papers", "document stack"),
    "tree": ("family tree", "legacy", "heritage", "tree", "roots", "genealogy"),
    "family": ("family", "people", "parents", "couple", "generations"),
    "scroll": ("last will", "testament", "a will", "wills", "scroll", "document", "certificate"),
    "house": ("house", "home", "property", "real estate", "mortgage"),
    "signature": ("signature", "sign", "signing", "e-sign"),
    "fountain_pen": ("fountain pen", "pen", "lawyer"),
    "scales": ("legal", "law", "justice", "scales"),
    "padlock": ("lock", "padlock", "secure", "security", "privacy", "encrypt"),
    "coins": ("asset", "money", "finance", "coins", "estate value", "investment", "wealth"),
}

_QUOTED = re.compile(r'["\u201c]([^"\u201d\n]{2,80})["\u201d]')
_FIRST_CLAUSE = re.compile(r"[^.:;\n]*")


@lru_cache(maxsize=None)
def _word_pattern(word: str) -> re.Pattern:
    # whole words (plurals allowed): "sign" must not fire inside "design", nor "trust" inside "trustee"
    return re.compile(r"(?<![a-z])" + re.escape(word.strip()) + r"(?:s|es)?(?![a-z])")


def _first_match(text: str, words: tuple[str, ...]) -> tuple[int, int] | None:
    """(position, -length) of the earliest keyword; the longer one wins a tie ("family tree" over "family")."""
    hits = [(m.start(), -len(w)) for w in words if (m := _word_pattern(w).search(text))]
    return min(hits) if hits else None


def earliest_keyword(text: str, table: dict[str, tuple[str, ...]]) -> str | None:
    """The table entry whose keyword appears first in ``text`` (lower case)."""
    ranked = [(hit, name) for name, words in table.items() if (hit := _first_match(text, words))]
    return min(ranked)[1] if ranked else None


def first_listed(text: str, table: dict[str, tuple[str, ...]]) -> str | None:
    """The first table entry (in the table's order of specificity) with a keyword in ``text``."""
    return next((name for name, words in table.items() if _first_match(text, words)), None)


def title_of(prompt: str) -> str | None:
    """The asset's quoted name ("Digital Assets"), as the brief template writes it, if the prompt has one."""
    match = _QUOTED.search(prompt)
    return match.group(1).strip() if match else None


def subject_of(prompt: str) -> str:
    """What the prompt is about, in lower case: its quoted title, or else its first clause."""
    title = title_of(prompt)
    return (title if title is not None else _FIRST_CLAUSE.match(prompt.strip()).group(0)).lower()


def glyph_for(prompt: str, seed: int = 0) -> str:
    """The glyph a prompt asks for: by its subject, else its earliest keyword, else one chosen by seed."""
    found = first_listed(subject_of(prompt), GLYPH_WORDS) or earliest_keyword(prompt.lower(), GLYPH_WORDS)
    if found:
        return found
    names = sorted(GLYPH_WORDS)
    return names[seed % len(names)]
