"""Durable conversation memory: context that survives crashes, failed calls and corrupt files.

The lesson's "memory persistence" and "context recovery" come down to three promises:

1. **A failed turn leaves history consistent.** A user message is only written together with the
   answer it got (:meth:`ConversationMemory.record_turn`). If the call fails, nothing is written, so
   the next turn never sees a question without its answer.
2. **A crash mid-write never loses the last good state.** Writes go to a temporary file in the same
   folder, are flushed and ``fsync``-ed, then atomically ``os.replace``-d over the real file (and
   the folder is fsync-ed so the rename itself is durable). A reader sees the old file or the new
   one, never half of either.
3. **A corrupt file is moved aside, never silently overwritten.** It is renamed to
   ``<name>.corrupt-<n>`` with a warning, and the conversation starts empty; the evidence survives.

The file is created private to its user (mode 0600): conversations can hold personal data. Size is
bounded by ``max_messages`` (oldest turns are dropped first, whole turns at a time) so a long
session never grows the file without limit.

A save that fails (disk full, folder removed or read-only) never fails the turn: the answer was
given and stays in the in-process history; :attr:`ConversationMemory.save_error` says why the
file is behind (once per distinct problem in ``warnings``), and the next successful save catches
the file up with everything.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from day6.errors import ConfigError

__all__ = ["ConversationMemory", "Message"]

_log = logging.getLogger("day6.memory")

Role = Literal["system", "user", "assistant"]
_ROLES = ("system", "user", "assistant")
_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message, in the shape the chat completions API takes."""

    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


class ConversationMemory:
    """An append-only, bounded, crash-safe conversation history.

    ``path=None`` keeps memory in-process only (tests, notebooks). ``max_messages`` bounds the
    history kept and saved; older turns are dropped in user/assistant pairs so the history never
    starts with an orphaned answer.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, max_messages: int = 200) -> None:
        if isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 2:
            raise ConfigError("max_messages", max_messages, "an integer >= 2 (one user/assistant pair)")
        self.path = Path(path) if path is not None else None
        self.max_messages = max_messages
        self.warnings: list[str] = []
        self.save_error: str | None = None
        """Why the last save failed (the file is behind the history), or None when it is current."""
        self._messages: list[Message] = []
        if self.path is not None:
            self._messages = self._load(self.path)

    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def context(self, *, last: int | None = None) -> list[dict[str, str]]:
        """The history as API messages; ``last`` keeps only the most recent ones (prompt fallback)."""
        kept = self._messages if last is None else self._messages[-last:] if last > 0 else []
        return [m.as_dict() for m in kept]

    def record_turn(self, user: str, assistant: str) -> None:
        """Append a question together with its answer, then persist both atomically."""
        self._messages.extend((Message("user", user), Message("assistant", assistant)))
        self._trim()
        self._save()

    def clear(self) -> None:
        """Forget the conversation (and persist the empty history)."""
        self._messages.clear()
        self._save()

    def _trim(self) -> None:
        excess = len(self._messages) - self.max_messages
        if excess > 0:
            excess += excess % 2  # drop whole user/assistant pairs
            del self._messages[:excess]

    # -- persistence -------------------------------------------------------------------------

    def _save(self) -> None:
        if self.path is None:
            return
        payload = {"version": _FORMAT_VERSION, "messages": [m.as_dict() for m in self._messages]}
        data = json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8")
        try:
            _atomic_write(self.path, data)
        except OSError as exc:
            # The old file is intact (atomic write); keep the turn in memory and say so once.
            problem = f"could not save memory file {self.path}: {exc.strerror or exc}; kept in memory only"
            if problem != self.save_error:
                self._warn(problem)
            self.save_error = problem
            return
        self.save_error = None

    def _load(self, path: Path) -> list[Message]:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            self._warn(f"could not read memory file {path}: {exc.strerror}; starting empty (file left as is)")
            # An unreadable file is not ours to overwrite: keep it, and keep memory in-process only.
            self.path = None
            return []
        try:
            messages = list(_parse(json.loads(raw.decode("utf-8"))))
        except (ValueError, UnicodeDecodeError, TypeError, KeyError) as exc:
            try:
                aside = _move_aside(path)
            except OSError as move_error:
                # Cannot move it (read-only folder): never overwrite it either; stay in-process.
                self.path = None
                self._warn(
                    f"memory file {path} is corrupt ({exc}) and could not be moved aside "
                    f"({move_error.strerror}); left it untouched, keeping this conversation in memory only"
                )
                return []
            self._warn(f"memory file {path} is corrupt ({exc}); moved it to {aside.name}, starting empty")
            return []
        return messages[-self.max_messages :]

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        _log.warning("%s", text)

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "in-process"
        return f"ConversationMemory({len(self._messages)} messages, {where})"


def _parse(payload: object) -> Iterable[Message]:
    if not isinstance(payload, dict) or payload.get("version") != _FORMAT_VERSION:
        raise ValueError(f"expected a day6 memory file (version {_FORMAT_VERSION})")
    items = payload["messages"]
    if not isinstance(items, list):
        raise ValueError("'messages' must be a list")
    for item in items:
        role, content = item["role"], item["content"]
        if role not in _ROLES or not isinstance(content, str):
            raise ValueError(f"bad message entry with role {role!r}")
        yield Message(role, content)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash at any instant leaves the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the replace is still atomic
    finally:
        os.close(dfd)


def _move_aside(path: Path) -> Path:
    n = 1
    while True:
        aside = path.with_name(f"{path.name}.corrupt-{n}")
        if not aside.exists():
            os.replace(path, aside)
            return aside
        n += 1
