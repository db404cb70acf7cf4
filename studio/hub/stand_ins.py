"""`torch.load(weights_only=True)` of checkpoints whose pickle names more than tensors and containers.

A training checkpoint (fairseq's HuBERT and wav2vec 2.0 releases) carries its run's settings beside the weights:
an argparse Namespace, omegaconf containers, the task's label dictionaries, numpy scalars. weights_only refuses
those names, and loading without it would run whatever the file names. Here each name the file uses is bound to
an inert stand-in that only records the arguments and state the pickle hands it, so nothing the file names runs;
`plain` turns the recorded settings back into dicts, lists and values. Names outside the modules a checkpoint
plausibly uses (os.system, builtins.eval, subprocess, ...) are refused before anything is read.
"""

from __future__ import annotations

import pickletools
from pathlib import Path
from typing import Any, ClassVar

from studio.hub.checkpoint_io import torch_load
from studio.hub.ctranslate2 import CheckpointError

# the modules whose names a training checkpoint's settings use; anything else is not a checkpoint's business
STAND_IN_MODULES = ("fairseq", "omegaconf", "argparse", "typing", "enum", "numpy", "collections", "pathlib",
                    "dataclasses", "copyreg", "datetime")
# builtin types that settings name as types (omegaconf records a node's type); the builtin functions never pass
_BUILTIN_TYPES = {f"builtins.{t}" for t in ("dict", "list", "tuple", "set", "frozenset", "str", "int", "float",
                                              "bool", "bytes", "object", "NoneType", "type")}
_MAX_DEPTH = 64


class UnsafeCheckpointError(CheckpointError):
    """The file's pickle names a callable that could run code: never loaded, whatever else it might be."""


class StandIn:
    """Built in place of the class or function `name` that the pickle asks for; runs nothing."""

    name: ClassVar[str] = ""

    def __new__(cls, *args: object, **kwargs: object) -> StandIn:
        self = object.__new__(cls)
        self.args = args
        self.state: object = None
        return self

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: object) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<stand-in for {self.name}>"


def unsafe_globals(path: Path) -> list[str] | None:
    """The names in `path`'s pickle that weights_only does not allow by itself; None when the file is no torch
    checkpoint that can be scanned (torch_load then says what it is)."""
    import torch
    from torch import _weights_only_unpickler as wo

    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except ValueError:  # the legacy (pre-zip) format: three small pickles, then the one that matters
        pass
    except Exception:
        return None
    try:
        with open(path, "rb") as f:
            for _ in range(3):  # magic number, protocol version, system info
                for op, _arg, _pos in pickletools.genops(f):
                    if op.name == "STOP":
                        break
            names = wo.get_globals_in_pkl(f)
    except Exception:  # not a legacy checkpoint either
        return None
    allowed = set(wo._get_allowed_globals())
    return sorted(n for n in names if n not in allowed)


def load_with_stand_ins(path: Path, expected: str, remedy: str) -> object:
    """torch_load(path) (weights_only, tensors mapped from the file) with every non-tensor name the file uses bound
    to a StandIn; a name from outside STAND_IN_MODULES is a CheckpointError."""
    import torch

    names = unsafe_globals(path) or []
    foreign = [n for n in names if n.split(".")[0] not in STAND_IN_MODULES and n not in _BUILTIN_TYPES]
    if foreign:
        raise UnsafeCheckpointError(f"'{path.name}' asks to run {foreign[0]} while it loads, which no model checkpoint "
                              "needs; it was not loaded.", remedy)
    if not names:
        return torch_load(path, expected, remedy, mmap=True)
    stand_ins = [(type(n.rsplit(".", 1)[-1], (StandIn,), {"name": n}), n) for n in names]
    with torch.serialization.safe_globals(stand_ins):
        return torch_load(path, expected, remedy, mmap=True)


def plain(obj: object) -> Any:
    """What stand-ins carry, as plain data: omegaconf containers and value nodes become their content, an argparse
    Namespace (or any object) the dict of its attributes, an enum member its value. Each object is converted
    once (a pickle can share one dict a million times over in a few bytes) and a cycle becomes None."""
    done: dict[int, Any] = {}
    busy: set[int] = set()

    def convert(o: object, depth: int) -> Any:
        if depth > _MAX_DEPTH or id(o) in busy:
            return None
        if id(o) in done:
            return done[id(o)]
        if not isinstance(o, StandIn | dict | list | tuple):
            return o
        busy.add(id(o))
        if isinstance(o, StandIn):
            state = o.state
            if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
                state = {**(state[0] or {}), **state[1]} if isinstance(state[0], dict | None) else state[1]
            if isinstance(state, dict):
                inner = next((k for k in ("_content", "_val") if k in state), None)  # omegaconf containers, nodes
                out = (convert(state[inner], depth + 1) if inner else
                       {str(k): convert(v, depth + 1) for k, v in state.items()})
            else:
                out = convert(o.args[0], depth + 1) if len(o.args) == 1 else None
        elif isinstance(o, dict):
            out = {k: convert(v, depth + 1) for k, v in o.items()}
        else:
            out = [convert(v, depth + 1) for v in o]
        busy.discard(id(o))
        done[id(o)] = out
        return out

    return convert(obj, 0)
