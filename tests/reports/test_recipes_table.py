"""The recipe table (``results/recipes.md``): every source network traced, setting by setting."""

from __future__ import annotations

from cnn.recipe_sources import BUILDER_SETTINGS, HERE, SETTINGS, SOURCES
from cnn.recipes import ARCHITECTURES
from experiments.reports.recipes import OURS, cell, recipes_markdown, source_networks

SOURCE_NAMES = [info.name for info in source_networks()]


def test_source_networks_are_the_non_ours() -> None:
    assert SOURCE_NAMES == [name for name, info in ARCHITECTURES.items() if info.source != OURS]
    assert {"thesis_tiny", "mini_xception", "mini_xception_64"} <= set(SOURCE_NAMES)
    assert not any(name.startswith(("best_small", "hybrid")) for name in SOURCE_NAMES)


def test_every_source_network_has_all_ten_settings() -> None:
    assert len(SETTINGS) == 10
    assert set(SOURCES) == set(SOURCE_NAMES)
    for name in SOURCE_NAMES:
        assert tuple(SOURCES[name]) == SETTINGS, name
        assert set(HERE[name]) == set(BUILDER_SETTINGS), name


def test_values_are_filled_and_every_gap_says_its_choice() -> None:
    for name, settings in SOURCES.items():
        for setting, value in {**settings, **HERE[name]}.items():
            assert value.strip(), (name, setting)
            if value.startswith("not stated"):
                assert "chose" in value, (name, setting)


def test_markdown_has_a_section_per_network_and_a_row_per_setting() -> None:
    text = recipes_markdown()
    assert text.startswith("# Training recipes of the source networks\n")
    assert "`make table`" in text and "cnn/recipe_sources.py" in text
    sections = text.split("\n## ")[1:]
    assert [section.splitlines()[0] for section in sections] == SOURCE_NAMES
    for section in sections:
        rows = [line for line in section.splitlines() if line.startswith("| ")]
        assert rows[0] == "| Setting | Here | Source says |"
        assert [row.split(" | ")[0][2:] for row in rows[1:]] == list(SETTINGS)
        for row in rows[1:]:  # three cells each: no unescaped pipe inside
            assert row.replace("\\|", "").count("|") == 4, row


def test_mini_xception_rate_row_shows_the_plateau() -> None:
    section = recipes_markdown().split("\n## mini_xception\n")[1].split("\n## ")[0]
    row = next(line for line in section.splitlines() if line.startswith("| learning rate and schedule |"))
    here = row.split(" | ")[1]
    assert "0.1" in here and "12" in here


def test_cells_escape_pipes_and_join_lines() -> None:
    assert cell("a | b\nc") == "a \\| b c"


def _row(network: str, setting: str) -> tuple[str, str]:
    """``(Here, Source says)`` of one setting of ``network``'s section."""
    section = recipes_markdown().split(f"\n## {network}\n")[1].split("\n## ")[0]
    row = next(line for line in section.splitlines() if line.startswith(f"| {setting} |"))
    return row.split(" | ")[1], row.split(" | ")[2]


def test_corrected_readings_of_the_sources_are_in_the_table() -> None:
    # the Nizhny Novgorod article normalises the data set, with Training's statistics
    for network in ("nn_model1", "nn_model2"):
        here, source = _row(network, "input scaling")
        assert "all Training pixels" in here and "each image" not in here
        assert "Training only" in source and "here each image" not in source
    # the thesis' Disgust copies: rotation, shift and zoom, its three descriptions quoted
    here, source = _row("thesis_tiny", "class balancing")
    assert "rotation 10 degrees, shift 0.1, zoom 0.1" in here
    assert source.count("масштабирования") == 2 and "смещения углов" in source
    # the Ukrainian article's (C): Gudi's two conv layers and an added conv layer, no added pool
    here, source = _row("ua_c", "layers")
    assert "stride 2 (the added layer)" in here and here.count("pool") == 1
    assert "два згорткових шари" in source and "проміжний згортковий шар" in source
    # the Bauman network: dropout after the conv part, where the article names it
    for network in ("bauman_4conv", "bauman_4conv_112"):
        here, _ = _row(network, "dropout")
        assert here.startswith("0.5 after the last pool, before Flatten")
