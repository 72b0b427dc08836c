"""experiments.cli.settings: method settings as options (and the old environment variables), one
line per mistake."""

from __future__ import annotations

import pytest

from experiments.core import errors
from tests.cli.conftest import cli


@pytest.mark.parametrize("variable, value, says", [
    ("FER_CNN_EPOCHS", "ten", "FER_CNN_EPOCHS='ten': expected a positive whole number"),
    ("FER_CNN_EPOCHS", "0", "FER_CNN_EPOCHS='0': expected a positive whole number"),
    ("FER_CNN_MINUTES", "-5", "FER_CNN_MINUTES='-5': expected a positive number"),
    ("FER_CNN_MINUTES", "inf", "FER_CNN_MINUTES='inf': expected a positive number"),
    ("FER_CNN_EPOCHS", " 1 ", "FER_CNN_EPOCHS=' 1 ': expected a positive whole number"),
    ("FER_CNN_BALANCE", "undersample", "FER_CNN_BALANCE='undersample': expected one of none"),
])
def test_bad_cnn_environment_is_one_line(variable, value, says, world, monkeypatch, capsys):
    monkeypatch.setenv(variable, value)
    status = cli(["run", "thesis_tiny", "--data", str(world.csv), "--results", str(world.root / "x")])
    err = capsys.readouterr().err
    assert status == errors.USAGE and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and says in err
    assert not (world.root / "x").exists()


@pytest.mark.parametrize("options, says", [
    (["--epochs", "ten"], "error: --epochs='ten': expected a positive whole number"),
    (["--balance", "undersample"], "error: --balance='undersample': expected one of none"),
    (["--fusion-cnn", "nope"], "error: --fusion-cnn='nope': not a cnn method"),
    (["--epochs", "3", "--minutes", "2"],
     "error: --epochs, --minutes: method hog-tree takes no such setting (its settings: none)"),
])
def test_a_bad_setting_option_is_one_line(options, says, world, capsys):
    method = "late_fusion" if "--fusion-cnn" in options else "thesis_tiny" if "--balance" in options \
        else "hog-tree" if "3" in options else "thesis_tiny"
    status = cli(["run", method, "--data", str(world.csv), "--results", str(world.root / "x"), *options])
    err = capsys.readouterr().err
    assert status == errors.USAGE and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith(says)
    assert not (world.root / "x").exists()


def test_an_option_wins_over_its_old_environment_variable(monkeypatch):
    from experiments.cli.parser import build_parser
    from experiments.cli.settings import method_overrides

    monkeypatch.setenv("FER_CNN_EPOCHS", "7")
    monkeypatch.setenv("FER_CNN_BALANCE", "none")
    args = build_parser().parse_args(["run", "thesis_tiny", "--epochs", "2"])
    assert method_overrides("thesis_tiny", args) == {"epochs": 2, "balance": "none"}
    # a method that takes none of them ignores the variables, as it always did
    assert method_overrides("hog-tree", build_parser().parse_args(["run", "hog-tree"])) == {}




def test_a_misspelt_fusion_component_is_one_line_naming_the_variable(world, monkeypatch, capsys):
    monkeypatch.setenv("FER_FUSION_CNN", "nope")
    status = cli(["run", "late_fusion", "--data", str(world.csv), "--results", str(world.root / "f")])
    err = capsys.readouterr().err
    assert status == errors.USAGE and "Traceback" not in err
    assert err.strip() == "error: environment variable FER_FUSION_CNN='nope': not a cnn method " \
                          "(see `python -m experiments methods`), nor 'best'"


def test_a_grid_refuses_threads_rather_than_ignoring_them(world, capsys):
    status = cli(["grid", "majority", "--threads", "2", "--cluster", "tcp://127.0.0.1:1",
                  "--data", str(world.csv), "--results", str(world.root / "g")])
    err = capsys.readouterr().err
    assert status == errors.USAGE and "Traceback" not in err
    assert err.strip() == ("error: --threads: a grid's run uses the cores its worker gives it; "
                           "start the workers with --nthreads instead")
