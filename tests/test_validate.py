"""One home per rule: the argument checks (gradcallback.validate) and what "signed" means."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import gradcallback
from gradcallback.validate import choice, fraction, positive_int

PACKAGE = Path(gradcallback.__file__).parent


@pytest.mark.parametrize("value", [True, False, 0, -3, 1.0, 2.5, "3", None])
def test_positive_int_rejects_bools_floats_and_small_values(value):
    with pytest.raises(ValueError, match=rf"^Expected n to be a positive int\. Received: n={re.escape(repr(value))}$"):
        positive_int("n", value)


def test_positive_int_accepts_and_returns_ints_from_low():
    assert positive_int("n", 1) == 1 and positive_int("n", 10**9) == 10**9
    assert positive_int("min_pieces", 2, low=2) == 2
    with pytest.raises(ValueError, match=r"^Expected min_pieces to be an int >= 2\. Received: min_pieces=1$"):
        positive_int("min_pieces", 1, low=2)


def test_choice_lists_the_allowed_values_and_tells_true_from_one():
    assert choice("mode", "a", ("a", "b")) == "a"
    assert choice("task", None, ("x", None)) is None
    with pytest.raises(ValueError, match=r"^Expected mode in \('a', 'b'\)\. Received: mode='c'$"):
        choice("mode", "c", ["a", "b"])
    with pytest.raises(ValueError, match=r"Received: k=True$"):
        choice("k", True, (1, 2))  # True == 1 in Python, but it is not the choice 1


@pytest.mark.parametrize("value", [True, -0.01, 1.01, "0.5", None, float("nan")])
def test_fraction_rejects_outside_the_range_and_non_numbers(value):
    with pytest.raises(ValueError, match=r"^Expected f to be a number in \[0\.0, 1\.0\]\. Received: f="):
        fraction("f", value)


def test_fraction_returns_a_float_inside_its_bounds():
    assert fraction("f", 0) == 0.0 and isinstance(fraction("f", 1), float)
    assert fraction("gap", 3, low=1.0, high=5.0) == 3.0
    with pytest.raises(ValueError, match=r"in \[1\.0, 5\.0\]\. Received: gap=0$"):
        fraction("gap", 0, low=1.0, high=5.0)


def test_explainer_batch_size_true_is_not_a_batch_size():
    from gradcallback.engine.explain import Explainer

    # checked before the model is looked at: no model is needed to see the mistake
    with pytest.raises(ValueError, match=r"Received: batch_size=True$"):
        Explainer(None, None, batch_size=True)
    with pytest.raises(ValueError, match=r"Received: task='summarise'$"):
        Explainer(None, None, task="summarise")


def test_the_checks_live_in_one_module():
    """No module but validate.py spells out the positive-int or fraction check itself."""
    spelled = re.compile(r"to be a positive int|to be an int >= |to be a number in \[")
    homes = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if spelled.search(p.read_text()))
    assert homes == ["validate.py"]


def test_signed_is_the_methods_property_one_definition():
    from gradcallback.attribution import Attribution, Prediction
    from gradcallback.engine.registry import is_signed
    from gradcallback.views.terminal import render

    signed = (is_signed("gradient_norm"), is_signed("integrated_gradients"), is_signed("smoothgrad"))
    assert signed == (False, True, False)
    assert is_signed("smoothgrad", {"base": "gradient_x_input"}) is True and is_signed("my_method") is True

    def shown(method, scores, info=None):
        a = Attribution(tokens=["[CLS]", "cat", "[SEP]"], token_ids=[2, 7, 3], scores=scores, method=method,
                        target=0, prediction=Prediction(label=0, probability=0.5), info=info or {})
        return render(a, color=False).splitlines()[-2].rsplit("; ", 1)[1]

    # all-positive scores of a signed method keep the diverging scale; the probe's numbers do not decide
    assert shown("integrated_gradients", [0.1, 0.5, 0.2]) == "signed"
    assert shown("gradient_norm", [0.1, 0.5, 0.2]) == "unsigned"
    assert shown("smoothgrad", [0.1, 0.5, 0.2], {"base": "gradient_x_input"}) == "signed"
