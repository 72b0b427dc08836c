"""experiments.reports.report: sentences of the chapter's answer computed from the runs."""

from __future__ import annotations

from experiments.reports.report import previous_components, training_machines


def _run(run_id: str, seed: int, accuracy: float, classical: str, method: str = "late_fusion",
         subset: int | None = None) -> dict:
    return {"method": method, "run_id": run_id, "seed": seed, "dataset": "FER2013",
            "manifest_data": {"per_class_subset": subset},
            "run_key": {"components": {"cnn": "cnn_a", "classical": classical}},
            "splits": {"PrivateTest": {"accuracy": accuracy}}}


def test_a_fusion_is_compared_with_its_previous_components_on_the_seeds_both_have():
    runs = [_run("1-seed0", 0, 0.700, "old"), _run("1-seed1", 1, 0.690, "old"),
            _run("1-seed2", 2, 0.706, "old"), _run("2-seed2", 2, 0.717, "new"),
            _run("3-seed0", 0, 0.10, "new", subset=5),  # a subset run never counts
            _run("1-seed0", 0, 0.99, "new", method="other")]
    sentence = previous_components(runs, "late_fusion")
    assert sentence == ("With its previous components (`cnn_a` + `old`) the same fusion reached, on the "
                        "same seed, seed 2: 70.6%, now 71.7%: +1.1 points with today's.")
    # no previous settings, or no seed in common: nothing to say
    assert previous_components(runs[3:4], "late_fusion") == ""
    assert previous_components([runs[0], runs[3]], "late_fusion") == ""


def test_the_answer_says_the_same_cpu_only_when_every_seed_of_both_ran_on_one():
    cnn = {"method": "cnn_a", "cpu": "Intel Xeon"}
    assert training_machines(cnn, {"method": "svm", "cpu": "Intel Xeon"}) == (
        "on the same 2-core CPU (Intel Xeon)")
    assert training_machines(cnn, {"method": "svm", "cpu": "AMD EPYC; Intel Xeon"}) == (
        "on 2-core machines whose CPUs differ between runs (`cnn_a`: Intel Xeon; "
        "`svm`: AMD EPYC; Intel Xeon)")
    assert training_machines(cnn, {"method": "svm", "cpu": float("nan")}).endswith("`svm`: unknown)")
