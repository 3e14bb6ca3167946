import json

import pytest

from grounding.io import (
    atomic_path,
    atomic_write,
    check_input_dir,
    check_input_file,
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
