from __future__ import annotations

import re
from pathlib import Path

import pytest

from grounding.data.annotations import AnnotationError
from grounding.data.charades import clip_window, read_charades_durations, read_charades_sta

# Excerpts of the real files (header and rows shortened).
CSV = """id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length
3MSZA,ABCD,Kitchen,5,6,Yes,"A person, then
another line",light,"x;y",c001 1.0 2.0,30.96
AMT7R,EFGH,Bedroom,6,7,Yes,script,picture,desc,,30.08
"""
STA = """3MSZA 24.3 30.4##person turn a light on.
3MSZA 24.3 30.4##person turn a light on.
AMT7R 4.3 32.5##a person is putting a picture onto the wall.
"""


def write(tmp_path: Path, sta: str, csv: str = CSV) -> tuple[Path, Path]:
    ann = tmp_path / "charades_sta_test.txt"
    ann.write_text(sta)
    dur = tmp_path / "Charades_v1_test.csv"
    dur.write_text(csv)
    return ann, dur


def test_reads_queries_clips_and_keeps_duplicates(tmp_path):
    ann, dur = write(tmp_path, STA)
    qs = read_charades_sta(ann, dur, split="test")
    assert qs.dataset == "charades" and qs.split == "test"
    assert [q.qid for q in qs.queries] == ["0", "1", "2"]
    q0 = qs.queries[0]
    assert (q0.vid, q0.sentence, q0.windows, q0.duration) == (
        "3MSZA",
        "person turn a light on.",
        ((24.3, 30.4),),
        30.96,
    )
    assert qs.queries[2].windows == ((4.3, 30.08),)
    assert qs.log.repaired["end past video"] == 1
    assert qs.log.examples["end past video"] == [f"{ann}:3"]
    assert qs.log.n_skipped == 0
    assert qs.vids == ["3MSZA", "AMT7R"]


def test_qid_is_line_index_when_lines_are_skipped(tmp_path):
    sta = "AMT7R 5 4##backwards\nAMT7R 1 2##fine\n"
    ann, dur = write(tmp_path, sta)
    qs = read_charades_sta(ann, dur, split="train")
    assert [q.qid for q in qs.queries] == ["1"]
    assert qs.log.skipped["start >= end"] == 1
    assert qs.log.examples["start >= end"] == [f"{ann}:1"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("AMT7R 3 3##zero length", "start >= end"),
        ("AMT7R 40 50##starts after the end", "starts after video end"),
        ("AMT7R -1 2##negative start", "negative time"),
        ("XXXXX 1 2##unknown video", "unknown video id"),
        ("AMT7R 1 2##   ", "empty sentence"),
        ("AMT7R 1 2##", "empty sentence"),
        ("   ", "blank line"),
    ],
)
def test_unusable_lines_are_counted(tmp_path, line, reason):
    ann, dur = write(tmp_path, f"AMT7R 1 2##ok\n{line}\n")
    qs = read_charades_sta(ann, dur, split="test")
    assert len(qs) == 1
    assert qs.log.skipped == {reason: 1}
    assert qs.log.examples[reason] == [f"{ann}:2"]


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("AMT7R 1 2 person sits", "missing '##'"),
        ("AMT7R 1##one time", "expected 'VID START END##sentence'"),
        ("AMT7R 1 2 3##four fields", "expected 'VID START END##sentence'"),
        ("AMT7R one 2##text", "start is not a number"),
        ("AMT7R 1 nan##text", "end is not finite"),
        ("AMT7R 1 inf##text", "end is not finite"),
    ],
)
def test_malformed_lines_raise_with_file_and_line(tmp_path, line, fragment):
    ann, dur = write(tmp_path, f"AMT7R 1 2##ok\n{line}\n")
    with pytest.raises(AnnotationError, match=fragment) as e:
        read_charades_sta(ann, dur, split="test")
    assert str(e.value).startswith(f"{ann}:2: ")


def test_crlf_and_hash_in_sentence(tmp_path):
    ann, dur = write(tmp_path, "AMT7R 1 2##a ## b\r\n")
    qs = read_charades_sta(ann, dur, split="test")
    assert qs.queries[0].sentence == "a ## b"


