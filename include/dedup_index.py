"""Cross-night dedup index: band keys, signatures and exact hashes of every published record.

``near_dedup`` (with ``near_dedup.index.enabled``) writes ``(id, norm_hash, signature,
bands)`` of its survivors to ``<stage>/dedup_index/``; ``publish`` copies that into the
version and, **after the commit**, :func:`index_published` adds the rows that were
actually published as one *segment*::

    <index>/bands/band-<b>/<segment>.parquet   band, key, id, version   (one folder per band)
    <index>/records/<segment>.parquet          id, version, norm_hash, signature
    <index>/_segments/<segment>.json           versions covered, rows, MinHash params: the commit

A segment without its ``_segments`` marker is an interrupted write: readers ignore it,
a publish retry rewrites it, so a failed run adds nothing. Segments made with other
MinHash parameters are ignored (their band keys mean something else). :func:`compact`
merges every segment into one (dropping versions no longer published), for cheaper
nightly reads: ``python -m include.dedup_index compact --output <output_uri>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from include import storage

log = logging.getLogger(__name__)
INDEX_DIR = "_dedup_index"
STAGED_DIR = "dedup_index"  # in the near_dedup stage folder and in each version
PARAMS_FILE = "params.json"  # next to the staged Parquet: the MinHash params of its keys
BAND_SCHEMA = pa.schema(
    [("band", pa.int32()), ("key", pa.int64()), ("id", pa.string()), ("version", pa.string())]
)
RECORD_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("version", pa.string()),
        ("norm_hash", pa.string()),
        ("signature", pa.list_(pa.int32())),
    ]
)


def index_on(cfg) -> bool:
    return cfg.near_dedup.enabled and cfg.near_dedup.index.enabled


def index_uri(cfg, output_uri: str) -> str:
    return cfg.near_dedup.index.path or storage.join(output_uri, INDEX_DIR)


def params_of(cfg, bands: int, rows: int) -> dict:
    """What band keys and signatures depend on; segments must match it to be compared."""
    nd = cfg.near_dedup
    keys = ("num_perm", "seed", "ngram", "char_ngrams", "hash_function")
    return {
        **{k: getattr(nd, k) for k in keys},
        "bands": bands,
        "rows": rows,
        "normalize": cfg.normalize.model_dump(exclude={"enabled"}),
    }


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def band_file(uri: str, band: int, segment: str) -> str:
    return storage.join(uri, "bands", f"band-{band:03d}", f"{segment}.parquet")


def records_file(uri: str, segment: str) -> str:
    return storage.join(uri, "records", f"{segment}.parquet")


def segments(uri: str, ep: str | None = None) -> list[dict]:
    """Committed segments (their markers), oldest first."""
    try:
        files = storage.list_files(storage.join(uri, "_segments"), (".json",), ep)
    except FileNotFoundError:
        return []
    return sorted(
        (storage.read_json(f.uri, ep) for f in files), key=lambda s: (s["written_at"], s["segment"])
    )


def usable_segments(uri: str, params: dict, ep: str | None = None) -> list[dict]:
    """Committed segments made with ``params`` (others are logged and ignored)."""
    segs = segments(uri, ep)
    for s in segs:
        if s["params_digest"] != digest(params):
            log.warning("dedup index segment %s has other MinHash params: ignored", s["segment"])
    return [s for s in segs if s["params_digest"] == digest(params)]


def _write(table: pa.Table, uri: str, ep: str | None) -> None:
    fs, path = storage.filesystem(uri, ep)
    if storage.is_local(uri):
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        pq.write_table(table, out)


def _read(uri: str, ep: str | None, columns: list[str] | None = None) -> pa.Table | None:
    try:
        files = storage.list_files(uri, (".parquet",), ep)
    except FileNotFoundError:
        return None
    tables = []
    for f in files:
        fs, path = storage.filesystem(f.uri, ep)
        with fs.open_input_file(path) as fh:
            tables.append(pq.read_table(fh, columns=columns))
    return pa.concat_tables(tables)


def _write_segment(params, uri: str, segment: str, versions: list[str], records: pa.Table, bands: list, ep):
    for b, table in enumerate(bands):
        _write(table, band_file(uri, b, segment), ep)
    _write(records, records_file(uri, segment), ep)
    marker = {
        "segment": segment,
        "versions": versions,
        "rows": records.num_rows,
        "params": params,
        "params_digest": digest(params),
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
    }
    storage.write_json(storage.join(uri, "_segments", f"{segment}.json"), marker, ep)  # the commit
    return marker


def index_published(cfg, output_uri: str, vid: str) -> dict | None:
    """Add the published rows of version ``vid`` as a segment (after publish committed it)."""
    if not index_on(cfg):
        return None
    from include.publish import version_dir

    ep, uri = cfg.storage.s3_endpoint_url, index_uri(cfg, output_uri)
    if any(vid in s["versions"] for s in segments(uri, ep)):
        return {"version": vid, "added": 0, "note": "already indexed"}
    vdir = version_dir(output_uri, vid)
    staged = _read(storage.join(vdir, STAGED_DIR), ep)
    if staged is None:
        log.warning("version %s has no %s/: nothing added to the dedup index", vid, STAGED_DIR)
        return {"version": vid, "added": 0, "note": "no staged band keys"}
    params = storage.read_json(storage.join(vdir, STAGED_DIR, PARAMS_FILE), ep)
    published = _read(storage.join(vdir, "curated"), ep, ["id"])
    staged = staged.filter(pc.is_in(staged["id"], value_set=published["id"]))
    version = pa.array([vid] * staged.num_rows, pa.string())
    records = pa.table(
        {
            "id": staged["id"],
            "version": version,
            "norm_hash": staged["norm_hash"],
            "signature": staged["signature"],
        },
        schema=RECORD_SCHEMA,
    )
    keyed = staged.filter(pc.invert(pc.is_null(staged["bands"])))
    n_bands = params["bands"]
    keys = np.asarray(pc.list_flatten(keyed["bands"]).to_numpy()).reshape(keyed.num_rows, n_bands)
    bands = [
        pa.table(
            {
                "band": pa.array(np.full(keyed.num_rows, b, np.int32)),
                "key": keys[:, b],
                "id": keyed["id"],
                "version": pa.array([vid] * keyed.num_rows, pa.string()),
            },
            schema=BAND_SCHEMA,
        )
        for b in range(n_bands)
    ]
    marker = _write_segment(params, uri, vid, [vid], records, bands, ep)
    log.info("dedup index: %d records of %s added (segment %s)", records.num_rows, vid, vid)
    return {"version": vid, "added": records.num_rows, "segment": marker["segment"]}


def compact(cfg, output_uri: str) -> dict:
    """Merge the segments made with the same MinHash params into one; rows of versions no
    longer published are dropped, an id indexed twice keeps its oldest entry. Readers see the
    old or the new segments, never neither: the new marker is written before the old markers
    and files are deleted."""
    ep, uri = cfg.storage.s3_endpoint_url, index_uri(cfg, output_uri)
    groups: dict[str, list[dict]] = {}
    for s in segments(uri, ep):
        groups.setdefault(s["params_digest"], []).append(s)
    out = {"segments_before": sum(map(len, groups.values())), "compacted": []}
    for old in groups.values():
        if len(old) > 1:
            out["compacted"].append(_merge(output_uri, uri, old, ep))
    out["segments_after"] = len(segments(uri, ep))
    return out


def _merge(output_uri: str, uri: str, old: list[dict], ep) -> dict:
    from include.publish import is_committed

    versions = list(dict.fromkeys(v for s in old for v in s["versions"] if is_committed(output_uri, v, ep)))
    records = pa.concat_tables([_read(records_file(uri, s["segment"]), ep) for s in old])
    records = records.filter(pc.is_in(records["version"], value_set=pa.array(versions, pa.string())))
    first = np.unique(records["id"].to_numpy(zero_copy_only=False), return_index=True)[1]
    records = records.take(pa.array(np.sort(first)))
    keep = pc.binary_join_element_wise(records["id"], records["version"], "\0")
    segment = "c-" + digest(versions)
    bands = []
    for b in range(old[0]["params"]["bands"]):
        t = pa.concat_tables([_read(band_file(uri, b, s["segment"]), ep) for s in old])
        bands.append(
            t.filter(pc.is_in(pc.binary_join_element_wise(t["id"], t["version"], "\0"), value_set=keep))
        )
    marker = _write_segment(old[0]["params"], uri, segment, versions, records, bands, ep)
    doomed = [storage.join(uri, "_segments", f"{s['segment']}.json") for s in old if s["segment"] != segment]
    doomed += [records_file(uri, s["segment"]) for s in old if s["segment"] != segment]
    doomed += [
        band_file(uri, b, s["segment"]) for s in old if s["segment"] != segment for b in range(len(bands))
    ]
    for f in doomed:  # markers first: a crash here leaves files no marker names (ignored)
        fs, path = storage.filesystem(f, ep)
        fs.delete_file(path)
    log.info("dedup index compacted: %d segments -> %s (%d rows)", len(old), segment, marker["rows"])
    return {
        "from": [s["segment"] for s in old],
        "segment": segment,
        "rows": marker["rows"],
        "versions": versions,
    }


def main(argv: list[str] | None = None) -> int:
    from include.config import load_config

    parser = argparse.ArgumentParser(
        prog="python -m include.dedup_index", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "command", choices=["compact", "show"], help="compact: merge segments; show: list them"
    )
    parser.add_argument("--output", required=True, help="the dataset root (output_uri of curate_dataset)")
    parser.add_argument("--config", default=None, help="YAML/JSON file (or inline JSON) over the defaults")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config(args.config)
    if args.command == "compact":
        print(json.dumps(compact(cfg, args.output)))
    else:
        print(json.dumps(segments(index_uri(cfg, args.output), cfg.storage.s3_endpoint_url), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
