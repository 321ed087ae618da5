"""The EM loop shared by the latent-truth models (after scikit-learn's ``mixture._base``).

A subclass provides ``_initialize`` (parameters and the first posteriors), ``_m_step`` (parameters that
raise the expected complete-data log posterior) and ``_e_step`` (exact posteriors and the objective, the
log posterior of the parameters). This class runs the loop, checks the objective, decides convergence and
stores the fitted attributes.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import ConvergenceWarning, EmcrowdError

#: Called after every EM iteration with ``(n_iter, objective)``; used by the CLI for progress.
IterationCallback = Callable[[int, float], None]


class NumericalError(EmcrowdError):
    """The objective became NaN or infinite; the fit cannot be trusted."""


class EMAggregator:
    """Base class of the EM aggregators.

    Parameters
    ----------
    tol : float
        Stop when the change of the objective between two iterations is at most
        ``tol * |objective|`` (a relative tolerance).
    max_iter : int
        The most EM iterations (one M-step and one E-step each).

    Attributes
    ----------
    posteriors_ : ndarray of shape (n_items, n_classes)
        Posterior probability of each item's true class, from the final E-step.
    labels_ : ndarray of shape (n_items,)
        The most probable class code of each item (lowest code among exact ties).
    history_ : list of float
        The objective after every iteration; never decreases.
    lower_bound_ : float
        The final objective, ``history_[-1]``.
    converged_ : bool
        Whether the tolerance was reached before ``max_iter``.
    n_iter_ : int
        Number of EM iterations run.
    fit_seconds_ : float
        Wall time of ``fit``.
    """

    method: str = "em"

    def __init__(self, *, tol: float = 1e-6, max_iter: int = 500) -> None:
        self.tol = tol
        self.max_iter = max_iter

    # -- to be provided by subclasses -------------------------------------------------------------
    def _initialize(self, data: Labels) -> tuple[Any, np.ndarray]:
        raise NotImplementedError

    def _m_step(self, data: Labels, posteriors: np.ndarray, params: Any) -> Any:
        raise NotImplementedError

    def _e_step(self, data: Labels, params: Any) -> tuple[np.ndarray, float]:
        raise NotImplementedError

    def _store(self, data: Labels, params: Any) -> None:
        raise NotImplementedError

    def _check_parameters(self) -> None:
        if not (np.isfinite(self.tol) and self.tol >= 0):
            raise EmcrowdError(f"tol must be a non-negative number, got {self.tol!r}")
        if int(self.max_iter) != self.max_iter or self.max_iter < 1:
            raise EmcrowdError(f"max_iter must be a positive integer, got {self.max_iter!r}")

    # -- the loop ---------------------------------------------------------------------------------
    def fit(self, data: Labels | np.ndarray, *, callback: IterationCallback | None = None) -> EMAggregator:
        """Fit the model to observed labels by EM.

        Parameters
        ----------
        data : Labels or array-like of shape (n_items, n_workers)
            The observed labels (see :func:`emcrowd.read_labels`), or a dense matrix of numeric labels
            with NaN for "no label", which is converted with :meth:`Labels.from_matrix`.
        callback : callable, optional
            ``callback(n_iter, objective)`` after every iteration.

        Returns
        -------
        self
        """
        if not isinstance(data, Labels):
            data = Labels.from_matrix(np.asarray(data))
        self._check_parameters()
        start = time.perf_counter()
        params, posteriors = self._initialize(data)
        history: list[float] = []
        converged = False
        n_iter = 0
        for n_iter in range(1, int(self.max_iter) + 1):
            # Overflow and the like show up as a non-finite objective, checked right below; NumPy's
            # own warnings would only repeat that, once per array operation.
            with np.errstate(all="ignore"):
                params = self._m_step(data, posteriors, params)
                posteriors, objective = self._e_step(data, params)
            if not np.isfinite(objective):
                raise NumericalError(f"the {self.method} objective became {objective} at iteration {n_iter}")
            history.append(float(objective))
            if callback is not None:
                callback(n_iter, float(objective))
            if n_iter > 1 and abs(history[-1] - history[-2]) <= self.tol * abs(history[-2]):
                converged = True
                break
        if not converged:
            warnings.warn(
                f"{self.method} did not converge in {n_iter} iterations "
                f"(relative change above tol={self.tol:g}); raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        # The loop ends on an E-step, so the posteriors belong to the returned parameters.
        self.posteriors_ = posteriors
        self.labels_ = np.argmax(posteriors, axis=1)
        self.history_ = history
        self.lower_bound_ = history[-1]
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.classes_ = data.class_names
        self._store(data, params)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def predict_proba(self, data: Labels | None = None) -> np.ndarray:
        """Posterior over classes of every item, shape (n_items, n_classes).

        Aggregation is transductive: the items are those of the data given to ``fit``. Passing
        ``data`` fits again on it first.
        """
        if data is not None:
            self.fit(data)
        self._check_fitted()
        return self.posteriors_

    def predict(self, data: Labels | None = None) -> np.ndarray:
        """Most probable class code of every item, shape (n_items,)."""
        if data is not None:
            self.fit(data)
        self._check_fitted()
        return self.labels_

    def _check_fitted(self) -> None:
        if not hasattr(self, "posteriors_"):
            raise EmcrowdError(f"this {type(self).__name__} is not fitted yet; call fit(data) first")

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as given."""
        import inspect

        names = [
            p
            for cls in type(self).__mro__
            if "__init__" in vars(cls)
            for p in inspect.signature(cls.__init__).parameters
            if p != "self"
        ]
        return {name: getattr(self, name) for name in dict.fromkeys(names) if hasattr(self, name)}
