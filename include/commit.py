"""The commit protocol of a dataset version (what "published" means).

Under ``<output_uri>``, in this order (each write is atomic: a temporary name renamed into
place on local disks, a single PUT on S3, so a reader sees a whole file or none)::

    versions/<vid>/...             1. data copied (curated/, rejects/, data_docs/)
    versions/<vid>/manifest.json   2. the version's manifest
    versions/<vid>/_COMMITTED      3. the commit marker, holding <vid>: written last inside the
                                      version; only a version with it exists for readers
    _latest                        4. the current version id (moved only after the marker)
    _cleanup/<run>.json            5. a tombstone naming the run's staging folder, then the
                                      folder is deleted, then the tombstone

A crash before 3 leaves a folder without a marker: invisible, and a rerun rewrites it. A
crash after 3 is finished by the next run (:func:`finish_commit`): ``_latest`` moves to the
version if it still names the version's parent, and every tombstoned staging folder is
deleted again (both steps are idempotent).

``LLMOPS_PUBLISH_CRASH_AT=<step>`` (tests only) kills the process with ``os._exit(1)`` at
one of :data:`CRASH_POINTS`, to prove each of the states above is recoverable.
"""

from __future__ import annotations

import logging
import os
import re

import pyarrow.fs as pafs

from include import storage

log = logging.getLogger(__name__)

MARKER = "_COMMITTED"
LATEST = "_latest"
CLEANUP = "_cleanup"
#: test-only fault injection: crash at this step of :func:`include.publish.publish_run`
CRASH_ENV = "LLMOPS_PUBLISH_CRASH_AT"
CRASH_POINTS = ("before_manifest", "after_manifest", "after_marker", "after_latest", "during_cleanup")
_VID = re.compile(r"^ds-[0-9a-f]{16}$")


def crash_point(step: str) -> None:
    """Die here when the test hook names ``step`` (no cleanup, like kill -9)."""
    if os.environ.get(CRASH_ENV) == step:
        log.error("%s=%s: crashing", CRASH_ENV, step)
        os._exit(1)


def latest_uri(output_uri: str) -> str:
    return storage.join(output_uri, LATEST)


def version_dir(output_uri: str, vid: str) -> str:
    return storage.join(output_uri, "versions", vid)


def marker_uri(output_uri: str, vid: str) -> str:
    return storage.join(version_dir(output_uri, vid), MARKER)


def _read_id(uri: str, endpoint: str | None) -> str | None:
    """The version id in a pointer file, or None when absent or not a whole id."""
    if not storage.exists(uri, endpoint):
        return None
    text = storage.read_bytes(uri, endpoint).decode("utf-8", "replace").strip()
    if not _VID.match(text):
        log.warning("ignoring %s: %r is not a version id (a partial write?)", uri, text[:40])
        return None
    return text


def current_version(output_uri: str, endpoint: str | None = None) -> str | None:
    return _read_id(latest_uri(output_uri), endpoint)


def is_committed(output_uri: str, vid: str, endpoint: str | None = None) -> bool:
    """True once the version's marker (step 3) names it (or, for versions published before
    markers existed, when ``_latest`` names it)."""
    if _read_id(marker_uri(output_uri, vid), endpoint) == vid:
        return True
    return (
        not storage.exists(marker_uri(output_uri, vid), endpoint)
        and current_version(output_uri, endpoint) == vid
        and storage.exists(storage.join(version_dir(output_uri, vid), "manifest.json"), endpoint)
    )


def write_marker(output_uri: str, vid: str, endpoint: str | None = None) -> None:
    storage.write_bytes(marker_uri(output_uri, vid), (vid + "\n").encode(), endpoint)


def move_latest(output_uri: str, vid: str, endpoint: str | None = None) -> None:
    storage.write_bytes(latest_uri(output_uri), (vid + "\n").encode(), endpoint)


def _tombstone(output_uri: str, staging: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", staging.rstrip("/").split("://", 1)[-1]).strip("_")
    return storage.join(output_uri, CLEANUP, f"{name[-180:].lstrip('_.')}.json")


def clean_staging(output_uri: str, staging: str, endpoint: str | None = None) -> None:
    """Delete a committed run's staging folder so that an interrupted delete is redone."""
    storage.write_json(_tombstone(output_uri, staging), {"staging": staging}, endpoint)
    sweep_cleanup(output_uri, endpoint)


def sweep_cleanup(output_uri: str, endpoint: str | None = None) -> int:
    """Delete every tombstoned staging folder, then its tombstone; returns how many."""
    fs, root = storage.filesystem(storage.join(output_uri, CLEANUP), endpoint)
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return 0
    done = 0
    for info in fs.get_file_info(pafs.FileSelector(root)):
        if info.type != pafs.FileType.File or not info.path.endswith(".json"):
            continue
        uri = storage.join(storage.join(output_uri, CLEANUP), info.path.rsplit("/", 1)[-1])
        staging = storage.read_json(uri, endpoint)["staging"]
        crash_point("during_cleanup")
        storage.delete_dir(staging, endpoint)
        fs.delete_file(info.path)
        done += 1
    return done


def finish_commit(output_uri: str, vid: str, endpoint: str | None = None) -> bool:
    """Redo steps 4-5 for a committed version; True when ``_latest`` had to be moved."""
    manifest = storage.read_json(storage.join(version_dir(output_uri, vid), "manifest.json"), endpoint)
    current = current_version(output_uri, endpoint)
    moved = current != vid and current == manifest.get("previous_version")
    if moved:
        log.warning("version %s was committed but _latest still named %s: moving it", vid, current)
        move_latest(output_uri, vid, endpoint)
    if manifest.get("staging_used"):
        clean_staging(output_uri, manifest["staging_used"], endpoint)
    else:
        sweep_cleanup(output_uri, endpoint)
    return moved
