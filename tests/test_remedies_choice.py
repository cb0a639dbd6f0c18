"""The mid-run prior's choice in benchmarks/remedies.py: judged on the selection seeds only, reported on the
others, on made-up runs with literal numbers (no model is trained)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from remedies import ROWS, choose_penalize, penalize_key, penalize_section, table  # noqa: E402


def run(scenario: str, row: str, seed: int, flip: float, clean: float, shifted: float = 0.5) -> dict:
    return {"scenario": scenario, "row": row, "seed": seed, "model": "tiny", "flip_rate": flip,
            "clean_accuracy": clean, "shifted_accuracy": shifted, "share": 0.1, "step_seconds": 0.02}


SHARE, GRAD = "self-correcting share w=1000", "self-correcting input_gradient w=10"
RUNS = [run("decoy", "none", 2, 0.9, 0.64, 0.05), run("decoy", SHARE, 2, 0.19, 0.63),
        run("decoy", GRAD, 2, 0.0, 0.50),                        # flip 0 by collapse: clean fell 14 points
        run("name", "none", 2, 0.7, 0.60, 0.2), run("name", SHARE, 2, 0.3, 0.61), run("name", GRAD, 2, 0.1, 0.59),
        run("decoy", "none", 3, 0.8, 0.62, 0.1), run("decoy", SHARE, 3, 0.4, 0.60, 0.45),
        run("decoy", GRAD, 3, 0.05, 0.62, 0.9)]                  # seed 3 would choose otherwise: it must not count


def test_a_collapse_to_one_class_is_not_a_correction():
    # decoy: share within 2 points (0.63 vs 0.64) and flip <= 0.2; the gradient row's flip 0 came with clean 0.50
    assert penalize_key(SHARE, RUNS[:6])[0] == -1
    assert penalize_key(GRAD, RUNS[:6])[0] == -1            # name only: 0.1 flip, clean 0.59 vs 0.60
    assert penalize_key(SHARE, RUNS[:6])[1:] == (-0.5, -0.62)


def test_the_choice_reads_the_selection_seeds_and_the_section_reports_the_others():
    assert choose_penalize(RUNS, (2,)) == [SHARE, GRAD]     # tie on corrected and shifted; clean 0.62 > 0.545
    assert choose_penalize(RUNS, (3,)) == [GRAD, SHARE]
    section = penalize_section(RUNS, (2,))
    assert section.startswith(f"Chosen on seeds 2, best first: {SHARE} (1 corrected), {GRAD} (1 corrected).")
    assert f"| tiny | decoy | {SHARE} | 1 | 45.0 | 60.0 | 0.80 -> 0.40 |" in section
    assert GRAD not in section.split("other seeds:")[1] and "| 2 |" not in section
    assert penalize_section([r for r in RUNS if r["row"] == "none"], (2,)) == ""


def test_a_row_is_compared_with_the_no_remedy_run_of_its_own_fine_tune():
    # the same seed fine-tuned for 2 and for 3 epochs in one file: each prior row reads its own setting's plain run
    short, long = ({**r, "model": "minilm", "epochs": e} for r, e in ((run("decoy", "none", 0, 1.0, 0.68), 2),
                                                                      (run("decoy", "none", 0, 0.5, 0.77), 3)))
    prior = [{**run("decoy", "prior", 0, 0.1, 0.70), "model": "minilm", "epochs": 2, "step_seconds": 0.04},
             {**run("decoy", "prior", 0, 0.0, 0.74), "model": "minilm", "epochs": 3, "step_seconds": 0.06}]
    lines = table([short, prior[0], long, prior[1]]).splitlines()
    assert "| minilm, 2 epochs | decoy | prior | 1 | 50.0 | 70.0 | 1.00 -> 0.10 | 0.10 | 2.0x |" in lines[3]
    assert "| minilm, 3 epochs | decoy | prior | 1 | 50.0 | 74.0 | 0.50 -> 0.00 | 0.10 | 3.0x |" in lines[5]
    assert penalize_key("prior", [short, long, *prior])[0] == -1  # 3 epochs: clean 0.74 is 3 points under 0.77


def test_every_row_can_be_named_on_the_command_line():
    # --rows splits on commas: a row whose name holds one could never be run by name
    assert [row for row in ROWS if "," in row] == []
