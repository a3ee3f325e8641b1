"""BetaVAE and FactorVAE scores: classifiers on batches of codes that share one factor.

The reference renders fresh batches from the data generator. A :class:`GridSampler` does the
same for a data set whose every factor combination can be encoded (the built-in shapes, through
the run's codes or the model), consuming the random state in the reference's order; a
:class:`RowSampler` draws the batches from the rows of labelled arrays that share the factor
value, which is what the array functions use.
"""

from __future__ import annotations

import numpy as np

from latentviz._validation import check_random_state
from latentviz.metrics._common import latents_and_factors


class RowSampler:
    """Batches of rows from ``(z, factors)``: random rows, and rows sharing one factor's value."""

    def __init__(self, z: np.ndarray, factors: np.ndarray):
        self.z = z
        self.n, self.n_factors = factors.shape
        self._order, self._start, self._size = [], [], []
        for column in factors.T:
            order = np.argsort(column, kind="stable")
            _, first, counts = np.unique(column[order], return_index=True, return_counts=True)
            level = np.unique(column, return_inverse=True)[1]
            self._order.append(order)
            self._start.append(first[level])
            self._size.append(counts[level])

    def observations(self, n: int, rs) -> np.ndarray:
        return self.z[rs.randint(self.n, size=n)]

    def _partners(self, k: int, rows: np.ndarray, rs) -> np.ndarray:
        """For each row, a random row with the same value of factor ``k``."""
        offset = np.floor(rs.random_sample(len(rows)) * self._size[k][rows]).astype(np.int64)
        return self._order[k][self._start[k][rows] + offset]

    def pair_batches(self, k: int, size: int, rs):
        rows = rs.randint(self.n, size=size)
        return self.z[rows], self.z[self._partners(k, rows, rs)]

    def fixed_batch(self, k: int, size: int, rs) -> np.ndarray:
        first = rs.randint(self.n)
        return self.z[self._partners(k, np.full(size, first), rs)]


class GridSampler:
    """Fresh batches of a generator: ``sample_factors(n, rs)`` draws factor vectors, ``encode(f)`` codes them."""

    def __init__(self, sample_factors, encode, n_factors: int):
        self.sample_factors = sample_factors
        self.encode = encode
        self.n_factors = n_factors

    def observations(self, n: int, rs) -> np.ndarray:
        return self.encode(self.sample_factors(n, rs))

    def pair_batches(self, k: int, size: int, rs):
        first = self.sample_factors(size, rs)
        second = self.sample_factors(size, rs)
        second[:, k] = first[:, k]
        return self.encode(first), self.encode(second)

    def fixed_batch(self, k: int, size: int, rs) -> np.ndarray:
        factors = self.sample_factors(size, rs)
        factors[:, k] = factors[0, k]
        return self.encode(factors)


def beta_vae_score(z, factors, *, seed=0, batch_size: int = 64, n_train: int = 10000, n_eval: int = 5000) -> float:
    """BetaVAE score: accuracy of a linear classifier naming the factor two batches share.

    Each example picks a factor :math:`k`, draws two batches of ``batch_size`` codes that agree
    on factor :math:`k` row by row (here: rows of ``z`` with equal ``factors[:, k]``), and
    takes the per-dimension mean of :math:`|z_1 - z_2|` as the feature, :math:`k` as the label.
    A default ``LogisticRegression`` (unstandardised features) is trained on ``n_train``
    examples; the score is its accuracy on ``n_eval`` fresh ones.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes; rows with NaN or inf are excluded.
    factors : array-like of shape (n_samples, n_factors)
        Integer factor levels.
    seed : int, default=0
        Seeds every draw.
    batch_size : int, default=64
        Codes per batch.
    n_train, n_eval : int, default=10000 and 5000
        Training and evaluation examples.

    Returns
    -------
    float
        In [0, 1] (1/n_factors is chance); higher is better.

    References
    ----------
    .. [1] I. Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a Constrained
       Variational Framework", ICLR 2017.

    Examples
    --------
    >>> f = np.array([[a, b] for a in range(5) for b in range(5)] * 4)
    >>> beta_vae_score(f, f, n_train=200, n_eval=100)
    1.0
    """
    z, factors = latents_and_factors(z, factors, whom="beta_vae_score")
    return beta_vae_from_sampler(
        RowSampler(z, factors), check_random_state(seed), batch_size=batch_size, n_train=n_train, n_eval=n_eval
    )["eval_accuracy"]


