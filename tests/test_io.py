import json
import os
import stat
from pathlib import Path

import pytest

from grounding.io import (
    atomic_path,
    atomic_write,
    check_input_dir,
    check_input_file,
    read_json,
    remove_stale_temps,
    temp_target,
    write_json_atomic,
)


def test_atomic_write_replaces_only_on_success(tmp_path):
    p = tmp_path / "out.json"
    write_json_atomic(p, {"a": 1})
    with pytest.raises(RuntimeError), atomic_write(p) as f:
        f.write("half")
        raise RuntimeError("crash")
    assert json.loads(p.read_text()) == {"a": 1}
    assert [x.name for x in tmp_path.iterdir()] == ["out.json"]


def test_atomic_path_keeps_suffix(tmp_path):
    target = tmp_path / "x.npz"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".npz" and tmp.parent == tmp_path
        tmp.write_bytes(b"1")
    assert target.read_bytes() == b"1"


def test_checked_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        check_input_file(tmp_path / "missing")
    with pytest.raises(IsADirectoryError):
        check_input_file(tmp_path)
    with pytest.raises(NotADirectoryError):
        (tmp_path / "f").write_text("")
        check_input_dir(tmp_path / "f")
    assert check_input_dir(tmp_path) == tmp_path


def test_write_json_rejects_nan(tmp_path):
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "n.json", {"x": float("nan")})
    assert not (tmp_path / "n.json").exists()


def test_written_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "a.json", {"a": 1})
        with atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"x")
        os.umask(0o077)
        write_json_atomic(tmp_path / "c.json", {"c": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "c.json").stat().st_mode) == 0o600


def test_file_and_directory_are_fsynced(tmp_path, monkeypatch):
    synced: list[str] = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    write_json_atomic(tmp_path / "a.json", {"a": 1})
    assert synced[-1] == str(tmp_path) and any(".a.json." in s for s in synced[:-1])
    synced.clear()
    with atomic_path(tmp_path / "b.pt") as tmp:
        tmp.write_bytes(b"x")
    assert synced[-1] == str(tmp_path) and any(".b." in s for s in synced[:-1])


def test_temp_target_recognises_only_our_temporary_names(tmp_path):
    with atomic_write(tmp_path / "metrics.json") as f:
        wrote = Path(f.name).name
    assert temp_target(wrote) == "metrics.json"
    with atomic_path(tmp_path / "checkpoint.pt") as tmp:
        assert temp_target(tmp.name) == "checkpoint.pt"
        tmp.write_bytes(b"x")
    assert temp_target(".ck.ab_d1234.tmp.pt") == "ck.pt"
    for name in (".bashrc.tmpl", ".x.tmp", ".x.abcdefgh.tmpl", "x.abcdefgh.tmp", ".x.ABCDEFGH.tmp"):
        assert temp_target(name) is None, name


def test_remove_stale_temps_removes_only_temps_of_the_targets(tmp_path):
    keep = [".bashrc.tmpl", ".notes.abcdefgh.tmp", "metrics.json", ".metrics.json.tmp"]
    for name in keep:
        (tmp_path / name).write_text("mine")
    stale = [".metrics.json.k2j4_x9a.tmp", ".checkpoint.q1w2e3r4.tmp.pt"]
    for name in stale:
        (tmp_path / name).write_text("half")
    removed = remove_stale_temps(tmp_path, {"metrics.json", "checkpoint.pt"})
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)
    assert all((tmp_path / n).read_text() == "mine" for n in keep)
    assert remove_stale_temps(tmp_path / "missing", {"x"}) == []


def test_read_json_names_the_file(tmp_path):
    good = tmp_path / "good.json"
    good.write_text('{"a": [1]}')
    assert read_json(good) == {"a": [1]}
    cases = {
        "empty.json": (b"", "empty file"),
        "latin1.json": (b'{"a": "\xa5"}', "not UTF-8 text \\(line 1, byte 0xa5"),
        "trunc.json": (b'{"a": [1,', "invalid JSON at line 1 column 10"),
    }
    for name, (data, msg) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=msg) as e:
            read_json(tmp_path / name, "reference")
        assert str(e.value).startswith(f"reference {tmp_path / name}: ")
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        read_json(tmp_path / "missing.json")
