"""The attribution engine: backend-neutral (numpy and `keras.ops`), one small backend module each
for TensorFlow, JAX and PyTorch under `backends/`.

    explain.py              explain(), Explainer: tokenize, chunk, pad, run a method, build Attributions
    registry.py             the methods, what each needs, and checks of their options
    methods.py              gradient_norm, gradient_x_input, vanilla_gradients, smoothgrad
    integrated_gradients.py integrated gradients, fixed rules and the nested adaptive rule
    quadrature.py           the rules
    heads.py                what is explained per task (keras.ops, inside the compiled function)
    score.py                the gradient interface methods call (numpy in, numpy out)
    backends/               tensorflow.py, jax.py, torch.py: the only autodiff code
"""

from .explain import Explainer, explain
from .registry import METHODS, is_signed, method_options

__all__ = ["METHODS", "Explainer", "explain", "is_signed", "method_options"]
