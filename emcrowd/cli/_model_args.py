"""The model options checked and turned into the models' keyword arguments (NumPy-free until used)."""

from __future__ import annotations

import math
from typing import Any

from emcrowd.errors import EmcrowdError


def model_kwargs(self: Any) -> dict[str, Any]:
    """The model options of ``self`` (a :class:`~emcrowd.cli.options.ModelOptions`), checked, as the
    models' keyword arguments (see :func:`emcrowd.models.model_options`); raises
    :class:`EmcrowdError` naming the option."""
    prior = None
    if self.class_prior is not None:
        try:
            prior = [float(p) for p in self.class_prior.split(",")]
        except ValueError:
            raise EmcrowdError(
                f"--class-prior expects numbers separated by commas, got {self.class_prior!r}"
            ) from None
        if any(not (p > 0 and p != math.inf) for p in prior):
            raise EmcrowdError(f"--class-prior needs positive, finite numbers, got {self.class_prior!r}")
    options: dict[str, Any] = {
        "alpha_prior": _gaussian_prior("--alpha-prior", "alpha", self.alpha_prior),
        "beta_prior": _gaussian_prior("--beta-prior", "beta", self.beta_prior),
        "tol": self.tol,
        "max_iter": self.max_iter,
        "class_prior": prior,
        "class_pseudocount": self.class_pseudocount,
        "smoothing": self.smoothing,
        "random_state": self.seed,
    }
    if getattr(self, "accelerate", None) is not None:  # else each model keeps its own default
        options["accelerate"] = self.accelerate == "on"
    if self.n_init is not None:  # else each model keeps its own default
        options["n_init"] = self.n_init
    if self.learn_class_prior and self.fixed_class_prior:
        raise EmcrowdError("--learn-class-prior and --fixed-class-prior contradict each other; give one")
    if self.learn_class_prior or self.fixed_class_prior:  # else each model keeps its own default
        options["learn_class_prior"] = self.learn_class_prior
    return options


def check_class_prior(options: dict[str, Any], n_classes: int) -> None:
    """--class-prior must have one number per class, which is known once the labels are read."""
    prior = options["class_prior"]
    if prior is not None and len(prior) != n_classes:
        raise EmcrowdError(f"--class-prior has {len(prior)} numbers but the labels have {n_classes} classes")


def _gaussian_prior(option: str, name: str, text: str) -> tuple[float, float]:
    """Parse ``MEAN,SD`` and check it as the model will, naming the option in any error."""
    from emcrowd.models.classification.glad import GaussianPrior

    try:
        mean, sd = (float(p) for p in text.split(","))
    except ValueError:
        raise EmcrowdError(f"{option} expects MEAN,SD (two numbers), got {text!r}") from None
    try:
        GaussianPrior(mean, sd, name)
    except EmcrowdError as exc:
        raise EmcrowdError(f"{option} {text}: {exc}") from None
    return mean, sd
