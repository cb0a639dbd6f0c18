"""Analysis: the maths the monitors read (group shares, vocabulary coverage, faithfulness, shortcut
discovery, counterfactual flip rates, per-step statistics)."""
