"""Durable conversation memory: atomic, private, bounded, and honest about corruption."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from day6.errors import ConfigError
from day6.memory import ConversationMemory, Message


def test_turns_persist_across_instances(tmp_path: Path) -> None:
    """A recorded turn is on disk and a new memory object reads it back."""
    path = tmp_path / "chat.json"
    mem = ConversationMemory(path)
    mem.record_turn("hello", "hi there")
    again = ConversationMemory(path)
    assert again.messages == (Message("user", "hello"), Message("assistant", "hi there"))


def test_file_is_private(tmp_path: Path) -> None:
    """The memory file is created with mode 0600."""
    path = tmp_path / "chat.json"
    ConversationMemory(path).record_turn("q", "a")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_history_is_bounded_by_whole_turns(tmp_path: Path) -> None:
    """Old turns are dropped in pairs; history never starts with an orphaned answer."""
    mem = ConversationMemory(tmp_path / "m.json", max_messages=4)
    for i in range(5):
        mem.record_turn(f"q{i}", f"a{i}")
    assert [m.content for m in mem.messages] == ["q3", "a3", "q4", "a4"]
    assert mem.messages[0].role == "user"


def test_corrupt_file_is_moved_aside_not_overwritten(tmp_path: Path) -> None:
    """A corrupt file is renamed with a warning, and its bytes survive."""
    path = tmp_path / "chat.json"
    path.write_text("{not json")
    mem = ConversationMemory(path)
    assert mem.messages == ()
    aside = tmp_path / "chat.json.corrupt-1"
    assert aside.read_text() == "{not json"
    assert mem.warnings
    assert "corrupt" in mem.warnings[0]
    mem.record_turn("q", "a")
    assert json.loads(path.read_text())["messages"][0]["content"] == "q"


def test_wrong_shape_counts_as_corrupt(tmp_path: Path) -> None:
    """Valid JSON of the wrong shape is treated as corrupt too."""
    path = tmp_path / "chat.json"
    path.write_text(json.dumps({"version": 1, "messages": [{"role": "hacker", "content": "x"}]}))
    mem = ConversationMemory(path)
    assert mem.messages == ()
    assert (tmp_path / "chat.json.corrupt-1").exists()


def test_unreadable_file_is_left_alone(tmp_path: Path) -> None:
    """A path that cannot be read (a directory here) is not overwritten; memory stays in-process."""
    path = tmp_path / "chat.json"
    path.mkdir()
    mem = ConversationMemory(path)
    mem.record_turn("q", "a")
    assert path.is_dir()
    assert mem.path is None
    assert len(mem) == 2
    assert mem.warnings


def test_a_failed_save_keeps_the_history_warns_once_and_catches_up(tmp_path: Path) -> None:
    """A save that fails (the folder became a file) keeps the turns in memory, warns once, and the
    next good save writes everything; it never raises."""
    folder = tmp_path / "gone"
    path = folder / "chat.json"
    mem = ConversationMemory(path)
    folder.write_text("not a folder")
    mem.record_turn("q1", "a1")
    mem.record_turn("q2", "a2")
    assert len(mem) == 4
    assert mem.save_error is not None
    assert str(path) in mem.save_error
    assert len(mem.warnings) == 1
    folder.unlink()
    mem.record_turn("q3", "a3")
    assert mem.save_error is None
    assert [m.content for m in ConversationMemory(path).messages] == ["q1", "a1", "q2", "a2", "q3", "a3"]


def test_context_last_n_for_prompt_fallback() -> None:
    """context(last=n) keeps only the most recent messages."""
    mem = ConversationMemory()
    mem.record_turn("q1", "a1")
    mem.record_turn("q2", "a2")
    assert mem.context(last=2) == [{"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]
    assert mem.context(last=0) == []


@pytest.mark.parametrize("bad", [0, 1, -3, 2.5, True, "10"])
def test_invalid_max_messages(bad: object) -> None:
    """max_messages must be an integer >= 2, and the error says so."""
    with pytest.raises(ConfigError, match="max_messages"):
        ConversationMemory(max_messages=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("kill_at", ["write", "fsync", "replace"])
def test_write_killed_midway_keeps_last_good_state(tmp_path: Path, kill_at: str) -> None:
    """A process killed in the middle of a save leaves the previous complete file."""
    path = tmp_path / "chat.json"
    ConversationMemory(path).record_turn("first", "good")
    before = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import os, io
        from day6.memory import ConversationMemory
        mem = ConversationMemory({str(path)!r})
        kill_at = {kill_at!r}
        if kill_at == "write":
            real_fdopen = os.fdopen
            class Half(io.RawIOBase):
                def __init__(self, fd):
                    self.fh = real_fdopen(fd, "wb")
                def write(self, data):
                    self.fh.write(data[: len(data) // 2]); self.fh.flush(); os._exit(9)
            os.fdopen = lambda fd, mode: Half(fd)
        elif kill_at == "fsync":
            os.fsync = lambda fd: os._exit(9)
        else:
            os.replace = lambda a, b: os._exit(9)
        mem.record_turn("second", "never saved")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert path.read_bytes() == before
    assert [m.content for m in ConversationMemory(path).messages] == ["first", "good"]
    # Leftover temp files are dot-files that a later load ignores.
    assert all(p.name.startswith(".chat.json.") for p in tmp_path.iterdir() if p != path)


def test_corrupt_file_that_cannot_be_moved_is_left_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the corrupt file cannot be moved aside, it is neither moved nor overwritten."""
    import day6.memory as memory_module

    def refuse(path: Path) -> Path:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(memory_module, "_move_aside", refuse)
    path = tmp_path / "chat.json"
    path.write_text("{not json")
    mem = ConversationMemory(path)
    mem.record_turn("q", "a")
    assert path.read_text() == "{not json"
    assert mem.path is None
    assert len(mem) == 2
    assert "could not be moved aside" in mem.warnings[0]
