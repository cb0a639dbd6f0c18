"""The attribution engine: backend-neutral (numpy and `keras.ops`), one small backend module each
for TensorFlow, JAX and PyTorch under `backends/`.

    explain.py              Explainer: tokenize, chunk, pad, run a method, build Attributions
    reporting.py            how far the work has got, told to the caller's sink (the engine draws nothing)
    registry.py             the methods, what each needs, and checks of their options
    methods.py              gradient_norm, gradient_x_input, vanilla_gradients, smoothgrad
    integrated_gradients.py integrated gradients, fixed rules and the nested adaptive rule
    quadrature.py           the rules
    heads.py                what is explained per task (keras.ops, inside the compiled function)
    score.py                the gradient interface methods call (numpy in, numpy out)
    backends/               tensorflow.py, jax.py, torch.py: the only autodiff code
"""

from .explain import Explainer
from .registry import ENGINE_OPTIONS, METHODS, is_signed, method_options

__all__ = ["ENGINE_OPTIONS", "METHODS", "Explainer", "is_signed", "method_options"]