def test_several_duration_csvs(tmp_path):
    ann, dur = write(tmp_path, "AMT7R 1 2##a\nZZZZZ 1 2##b\n")
    other = tmp_path / "Charades_v1_train.csv"
    other.write_text("length,id\n10.5,ZZZZZ\n")
    qs = read_charades_sta(ann, [dur, other], split="test")
    assert [q.duration for q in qs.queries] == [30.08, 10.5]
    assert str(other) in qs.source


def test_csv_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "Charades_v1_x.csv"
    bad.write_text("id,duration\nAAAAA,3\n")
    with pytest.raises(AnnotationError, match="missing column 'length'"):
        read_charades_durations(bad)
    bad.write_text("id,length\nAAAAA,3\nBBBBB,abc\n")
    with pytest.raises(AnnotationError, match=re.escape(f"{bad}:3: length is not a number")):
        read_charades_durations(bad)
    bad.write_text("id,length\nAAAAA,0\n")
    with pytest.raises(AnnotationError, match=re.escape(f"{bad}:2: length must be > 0")):
        read_charades_durations(bad)
    other = tmp_path / "Charades_v1_y.csv"
    other.write_text("id,length\nAAAAA,4\n")
    bad.write_text("id,length\nAAAAA,3\n")
    with pytest.raises(AnnotationError, match=re.escape("has length 4.0 here but 3.0")):
        read_charades_durations([bad, other])


def test_missing_and_unreadable_files(tmp_path):
    ann, dur = write(tmp_path, STA)
    with pytest.raises(FileNotFoundError, match=re.escape("charades_sta_train.txt")):
        read_charades_sta(tmp_path / "charades_sta_train.txt", dur, split="train")
    with pytest.raises(FileNotFoundError, match=re.escape("Charades_v1_train.csv")):
        read_charades_sta(ann, tmp_path / "Charades_v1_train.csv", split="test")
    with pytest.raises(IsADirectoryError):
        read_charades_sta(tmp_path, dur, split="test")
    ann.write_bytes(b"AMT7R 1 2##caf\xe9\n")
    with pytest.raises(AnnotationError, match="not UTF-8"):
        read_charades_sta(ann, dur, split="test")


def test_clip_window_rules():
    assert clip_window(1.0, 2.0, 5.0) == ((1.0, 2.0), None)
    assert clip_window(1.0, 6.0, 5.0) == ((1.0, 5.0), "end past video")
    assert clip_window(0.0, 5.0, 5.0) == ((0.0, 5.0), None)
    assert clip_window(2.0, 1.0, 5.0) == (None, "start >= end")
    assert clip_window(5.0, 6.0, 5.0) == (None, "starts after video end")
    assert clip_window(-0.5, 1.0, 5.0) == (None, "negative time")


def test_non_utf8_files_name_the_file_and_line(tmp_path):
    ann, dur = write(tmp_path, STA)
    dur.write_bytes(CSV.encode() + b"ZZZZZ,x,caf\xa5,5,6,Yes,s,o,d,,12.0\n")
    with pytest.raises(AnnotationError, match=re.escape(f"{dur}:5: not UTF-8 text (byte 0xa5")):
        read_charades_sta(ann, dur, split="test")
    dur.write_text(CSV)
    ann.write_bytes(b"AMT7R 1 2##ok\nAMT7R 1 2##caf\xe9\n")
    with pytest.raises(AnnotationError, match=re.escape(f"{ann}:2: not UTF-8 text (byte 0xe9")):
        read_charades_sta(ann, dur, split="test")


def test_nul_byte_in_csv_and_bom(tmp_path):
    _, dur = write(tmp_path, STA)
    dur.write_bytes(b"id,length\nAMT7R,3\x00\n")
    with pytest.raises(AnnotationError, match=re.escape(f"{dur}:")):
        read_charades_durations(dur)
    dur.write_bytes(b"\xef\xbb\xbfid,length\nAMT7R,30.08\n")
    assert read_charades_durations(dur) == {"AMT7R": 30.08}
