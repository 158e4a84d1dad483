"""One-word place names (countries, cities, states, regions) that the person rules keep apart
from names: a lone "Paris" or "Georgia" that spaCy calls a place stays a place."""

from __future__ import annotations

from functools import lru_cache

#: places that are also first names: a lone one that spaCy calls a place stays a place
PLACE_NAMES = (
    "Paris Sydney Florence Victoria Austin Dallas Houston Orlando Phoenix Chester Lincoln Adelaide Regina "
    "Santiago Lima Sofia Valencia Savannah Charlotte Madison Eugene Troy Jackson Memphis Milan Roma Alexandria "
    "Vienna Geneva Havana Bristol Salem Aurora Denver Cleveland Nelson Camden Kingston Hamilton Wellington "
    "Florida Carolina Virginia Dakota Indiana Montana Nevada Brooklyn Berlin London Moscow Athens Rome Asia "
    "Africa America Europe India China Israel Jordan Georgia Chad"
)


def build_places(out=None) -> int:
    """Write ``data/places.txt.gz``: one-word countries, cities, states and regions that Faker's
    address providers list for their locales (Faker 40.54, MIT). Importing all those providers
    takes seconds, too slow for every Spark worker, so the list ships built::

        python -m include.pii.places
    """
    import gzip
    import importlib
    import pkgutil
    from pathlib import Path

    import faker.providers.address as address

    found = set()
    for mod in pkgutil.iter_modules(address.__path__):
        try:
            provider = importlib.import_module(f"{address.__name__}.{mod.name}").Provider
        except (ImportError, AttributeError):
            continue
        for attr in ("countries", "cities", "states", "provinces", "regions", "departments"):
            values = getattr(provider, attr, None)
            if isinstance(values, (list, tuple)):
                found |= {v for v in values if isinstance(v, str) and " " not in v and v.strip()}
    out = Path(out or Path(__file__).parent / "data") / "places.txt.gz"
    with gzip.GzipFile(out, "wb", mtime=0) as fh:
        fh.write("\n".join(sorted(found)).encode() + b"\n")
    return len(found)


@lru_cache(maxsize=1)
def places() -> frozenset[str]:
    """One-word place names: PLACE_NAMES and ``data/places.txt.gz`` (see :func:`build_places`)."""
    import gzip
    from importlib import resources

    raw = resources.files("include.pii").joinpath("data").joinpath("places.txt.gz").read_bytes()
    return frozenset(gzip.decompress(raw).decode().split("\n")) - {""} | set(PLACE_NAMES.split())


if __name__ == "__main__":
    print(build_places())
