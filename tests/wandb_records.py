"""Read a `.wandb` file back with W&B's own protobuf messages: what an offline run logged.

The file is a leveldb-style log (W&B's datastore format): a 7-byte header (":W&B", magic,
version), then 32 KiB blocks of chunks (crc32, length, type: full/first/middle/last), each
record a `wandb_internal_pb2.Record`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK, HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[Any]:
    """Every Record of a .wandb file, in order."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    ident, magic, _version = struct.unpack("<4sHB", data[:HEADER])
    assert (ident, magic) == (b":W&B", 0xBEE1), f"{path} is not a W&B datastore"
    out, pos, pending = [], HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # block trailer: zero padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0 and length == 0:
            pos += left
            continue
        pending += data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind in (FULL, LAST):
            rec = pb.Record()
            rec.ParseFromString(pending)
            out.append(rec)
            pending = b""
    return out


def _key(item: Any) -> str:
    """A summary/history item's key ("a/b" for nested keys)."""
    return item.key or "/".join(item.nested_key)


@dataclass
class RunLog:
    """What one offline run logged: run header, config, summary, history and artifacts."""

    group: str = ""
    job_type: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
    artifacts: list[tuple[str, str, list[str]]] = field(default_factory=list)  # type, name, files


def read_run(path: Path) -> RunLog:
    """The run logged in a .wandb file, decoded (values are JSON-decoded)."""
    run = RunLog()
    for rec in records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            run.group, run.job_type, run.tags = rec.run.run_group, rec.run.job_type, [*rec.run.tags]
            run.config.update({u.key: json.loads(u.value_json) for u in rec.run.config.update})
        elif kind == "config":
            run.config.update({u.key: json.loads(u.value_json) for u in rec.config.update})
        elif kind == "summary":
            run.summary.update({_key(u): json.loads(u.value_json) for u in rec.summary.update})
        elif kind == "history":
            run.history.update({_key(i): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "artifact":
            files = [c.path for c in rec.artifact.manifest.contents]
            run.artifacts.append((rec.artifact.type, rec.artifact.name, files))
    return run


def only_run(folder: Path) -> RunLog:
    """The one offline run under folder/wandb."""
    found = sorted(Path(folder).glob("wandb/offline-run-*/run-*.wandb"))
    assert len(found) == 1, f"expected one offline run under {folder}, found {found}"
    return read_run(found[0])
