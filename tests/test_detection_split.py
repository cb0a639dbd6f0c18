"""The detection benchmark's honest figures: the split by seed, the choice on the selection half only,
and the model-free statistics, on made-up runs with literal numbers (no model, no TensorFlow)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from detection_metrics import Config, choose_default, split_half  # noqa: E402
from detection_stats import beats_random_words  # noqa: E402

METHODS = ("gradient_norm", "gradient_x_input", "integrated_gradients")


def run(scenario: str, seed: int, shares: list[float], flips: list[float], corpus: str = "real") -> dict:
    steps = [{"flip_rate": f, "chance": 0.1, "length": {"gap": 0.0},
              **{m: {"overall": s / 2, "where_present": s, "rank": None, "top": []} for m in METHODS}}
             for s, f in zip(shares, flips)]
    return {"corpus": corpus, "model": "tiny", "scenario": scenario, "seed": seed, "steps": steps}


RUNS = [run("name", 0, [0.0, 0.5, 0.6], [0.0, 0.8, 1.0]),
        run("name", 1, [0.1, 0.25, 0.6], [0.0, 0.8, 1.0]),
        run("name", 2, [0.0, 0.45, 0.5], [0.0, 0.6, 0.9]),
        run("name", 3, [0.1, 0.2, 0.22], [0.0, 0.9, 0.9]),
        run("control_both", 0, [0.15, 0.17, 0.12], [0.0, 0.0, 0.0]),
        run("control_both", 1, [0.1, 0.35, 0.3], [0.0, 0.0, 0.0]),
        run("control_both", 2, [0.15, 0.1, 0.1], [0.0, 0.1, 0.0]),
        run("control_both", 3, [0.1, 0.12, 0.1], [0.0, 0.0, 0.0])]


def test_split_half_alternates_seeds_within_every_corpus_model_and_scenario():
    shuffled = RUNS[::-1] + [run("name", 5, [0.1], [0.0], corpus="synthetic"),
                             run("name", 7, [0.1], [0.0], corpus="synthetic")]
    selection, held_out = split_half(shuffled)

    def key(r: dict) -> tuple:
        return (r["corpus"], r["scenario"], r["seed"])

    assert sorted(map(key, selection)) == [("real", "control_both", 0), ("real", "control_both", 2),
                                           ("real", "name", 0), ("real", "name", 2), ("synthetic", "name", 5)]
    assert sorted(map(key, held_out)) == [("real", "control_both", 1), ("real", "control_both", 3),
                                          ("real", "name", 1), ("real", "name", 3), ("synthetic", "name", 7)]


def test_the_default_is_chosen_on_the_selection_half_and_reported_on_the_other():
    low, high = (Config("integrated_gradients", "where_present", "threshold", level) for level in (0.2, 0.3))
    rise = Config("integrated_gradients", "where_present", "rise", 0.2)
    default, scored, report = choose_default(RUNS, [low, high, rise])
    # Selection half (seeds 0 and 2): all three catch both names at step 1 and never alarm. Margins:
    # > 0.2: 0.2 - 0.17 (control 0, step 1); > 0.3: 0.3 - 0.17; the rise, limits 0.0 + 0.2 for the names
    # and 0.15 + 0.2 for the controls: 0.35 - 0.17. The spread, the names' last values (median 0.55)
    # less the controls' highest from step 1 (median 0.135), is 0.415 for all three: the rise wins.
    assert default == rise and [c for c, _ in scored] == [rise, high, low]
    assert [round(r["margin"], 6) for _, r in scored] == [0.18, 0.13, 0.03]
    assert [r["relative_margin"] for _, r in scored] == pytest.approx([0.18 / 0.415, 0.13 / 0.415, 0.03 / 0.415])
    # Report half (seeds 1 and 3), the limit 0.1 + 0.2 from step 1: name 1 crosses at step 2 (lag 1),
    # name 3 never (0.22); control 1's 0.35 at step 1 is a false alarm; the margin is 0.22 - 0.3.
    assert (report["learned"], report["within_1"], report["detected"], report["max_lag"]) == (2, 0.5, 0.5, 1)
    assert (report["unused"], report["false"]) == (2, 0.5)
    assert report["margin"] == pytest.approx(-0.08)


def test_a_candidate_counts_only_above_random_words_of_the_same_probes():
    flips = [[("ravi", True), ("film", False), ("dull", False)], [("ravi", True), ("the", False), ("good", True)]]
    # Besides ravi, no word of probe 0 flips it and 1 of probe 1's two does: one random word per probe
    # flips 0 or 1 of the 2 (mean 0 or 0.5, 95th percentile 0.5); ravi flips both (1.0 > 0.5): it counts;
    # at 0.5 it would not. film's random others flip 1/2 and 2/3: the 95th percentile is 1.0.
    assert beats_random_words("ravi", [0, 1], 1.0, flips)
    assert not beats_random_words("film", [0, 1], 0.5, flips)
    assert not beats_random_words("ravi", [0, 1], 0.5, flips)


def test_discovery_rules_on_a_made_up_table():
    """discovery_rules.ranked: the z against the pooled null, MIN_PROBES, the kept pairs, literal numbers."""
    from discovery_rules import Rule, _null, _stats, ranked

    # four probes; "cue" drops 0.5 in each, "the" 0.1, "nice" 0.9 in one probe only, the rest 0.0
    units = {"cue": [[i, 0.5, 0.5, i % 2 == 0] for i in range(4)], "the": [[i, 0.2, 0.1, False] for i in range(4)],
             "nice": [[0, 0.3, 0.9, True]], "film": [[i, 0.1, 0.0, False] for i in range(4)],
             "cue the": [[i, 0.7, 0.55, True] for i in range(4)]}
    null = _null(units, "probe")
    # probe 0's words drop 0.5, 0.1, 0.9, 0.0: mean 0.375, variance 0.126875; probes 1-3: 0.5, 0.1, 0.0
    assert null[0] == pytest.approx((0.375, 0.126875)) and null[1] == pytest.approx((0.2, 0.046667), abs=1e-6)
    stats = _stats(units["cue"], null)  # (2.0 - 0.975) / sqrt(0.126875 + 3 x 0.046667)
    assert stats["z"] == pytest.approx(1.025 / (0.126875 + 0.14) ** 0.5) and stats["strong"] == 4
    probe_null = Rule(10, "z", 3, "z", "probe")
    assert ranked(units, 4, probe_null) == []  # z 1.98 < Z_MIN: four probes are too few to tell
    loose = Rule(10, "mean_drop", 1, "fraction")
    # the old rule: "nice" (one probe) first, the pair is no phrase (0.55 < 0.5 + PHRASE_GAIN), "the" never strong
    assert ranked(units, 4, loose) == ["nice", "cue"]
    assert ranked(units, 4, Rule(10, "mean_drop", 2, "fraction")) == ["cue"]


def test_alert_rules_on_a_made_up_table():
    from alert_rules import Rule, alert_step, judge
    from length_rules import length_judge

    def run(scenario, flips, zs, gaps):
        steps = [{"flip_rate": f, "steps_8": {"z": z, "where_present": 0.1, "chance": 0.05, "outrank": 0.5},
                  "length": {"gap": g}} for f, z, g in zip(flips, zs, gaps)]
        return {"corpus": "real", "model": "tiny", "scenario": scenario, "seed": 0, "steps": steps}

    learned = run("name", [0.0, 0.6, 0.7], [0.0, 5.0, 4.5], [0.0, 0.01, 0.02])
    unused = run("control_both", [0.0, 0.05, 0.1], [9.0, 3.0, 4.5], [0.0, 0.0, 0.12])  # z 9 at step 0: not read
    length = run("length", [0.0, 0.9, 0.9], [0.0, 0.0, 0.0], [0.0, 0.3, 0.2])
    twice, once = Rule("z", "level", 4.0, 2, "steps_8"), Rule("z", "level", 4.0, 1, "steps_8")
    assert alert_step(twice, learned) == 2 and alert_step(twice, unused) is None
    assert alert_step(once, learned) == 1 and alert_step(once, unused) == 2
    # learned at step 1, alerted at 2: within one logged step; margin: min(4.5 - 4, 4 - min(3, 4.5)) = 0.5
    r = judge(twice, [learned, unused, length])
    assert (r["within_1"], r["false"], r["learned"], r["unused"]) == (1.0, 0.0, 1, 2) and r["margin"] == 0.5
    r = judge(once, [learned, unused])
    assert r["false"] == 1.0 and r["margin"] == -0.5  # 4 - 4.5: the unused run's step 2
    # the length check: the length run flagged (0.3 > 0.1), the control too (0.12), the name run not
    assert length_judge("gap", 0.1, [learned, unused, length]) == pytest.approx(
        {"flagged": 1, "learned": 1, "false": 1, "others": 2, "margin": -0.02})


def test_masking_rules_read_their_own_record_and_only_where_it_was_recorded():
    from alert_rules import Rule, choose, judge, recorded

    def run(scenario, flips, changes, seed=0, masking=True):
        steps = [{"flip_rate": f, "steps_8": {"z": 0.0, "where_present": 0.1, "chance": 0.05, "outrank": 0.5},
                  "reference": {"z": 0.0, "where_present": 0.1, "chance": 0.05, "outrank": 0.5}}
                 | ({"masking": {"mask_change": c, "mask_z": 10 * c, "mask_flips": c}} if masking else {})
                 for f, c in zip(flips, changes)]
        return {"corpus": "real", "model": "tiny", "scenario": scenario, "seed": seed, "steps": steps}

    learned = run("name", [0.0, 0.6, 0.7], [0.0, 0.3, 0.25])
    unused = run("control_both", [0.0, 0.05, 0.1], [0.0, 0.02, 0.04])
    rule = Rule("mask_change", "level", 0.1, 1, "masking")
    # caught at step 1 (0.3 > 0.1), where it learned; margin: min(0.25 - 0.1, 0.1 - 0.04) = 0.06
    r = judge(rule, [learned, unused])
    assert (r["within_1"], r["false"]) == (1.0, 0.0) and r["margin"] == pytest.approx(0.06)
    old = run("name", [0.0, 0.6, 0.7], [0.0, 0.3, 0.25], masking=False)  # a run from before seed 20
    assert recorded(rule, [learned, unused]) and not recorded(rule, [learned, old])
    assert all(chosen.ig != "masking" for chosen, _ in choose([old]))
    assert any(chosen.ig == "masking" for chosen, _ in choose([learned, unused]))


def test_either_rule_reads_z_or_masking_and_keeps_a_run_whose_attribution_falls_back():
    from alert_rules import Rule, candidate, judge, recorded

    def run(scenario, flips, zs, mask_zs, masking=True):
        steps = [{"flip_rate": f, "steps_8": {"z": z, "where_present": 0.1, "chance": 0.05, "outrank": 0.5}}
                 | ({"masking": {"mask_z": m}} if masking else {}) for f, z, m in zip(flips, zs, mask_zs)]
        return {"corpus": "real", "model": "tiny", "scenario": scenario, "seed": 0, "steps": steps}

    # learned: z 9 then falls back to 2.5 at the end while masking the cue still moves it (mask z 10)
    learned = run("name", [0.0, 0.7, 0.7, 0.7], [0.0, 9.0, 2.5, 2.5], [0.0, 12.0, 10.0, 10.0])
    unused = run("control_both", [0.0, 0.05, 0.1, 0.1], [0.0, 3.0, 3.5, 3.0], [0.0, 5.0, 7.0, 5.0])
    z_only = Rule("z", "level", 4.0, 2, "steps_8")
    either = Rule("either_8", "level", 4.0, 2, "steps_8")
    assert either.label == "z vs shuffled membership > 4 or masking's z > 8, patience 2 (IG 8 points)"
    # z alone: the learned run ends at 2.5, 1.5 under its limit
    assert judge(z_only, [learned, unused])["margin"] == -1.5
    # either: the learned run's last two steps read max(2.5, 10 - 8 + 4) = 6; the control's steps read
    # max(3, 5 - 4), max(3.5, 7 - 4), max(3, 5 - 4) = 3, 3.5, 3, held two steps running: 3;
    # margin min(6 - 4, 4 - 3) = 1
    r = judge(either, [learned, unused])
    assert (r["within_1"], r["false"], r["margin"]) == (1.0, 0.0, 1.0)
    before_seed_20 = run("name", [0.0, 0.7], [0.0, 9.0], [0.0, 0.0], masking=False)
    assert recorded(either, [learned]) and not recorded(either, [learned, before_seed_20])
    assert recorded(z_only, [learned, before_seed_20])
    # written before seeds 24-27 ran: it judges those seeds, not the ones read before it was written
    assert not candidate(either, [learned]) and candidate(either, [learned | {"seed": 24}])
    assert candidate(z_only, [learned])


def test_length_choice_reads_only_statistics_every_run_recorded():
    from length_rules import length_choice, length_judge

    def run(scenario, flips, gaps, stretches=None):
        steps = [{"flip_rate": f, "length": {"gap": g, "direction": 0.0, "direction_z": 0.0}
                  | ({} if stretches is None else {"stretch": s, "stretch_z": 10 * s})}
                 for f, g, s in zip(flips, gaps, stretches or gaps)]
        return {"corpus": "real", "model": "tiny", "scenario": scenario, "seed": 0, "steps": steps}

    length = run("length", [0.0, 0.9, 0.9], [0.0, 0.05, 0.04], [0.0, 0.3, 0.2])
    name = run("name", [0.0, 0.9, 0.9], [0.0, 0.12, 0.0], [0.0, 0.01, 0.03])
    # the stretch separates them (0.3 vs 0.03), the gap does not (0.05 vs 0.12)
    assert length_judge("stretch", 0.1, [length, name]) == pytest.approx(
        {"flagged": 1, "learned": 1, "false": 0, "others": 1, "margin": 0.07})
    # best: both targets met, then the margin relative to the level: stretch > 0.15 (min(0.15, 0.12) / 0.15
    # = 0.8) before > 0.1 (0.07 / 0.1); stretch_z > 3 misses the length run (its highest is 3.0)
    statistic, level, r = length_choice([length, name])[0]
    assert (statistic, level) == ("stretch", 0.15) and r["margin"] == pytest.approx(0.12)
    assert length_judge("stretch_z", 3.0, [length, name])["flagged"] == 0
    old = run("name", [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])  # before seed 24: no stretch recorded
    assert {s for s, _, _ in length_choice([length, name, old])} == {"gap", "direction", "direction_z"}
