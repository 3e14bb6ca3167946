"""The bench on the real Charades-STA / ActivityNet annotation files (skips without them)."""

import json

from grounding.bench import main


def test_bench_real_charades_and_activitynet(real_data, tmp_path, capsys):
    for dataset, split, n in (("charades", "test", 3720), ("activitynet", "val_2", 17031)):
        rc = main(
            [
                "--dataset",
                dataset,
                "--data-root",
                str(real_data),
                "--seeds",
                "1",
                "--out",
                str(tmp_path),
            ]
        )
        assert rc == 0
        doc = json.loads((tmp_path / dataset / f"{split}.json").read_text())
        assert doc["n_queries"] == n and doc["split"] == split
        whole = doc["grounding"]["whole-video"]["mean"]
        prior = doc["grounding"]["prior-only"]["mean"]
        assert 0 < prior["R1@0.5"] < 40 and 0 <= whole["R1@0.7"] < 20
        assert prior["R5@0.5"] >= prior["R1@0.5"]
    assert "prior-only" in capsys.readouterr().out