def beta_vae_from_sampler(sampler, rs, *, batch_size=64, n_train=10000, n_eval=5000) -> dict:
    """``train_accuracy`` and ``eval_accuracy`` of the BetaVAE protocol on any sampler."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    x_train, y_train = _beta_vae_examples(sampler, rs, n_train, batch_size)
    x_eval, y_eval = _beta_vae_examples(sampler, rs, n_eval, batch_size)
    if len(np.unique(y_train)) < 2:  # one factor: every example has the same label
        return {"train_accuracy": 1.0, "eval_accuracy": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence warnings, suppressed in the reference too
        model = LogisticRegression(random_state=rs).fit(x_train, y_train)
    return {"train_accuracy": float(model.score(x_train, y_train)), "eval_accuracy": float(model.score(x_eval, y_eval))}


def _beta_vae_examples(sampler, rs, n: int, batch_size: int):
    features, labels = [], []
    for _ in range(n):
        k = rs.randint(sampler.n_factors)
        first, second = sampler.pair_batches(k, batch_size, rs)
        features.append(np.mean(np.abs(first - second), axis=0))
        labels.append(k)
    return np.array(features), np.array(labels)


def factor_vae_score(
    z,
    factors,
    *,
    seed=0,
    batch_size: int = 64,
    n_train: int = 10000,
    n_eval: int = 5000,
    n_variance: int = 10000,
    threshold: float = 0.05,
) -> float:
    """FactorVAE score: majority-vote accuracy of naming the fixed factor from the least-varying latent.

    Each vote fixes a factor :math:`k`, draws ``batch_size`` codes that share its value, divides
    each latent's variance in the batch (ddof=1) by its global variance, and votes for
    :math:`(k, \\arg\\min_d)` over the active latents (global standard deviation at least
    ``threshold``). Each latent predicts its most-voted factor; the score is the fraction of
    ``n_eval`` fresh votes that mapping gets right. Dividing by the global variance makes the
    score invariant to rescaling the latents.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes; rows with NaN or inf are excluded.
    factors : array-like of shape (n_samples, n_factors)
        Integer factor levels.
    seed : int, default=0
        Seeds every draw.
    batch_size : int, default=64
        Codes per vote.
    n_train, n_eval : int, default=10000 and 5000
        Training and evaluation votes.
    n_variance : int, default=10000
        Codes drawn for the global variances.
    threshold : float, default=0.05
        Minimum standard deviation of an active latent.

    Returns
    -------
    float
        In [0, 1] (about 1/n_factors is chance); higher is better; 0 when no latent is active.

    References
    ----------
    .. [1] H. Kim and A. Mnih, "Disentangling by Factorising", ICML 2018.

    Examples
    --------
    >>> f = np.array([[a, b] for a in range(5) for b in range(5)] * 4)
    >>> factor_vae_score(f * 3.0, f, n_train=200, n_eval=100, n_variance=100)
    1.0
    """
    z, factors = latents_and_factors(z, factors, whom="factor_vae_score")
    return factor_vae_from_sampler(
        RowSampler(z, factors),
        check_random_state(seed),
        batch_size=batch_size,
        n_train=n_train,
        n_eval=n_eval,
        n_variance=n_variance,
        threshold=threshold,
    )["eval_accuracy"]


def factor_vae_from_sampler(
    sampler, rs, *, batch_size=64, n_train=10000, n_eval=5000, n_variance=10000, threshold=0.05
) -> dict:
    """``train_accuracy``, ``eval_accuracy`` and ``num_active_dims`` of the FactorVAE protocol."""
    global_var = np.var(sampler.observations(n_variance, rs), axis=0, ddof=1)
    active = np.sqrt(global_var) >= threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    train = _factor_vae_votes(sampler, rs, n_train, batch_size, global_var, active)
    evaluation = _factor_vae_votes(sampler, rs, n_eval, batch_size, global_var, active)
    mapping = np.argmax(train, axis=0)
    columns = np.arange(train.shape[1])
    return {
        "train_accuracy": float(train[mapping, columns].sum() / train.sum()),
        "eval_accuracy": float(evaluation[mapping, columns].sum() / evaluation.sum()),
        "num_active_dims": int(active.sum()),
    }


def _factor_vae_votes(sampler, rs, n: int, batch_size: int, global_var, active) -> np.ndarray:
    """Vote counts of shape (n_factors, n_active_latents)."""
    votes = np.zeros((sampler.n_factors, int(active.sum())), dtype=np.int64)
    for _ in range(n):
        k = rs.randint(sampler.n_factors)
        local_var = np.var(sampler.fixed_batch(k, batch_size, rs), axis=0, ddof=1)
        votes[k, np.argmin(local_var[active] / global_var[active])] += 1
    return votes
