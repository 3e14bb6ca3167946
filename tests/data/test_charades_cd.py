import json

import pytest

from grounding.data.annotations import AnnotationError
from grounding.data.charades_cd import read_activitynet_cd, read_charades_cd


def entry(stamps, sentences, duration=30.0, **extra):
    return {"timestamps": stamps, "sentences": sentences, "video_duration": duration, **extra}


def write(tmp_path, data, name="charades_test_ood.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_reads_queries_with_ids_windows_and_counts(tmp_path):
    data = {
        "AAAAA": entry(
            [[1.0, 5.5], [20.0, 35.0], [4.0, 4.0]],
            ["  person opens a door ", "person sits", "person waves"],
            framestamps=[[16, 88]],
            decode_fps=16.0,
            encoded_sentences=[[1, 2]],
        ),
        "BBBBB": entry([[31.0, 33.0], [0, 2]], ["late", ""], duration=30.0),
    }
    qs = read_charades_cd(write(tmp_path, data), split="test_ood")
    assert (qs.dataset, qs.split) == ("charades-cd", "test_ood")
    assert [q.qid for q in qs.queries] == ["AAAAA#0", "AAAAA#1"]
    assert qs.queries[0].sentence == "person opens a door"
    assert qs.queries[0].windows == ((1.0, 5.5),) and qs.queries[0].duration == 30.0
    assert qs.queries[1].windows == ((20.0, 30.0),)
    assert qs.log.repaired == {"end past video": 1}
    assert qs.log.skipped == {
        "start >= end": 1,
        "starts after video end": 1,
        "empty sentence": 1,
    }
    assert qs.log.examples["start >= end"] == [f"{tmp_path / 'charades_test_ood.json'}:AAAAA#2"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "expected a JSON object"),
        ({"V": [1]}, "V: expected an object"),
        ({"V": {"timestamps": [], "sentences": []}}, "missing key 'video_duration'"),
        (
            {"V": {"timestamps": [], "sentences": [], "duration": 3.0}},
            "an ActivityNet-CD file",
        ),
        ({"V": entry([[1, 2]], ["a"], duration=0)}, "video_duration must be a number > 0"),
        ({"V": entry([[1, 2]], ["a", "b"])}, "1 timestamps but 2 sentences"),
        ({"V": entry([[1, "x"]], ["a"])}, "V#0: timestamp must be"),
        ({"V": entry([[1, 2]], [3])}, "V#0: sentence must be a string"),
    ],
)
def test_structural_errors_name_file_and_video(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(AnnotationError, match=message) as e:
        read_charades_cd(path, split="val")
    assert str(path) in str(e.value)


def test_invalid_json_names_line(tmp_path):
    path = tmp_path / "charades_val.json"
    path.write_text('{"V": {')
    with pytest.raises(AnnotationError, match=r"charades_val\.json:1:\d+: invalid JSON"):
        read_charades_cd(path, split="val")


def test_activitynet_cd_layout(tmp_path):
    data = {"v_a": {"duration": 20.0, "timestamps": [[1, 2], [3, 25]], "sentences": ["a", " b"]}}
    qs = read_activitynet_cd(write(tmp_path, data, "anet_val.json"), split="val")
    assert (qs.dataset, qs.split, len(qs)) == ("activitynet-cd", "val", 2)
    assert qs.log.repaired == {"end past video": 1}
    assert [q.qid for q in qs.queries] == ["v_a#0", "v_a#1"]


def test_activitynet_cd_refuses_a_charades_cd_file(tmp_path):
    path = write(tmp_path, {"V": entry([[1, 2]], ["a"])}, "anet_val.json")
    with pytest.raises(AnnotationError, match="a Charades-CD file") as e:
        read_activitynet_cd(path, split="val")
    assert str(path) in str(e.value)
