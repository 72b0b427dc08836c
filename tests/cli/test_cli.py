"""The command line: help, data info, run, table, and its errors."""

from __future__ import annotations

import pytest

from experiments.cli import main


def test_help_explains_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for word in ("data", "methods", "run", "table", "Accepted forms"):
        assert word in out


def test_data_info(csv_file, capsys):
    assert main(["data", "info", "--data", str(csv_file)]) == 0
    out = capsys.readouterr().out
    assert "form:     csv" in out and "disgust" in out and "total" in out


def test_run_and_table(csv_file, tmp_path, capsys):
    results = tmp_path / "res"
    assert main(["run", "majority", "--data", str(csv_file), "--results", str(results)]) == 0
    assert main(["table", "--results", str(results)]) == 0
    assert (results / "comparison.md").exists()


def test_errors_exit_2_with_a_message(tmp_path, capsys):
    assert main(["run", "nope"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert main(["data", "info", "--data", str(tmp_path / "missing.zip")]) == 2
    assert "missing.zip: no such file or folder" in capsys.readouterr().err
    assert main(["table", "--results", str(tmp_path)]) == 2
