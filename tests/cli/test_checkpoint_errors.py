"""cnn.checkpoints through the command line: a damaged checkpoint or model is one line with its status."""

from __future__ import annotations

from experiments.cli import main
from experiments.core import errors

# ----------------------------------------------------------------------------- CNN checkpoints, models
from tests.cli.conftest import truncate


def test_damaged_cnn_checkpoints_and_models_are_named(tmp_path, csv_file, world, capsys, monkeypatch):
    """A truncated or binary ``state.json``, a truncated ``epoch-*.keras``, a checkpoint folder in
    use and a damaged ``model.keras``: one line each, with its status, and no run written."""
    from filelock import FileLock

    monkeypatch.setenv("FER_CNN_EPOCHS", "1")
    results = tmp_path / "res"
    run = ["run", "thesis_tiny", "--data", str(csv_file), "--results", str(results)]
    assert main(run) == 0
    (work,) = (tmp_path / "cache" / "cnn").glob("thesis_tiny-seed0-*")
    state, checkpoint = work / "state.json", work / "epoch-0001.keras"
    good_state, good_checkpoint = state.read_bytes(), checkpoint.read_bytes()
    runs_before = sorted((results / "runs" / "thesis_tiny").iterdir())

    def fails(status: int, says: str) -> None:
        capsys.readouterr()
        assert main(run) == status
        err = capsys.readouterr().err
        assert "Traceback" not in err
        (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
        assert says in line
        assert status == errors.BUSY or f"delete {work} to start afresh" in line
        assert sorted((results / "runs" / "thesis_tiny").iterdir()) == runs_before

    state.write_text(good_state.decode()[:40])
    fails(errors.CORRUPT, f"{state}: unreadable checkpoint state")
    state.write_bytes(b"\x00\xff\xfe binary")
    fails(errors.CORRUPT, f"{state}: unreadable checkpoint state")
    state.write_bytes(good_state)
    truncate(checkpoint)
    fails(errors.CORRUPT, f"{checkpoint}: damaged checkpoint")
    checkpoint.write_bytes(good_checkpoint)
    with FileLock(work / ".lock"):  # another process training into the same folder
        fails(errors.BUSY, "is in use by another process")

    (model,) = results.glob("runs/thesis_tiny/*/model/model.keras")
    truncate(model)
    capsys.readouterr()
    assert main(["predict", str(world.photo), "--model", "thesis_tiny", "--results", str(results)]) == \
        errors.CORRUPT
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"error: {model}: cannot load the model" in err
    assert len(err.strip().splitlines()) == 1
