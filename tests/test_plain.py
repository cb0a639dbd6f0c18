"""Plain text for a terminal (views/plain.py): tables and paragraphs within a width, wide characters counted."""

from __future__ import annotations

from gradcallback.views.plain import display_width, table, terminal_width, wrap


def test_wide_table_is_cut_into_blocks_that_repeat_the_step():
    header = ["step", "integrated_gradients stability", "attribution on fragmented words", "names where present",
              "random comp@3", "alerts"]
    rows = [[str(s), "0.912", "0.161", "0.720", "-0.001", "still over"] for s in range(3)]
    wide = table(header, rows, 200)
    assert len(wide) == 5 and wide[0].split() == " ".join(header).split()  # it fits: one header line, one block
    for width in (40, 50):  # it needs 59 columns in one block
        lines = table(header, rows, width, left=(5,))
        assert max(map(display_width, lines)) <= width
        blocks = [i for i, line in enumerate(lines) if line.startswith("----")]
        assert len(blocks) >= 2
        assert [line.split()[0] for line in lines if line[:1].strip() == "" and line.strip()[:1].isdigit()] == \
            ["0", "1", "2"] * len(blocks)  # every block holds every step's row, the step first
        words = set(" ".join(lines).split())  # every header is there, wrapped at spaces and after "_"
        assert all(part in words for h in header for part in h.replace("_", "_ ").split())


def test_wide_characters_take_two_columns():
    assert display_width("서울이다") == 8 and display_width("naïve") == 5 and display_width("e\u0301") == 1
    lines = table(["word", "pieces"], [["大韓民國", "大 [UNK] 民 國"], ["café", "café"]], 30, left=(0, 1))
    assert max(map(display_width, lines)) <= 30
    # the pieces column starts at the same screen column in both rows: 大韓民國 is 8 columns wide, not 4
    assert display_width(lines[2][:lines[2].index("大 [UNK]")]) == display_width(lines[3][:lines[3].index("café", 1)])
    assert all(display_width(line) <= 12 for line in wrap("서울이다 " * 10, 12, "  "))


def test_last_column_wraps_and_controls_are_shown():
    rows = [["osinbajo", "16", "os ##in ##ba ##jo " * 4], ["x\x1b[31m", "1", "x"]]
    lines = table(["word", "count", "pieces"], rows, 36, left=(0, 2), wrap_last=True)
    assert max(map(len, lines)) <= 36 and len(lines) > 4 and "\x1b" not in "".join(lines)
    assert "xU+001B[31m" in "".join(lines)  # an escape character cannot drive the terminal
    assert wrap("a" * 50, 20) == ["a" * 20, "a" * 20, "a" * 10]  # a word longer than the line is cut


def test_terminal_width_reads_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "123")
    assert terminal_width() == 123
    monkeypatch.setenv("COLUMNS", "10")
    assert terminal_width() == 40  # narrower than that, wrapping stops helping


def test_wrap_keeps_the_first_lines_indent():
    lines = wrap("  - the alert fired at step 1, the first step over the limit", 24, "    ")
    assert lines == ["  - the alert fired at", "    step 1, the first", "    step over the limit"]
    assert wrap("", 10) == [""]
