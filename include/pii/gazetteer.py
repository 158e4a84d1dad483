"""First- and last-name lists for the name recognizer, and the script that builds them.

The lists (``data/first_names.txt.gz``, ``data/last_names.txt.gz``, one lower-cased name a line)
are derived from the PyPI package ``names-dataset`` 3.3.1 (Philippe Remy; licence MIT in its
metadata, Apache-2.0 in its LICENSE file; names and per-country popularity ranks for 105
countries). The package is 55 MB and needed only to rebuild them, never at run time::

    pip download names-dataset==3.3.1 --no-deps -d /tmp/nd && unzip -q /tmp/nd/*.whl -d /tmp/nd/x
    python -m include.pii.gazetteer /tmp/nd/x/names_dataset/v3

Kept: names in Latin script (diacritics included) ranked within the top ``FIRST_TOP`` (first) or
``LAST_TOP`` (last) of at least one country, minus common English words (Faker's English word
list and spaCy's stop words, plus ``EXTRA_WORDS``), so "Will", "May" or "Grant" alone never count.
Issue #13 raised the cut-offs from 600 / 1,500 to 1,500 / 4,000 (68,483 first and 219,510 last
names, 0.84 MB gzip): on the tuning half of the dev set and on a probe of Faker names from 24
locales in sentences we wrote, lone surnames were the largest miss.

``data/name_words.txt.gz`` (see :func:`build_name_words`) lists the shipped names that are also
English words, so a lone one in lower-case text is not taken for a name.
"""

from __future__ import annotations

import gzip
import pickle
import sys
from functools import cache
from importlib import resources
from pathlib import Path

import regex as re

FIRST_TOP = 1500
LAST_TOP = 4000
_LATIN = re.compile(r"^\p{Latin}[\p{Latin}'\-]*\p{Latin}$")
#: English words the generic lists miss that are also frequent names in some country
EXTRA_WORDS = """
able about above after again age ago air all also always am an and any april are area art as ask at august
away baby back bad bank bay be bear bell best big bill bird black blue bob body book born box boy brand
bright brown buck burn bush by call can cap car card care case cash chance change chase cherry church city
clay clear close cloud coach cole cook cool core corn cost cross crown cruz daisy dale dash date dawn day
dean dear deep dell do don dot down drew duke early earl east easy eve ever faith fall far field fine fish
fisher fit five flower ford forest fox frank free friday fuller gay gene gift glass glen gold golden good
grace grand grant gray green grey guy hall ham hand happy hard harry hart hay head heart high hill holly
home honey hope house hunt hunter iii ivy jack jade jay jewel joy june july just kai keen key kind king
lake land lane last law lay lead lee legend light like lily lin little long love low lucky main major man
march mark marsh mason may mayo meadow mercy might mill miller miles mint mo monday moon more morning
moss most much my name nash new news nice night noble north nova now oak ocean of old one only or page
park parker pass paul peace pearl penny person pine pink plain pool poor pope power price pride prince
queen rain ray read real red reed rich ring river rock rose ross royal ruby rush sage saint sale sand
sandy say sea season sharp shore short silver sky small smart smith snow so son song soon spring star
start steel stone storm street strong summer sun sunday sunny sweet swift tan tea teal the their then
there thursday today top tower town true tuesday turner under union up us van very walker wall ward
water way we wednesday well west white wild will win wind winter wise wolf wood woods word work world
worth yeah year yes young hi hello hey dear thanks thank please contact mail email ask tell meet send reply
regards cheers sincerely yours welcome sorry okay ok sure note notes update dr mr mrs ms sir madam
oh ah wisdom discipline primary secondary liquid sung tales sigma alpha beta gamma delta omega thai
english british irish scottish welsh french german dutch spanish italian portuguese greek turkish polish
russian swedish danish norwegian finnish chinese japanese korean indian american canadian mexican kinda
"""


def _english_words() -> set[str]:
    from faker.providers.lorem.en_US import Provider
    from spacy.lang.en.stop_words import STOP_WORDS

    return {w.lower() for w in Provider.word_list} | set(STOP_WORDS) | set(EXTRA_WORDS.split())


def build(folder: str, out: Path | None = None) -> dict[str, int]:
    """Write the two lists from names-dataset's ``first_names.pkl.gz`` / ``last_names.pkl.gz``."""
    out = out or Path(__file__).parent / "data"
    common = _english_words()
    sizes = {}
    for kind, top in (("first", FIRST_TOP), ("last", LAST_TOP)):
        with gzip.open(Path(folder) / f"{kind}_names.pkl.gz") as fh:
            data = pickle.load(fh)
        names = sorted(
            {
                n.lower()
                for n, info in data.items()
                if _LATIN.match(n) and min((info.get("rank") or {}).values(), default=top + 1) <= top
            }
            - common
        )
        del data
        with gzip.GzipFile(out / f"{kind}_names.txt.gz", "wb", mtime=0) as fh:
            fh.write("\n".join(names).encode() + b"\n")
        sizes[kind] = len(names)
    return sizes


def _inflections(word: str) -> list[str]:
    """``word`` and the stems it may be an inflection of ("items" -> "item", "signing" -> "sign")."""
    out = [word]
    for suffix, repl in (
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("ed", ""),
        ("ed", "e"),
        ("ing", ""),
        ("ing", "e"),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            out.append(word[: -len(suffix)] + repl)
    return out


def build_name_words(web2: str, out: Path | None = None) -> int:
    """Write ``data/name_words.txt.gz``: the shipped names that are also lower-case English words
    (or their plurals and verb forms) in the ``web2`` list of PyPI ``english-words`` 2.0.2 (MIT;
    FreeBSD's ``share/dict/web2``, Webster's Second International, public domain), where only
    proper nouns are capitalised::

        pip download english-words==2.0.2 --no-deps -d /tmp/ew && unzip -q /tmp/ew/*.whl -d /tmp/ew/x
        python -m include.pii.gazetteer --name-words /tmp/ew/x/english_words/data/web2.pickle
    """
    out = out or Path(__file__).parent / "data"
    with open(web2, "rb") as fh:
        words = {w for w in pickle.load(fh) if w.islower()}
    both = sorted(n for n in names("first") | names("last") if any(w in words for w in _inflections(n)))
    with gzip.GzipFile(out / "name_words.txt.gz", "wb", mtime=0) as fh:
        fh.write("\n".join(both).encode() + b"\n")
    return len(both)


@cache
def name_words() -> frozenset[str]:
    """Shipped names that are also English words ("items", "perfect", "pinto"): in a lower-case
    text such a word alone is not taken for a name."""
    raw = resources.files("include.pii").joinpath("data").joinpath("name_words.txt.gz").read_bytes()
    return frozenset(gzip.decompress(raw).decode().split())


@cache
def names(kind: str) -> frozenset[str]:
    """Lower-cased ``first`` or ``last`` names shipped in ``include/pii/data``."""
    raw = resources.files("include.pii").joinpath("data").joinpath(f"{kind}_names.txt.gz").read_bytes()
    return frozenset(gzip.decompress(raw).decode().split())


@cache
def english_words() -> frozenset[str]:
    """Common English words (never names on their own)."""
    return frozenset(_english_words())


if __name__ == "__main__":
    if sys.argv[1] == "--name-words":
        print(build_name_words(sys.argv[2]))
    else:
        print(build(sys.argv[1]))
