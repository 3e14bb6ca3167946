from __future__ import annotations

import re
from pathlib import Path

import pytest

from grounding.data.annotations import AnnotationError
from grounding.data.hmdb import ActionClip, read_hmdb51_split


def make(root: Path, splits: dict[str, str], videos: dict[str, list[str]]) -> tuple[Path, Path]:
    """Synthetic-dataset layout: ``actions/<class>/<clip>`` + ``actions/splits/``."""
    video_root = root / "actions"
    split_dir = video_root / "splits"
    split_dir.mkdir(parents=True)
    for cls, names in videos.items():
        (video_root / cls).mkdir()
        for name in names:
            (video_root / cls / name).write_bytes(b"")
    for cls, text in splits.items():
        (split_dir / f"{cls}_test_split1.txt").write_text(text)
    return video_root, split_dir


def test_reads_split_with_sorted_labels(tmp_path):
    # Real HMDB51 lines end with a space.
    video_root, split_dir = make(
        tmp_path,
        {
            "shoot_ball": "a.mp4 1 \nb.mp4 2 \nc.mp4 0 \n",
            "dribble": "d.mp4 2 \ne.mp4 1 \n",
        },
        {"shoot_ball": ["a.mp4", "b.mp4", "c.mp4"], "dribble": ["d.mp4", "e.mp4"]},
    )
    (video_root / ".cache").mkdir()
    s = read_hmdb51_split(video_root, split_dir, split=1)
    assert s.classes == ["dribble", "shoot_ball"]
    assert s.train == [
        ActionClip(video_root / "dribble" / "e.mp4", 0, "dribble", "train"),
        ActionClip(video_root / "shoot_ball" / "a.mp4", 1, "shoot_ball", "train"),
    ]
    assert [(c.path.name, c.label) for c in s.test] == [("d.mp4", 0), ("b.mp4", 1)]
    assert s.n_unused == 1 and not s.log.skipped


def test_missing_video_is_counted(tmp_path):
    video_root, split_dir = make(tmp_path, {"run": "a.avi 1\nb.avi 2\n"}, {"run": ["a.avi"]})
    s = read_hmdb51_split(video_root, split_dir)
    assert [c.path.name for c in s.train] == ["a.avi"] and s.test == []
    assert s.log.skipped == {"missing video": 1}
    assert s.log.examples["missing video"] == [f"{split_dir / 'run_test_split1.txt'}:2"]


def test_all_videos_missing_is_an_error(tmp_path):
    video_root, split_dir = make(tmp_path, {"run": "a.avi 1\n"}, {"run": []})
    with pytest.raises(FileNotFoundError, match="none of the 1 videos"):
        read_hmdb51_split(video_root, split_dir)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("b.avi 3", "expected '<video file> <0|1|2>'"),
        ("b.avi", "expected '<video file> <0|1|2>'"),
        ("b.avi 1 extra", "expected '<video file> <0|1|2>'"),
        ("../x/b.avi 1", "video name must be a file name"),
        ("a.avi 2", "duplicate video a.avi (first on line 1)"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, fragment):
    video_root, split_dir = make(tmp_path, {"run": f"a.avi 1\n{line}\n"}, {"run": ["a.avi"]})
    with pytest.raises(AnnotationError, match=re.escape(fragment)) as e:
        read_hmdb51_split(video_root, split_dir)
    assert str(e.value).startswith(f"{split_dir / 'run_test_split1.txt'}:2: ")


def test_missing_split_file(tmp_path):
    video_root, split_dir = make(tmp_path, {"run": "a.avi 1\n"}, {"run": ["a.avi"], "jump": []})
    with pytest.raises(FileNotFoundError, match=re.escape("jump_test_split1.txt")):
        read_hmdb51_split(video_root, split_dir)
    with pytest.raises(FileNotFoundError, match="missing split file"):
        read_hmdb51_split(video_root, split_dir, split=2)


def test_orphan_split_file(tmp_path):
    video_root, split_dir = make(tmp_path, {"run": "a.avi 1\n", "swim": "x.avi 1\n"}, {"run": []})
    (video_root / "run" / "a.avi").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=re.escape("without a folder") + ".*swim"):
        read_hmdb51_split(video_root, split_dir)


def test_missing_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="video root not found"):
        read_hmdb51_split(tmp_path / "nope", tmp_path)
    (tmp_path / "v").mkdir()
    with pytest.raises(FileNotFoundError, match="split folder not found"):
        read_hmdb51_split(tmp_path / "v", tmp_path / "splits")
    with pytest.raises(FileNotFoundError, match="no class folders"):
        read_hmdb51_split(tmp_path / "v", tmp_path / "v")
