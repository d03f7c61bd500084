"""`make demo`'s sample class, graded end to end: each kind of submission gets what it deserves."""
from __future__ import annotations

import csv

import pytest

from autograder.demo import run_demo


@pytest.mark.xdist_group("grading")
def test_demo_grades_the_a1_sample_class(tmp_path, capsys):
    run_demo(tmp_path, jobs=2, assignments=("a1_knn",))
    printed = capsys.readouterr().out
    grades = tmp_path / "a1_knn" / "grades"
    with open(grades / "grades.csv") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    score = {name: float(row["score"]) for name, row in rows.items()}
    full = float(rows["ada_complete"]["max_score"])
    assert score["ada_complete"] == full
    assert score["ben_untouched"] == 0
    assert 0 < score["cat_partial"] < full
    assert 0 < score["dan_buggy"] < full
    assert 0 < score["eve_hostile"] < full  # its attacks earned nothing; its honest part still counts
    assert 0 < score["fay_hangs"] < full
    assert 0 < score["gus_syntax_error"] < score["ada_complete"]
    assert score["hal_corrupt"] == 0 and rows["hal_corrupt"]["status"].startswith("rejected")
    assert "ada_complete" in printed and "grades.csv" in printed
    for student in rows:
        assert (grades / student / "feedback.html").is_file()


@pytest.mark.xdist_group("grading")
def test_demo_grades_the_a2_sample_class(tmp_path):
    run_demo(tmp_path, jobs=2, assignments=("a2_linear",))
    with open(tmp_path / "a2_linear" / "grades" / "grades.csv") as handle:
        score = {row["student"]: float(row["score"]) for row in csv.DictReader(handle)}
    assert score["ada_complete"] == 100 and score["ben_untouched"] == 0
    assert 0 < score["cat_no_reg_gradient"] < 100
    assert score["dan_no_checkpoints"] == 75  # only the trained_models group (25 points) is lost
    assert 75 < score["eve_hostile_checkpoint"] < 100  # its pickle never ran: only that model's test lost


@pytest.mark.xdist_group("grading")
def test_demo_grades_the_a3_sample_class(tmp_path):
    run_demo(tmp_path, jobs=2, assignments=("a3_mlp",))
    with open(tmp_path / "a3_mlp" / "grades" / "grades.csv") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    score = {name: float(row["score"]) for name, row in rows.items()}
    full = float(rows["ada_complete"]["max_score"])
    assert score["ada_complete"] == full and score["ben_untouched"] == 0
    # Adam without bias correction loses its two optimizer tests; a dropout that does not rescale loses
    # the dropout tests and the network-with-dropout test; the hostile student's attacks earn nothing
    # and its pickled fc_best_model.pt never runs: only that checkpoint's test is lost.
    assert full > score["cat_adam_no_bias_correction"] > score["dan_dropout_no_rescale"] > score["eve_hostile"] > 0
    assert score["eve_hostile"] >= 0.9 * full


@pytest.mark.xdist_group("grading")
def test_demo_grades_the_a4_sample_class(tmp_path):
    run_demo(tmp_path, jobs=2, assignments=("a4_cnn",))
    with open(tmp_path / "a4_cnn" / "grades" / "grades.csv") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    score = {name: float(row["score"]) for name, row in rows.items()}
    full = float(rows["ada_complete"]["max_score"])
    assert score["ada_complete"] == full and score["ben_untouched"] == 0
    # The wrong spatial batchnorm also costs the batchnorm conv nets; the convolution through the
    # given FastConv loses the naive convolution group (10 points); the hostile student loses only
    # its pickled checkpoint's test.
    assert full - 20 < score["cat_spatial_batchnorm_wrong_axes"] < full
    assert score["dan_conv_through_fast_layer"] == full - 10
    assert full - 10 < score["eve_hostile"] < full
