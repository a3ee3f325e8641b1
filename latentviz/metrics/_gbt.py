"""Gradient-boosted trees that grow exactly the trees of scikit-learn's ``GradientBoostingClassifier()``.

DCI fits one default ``GradientBoostingClassifier`` per factor (100 stages of depth-3 regression
trees on the log-loss gradient, one tree per class per stage). scikit-learn re-sorts every
feature at every node of every tree; here each feature is sorted once and every tree of every
stage, class and factor scans that one order, which gives the same splits (the same
``squared_error`` proxy, the same candidate positions, the same thresholds, the same
``FEATURE_THRESHOLD`` on float32 values), the same Newton leaf values and so the same
``feature_importances_`` and predictions. The only difference is deterministic tie-breaking:
between features whose best splits improve the fit exactly equally scikit-learn picks one in a
random order (``random_state=None`` in the reference); here a seeded uniform choice among the
tied features gives the same distribution (exact duplicate latents share the importance).
"""

from __future__ import annotations

import math

import numpy as np

_EPSILON = np.finfo(np.float64).eps
_MAX_DEPTH = 3


def fit_predict_gbc(
    x_train,
    y_train,
    x_tests,
    *,
    n_estimators: int = 100,
    learning_rate: float = 0.1,
    max_depth: int = _MAX_DEPTH,
    order=None,
    seed: int = 0,
):
    """Fit the boosted classifier on ``(x_train, y_train)``.

    Returns ``(feature_importances, [predicted labels for each array in x_tests])``, the values
    ``GradientBoostingClassifier(n_estimators, learning_rate, max_depth).fit(...)`` gives.
    ``order`` (the per-feature argsort of ``x_train`` as float32) can be shared between fits;
    ``seed`` breaks exact ties between features at random, as scikit-learn's feature order does.
    """
    kernels = _kernels()
    x = np.ascontiguousarray(x_train, dtype=np.float32)
    classes, y = np.unique(np.asarray(y_train), return_inverse=True)
    if order is None:
        order = sort_features(x)
    raw0 = _initial_raw(np.bincount(y, minlength=len(classes)) / len(y))
    features, thresholds, values, importances = kernels.fit(
        x, order, y.astype(np.int64), raw0, int(n_estimators), float(learning_rate), int(max_depth), int(seed)
    )
    predictions = []
    for x_test in x_tests:
        raw = kernels.predict(
            np.ascontiguousarray(x_test, dtype=np.float32), raw0, features, thresholds, values, float(learning_rate)
        )
        encoded = (raw[:, 0] >= 0).astype(np.int64) if raw.shape[1] == 1 else np.argmax(raw, axis=1)
        predictions.append(classes[encoded])
    return importances, predictions


def sort_features(x: np.ndarray) -> np.ndarray:
    """Stable argsort of each float32 column, shape (n_features, n_samples)."""
    return np.ascontiguousarray(np.argsort(np.asarray(x, dtype=np.float32), axis=0, kind="stable").T).astype(np.int64)


def _initial_raw(prior: np.ndarray) -> np.ndarray:
    """The init estimator's raw score: the prior's logit (binary) or symmetric multinomial logit."""
    p = np.clip(prior, _EPSILON, 1 - _EPSILON)
    if len(p) == 2:
        return np.array([math.log(p[1] / (1 - p[1]))])
    logp = np.log(p)
    return logp - logp.mean()


_KERNELS = None


def _kernels():
    """Compile the numba kernels on first use (cached on disk afterwards)."""
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = _build_kernels()
    return _KERNELS


def _build_kernels():
    import types

    from latentviz._numba_cache import use_numba_cache

    use_numba_cache()  # the kernels are cached on disk, in the user cache folder like umap's
    import numba

    njit = numba.njit(cache=True, nogil=True)
    threshold32 = np.float32(1e-7)  # scikit-learn's FEATURE_THRESHOLD, added in float32

    @njit
    def grow_tree(x, order, x_sorted, residual, max_depth, feature, threshold, node_of, importance):
        """Grow one depth-limited squared-error tree on ``residual``; heap-indexed nodes."""
        n, d = x.shape
        n_nodes = feature.shape[0]
        cnt = np.zeros(n_nodes)
        tot = np.zeros(n_nodes)
        sq = np.zeros(n_nodes)
        present = np.zeros(n_nodes, np.bool_)
        feature[:] = -1
        threshold[:] = 0.0
        node_of[:] = 0
        present[0] = True
        cnt[0] = n
        for i in range(n):
            tot[0] += residual[i]
            sq[0] += residual[i] * residual[i]
        splittable = np.zeros(n_nodes, np.bool_)
        best_proxy = np.empty(n_nodes)
        best_feature = np.empty(n_nodes, np.int64)
        best_threshold = np.empty(n_nodes)
        best_cnt = np.empty(n_nodes)
        best_tot = np.empty(n_nodes)
        best_sq = np.empty(n_nodes)
        left_cnt = np.empty(n_nodes)
        left_tot = np.empty(n_nodes)
        left_sq = np.empty(n_nodes)
        last = np.empty(n_nodes, np.float32)
        ties = np.zeros(n_nodes, np.int64)
        tie_feature = np.full(n_nodes, -1, np.int64)
        n_split = 0
        for depth in range(max_depth):
            lo, hi = 2**depth - 1, 2 ** (depth + 1) - 1
            any_splittable = False
            splittable[:] = False
            for v in range(lo, hi):
                if present[v] and cnt[v] >= 2:
                    impurity = sq[v] / cnt[v] - (tot[v] / cnt[v]) ** 2
                    if impurity > 2.220446049250313e-16:
                        splittable[v] = True
                        any_splittable = True
                best_proxy[v] = -np.inf
                best_feature[v] = -1
                ties[v] = 0
                tie_feature[v] = -1
            if not any_splittable:
                break
            for f in range(d):
                for v in range(lo, hi):
                    left_cnt[v] = 0.0
                    left_tot[v] = 0.0
                    left_sq[v] = 0.0
                for t in range(n):
                    i = order[f, t]
                    v = node_of[i]
                    if not splittable[v]:
                        continue
                    xi = x_sorted[f, t]
                    c = left_cnt[v]
                    if c > 0 and xi > last[v] + threshold32:
                        right_tot = tot[v] - left_tot[v]
                        proxy = left_tot[v] * left_tot[v] / c + right_tot * right_tot / (cnt[v] - c)
                        take = proxy > best_proxy[v]
                        if take:
                            ties[v] = 1
                            tie_feature[v] = f
                        elif proxy == best_proxy[v] and tie_feature[v] != f:
                            # an exact tie with an earlier feature: keep a uniformly random one of them,
                            # as scikit-learn's random feature order does (reservoir sampling)
                            ties[v] += 1
                            tie_feature[v] = f
                            take = np.random.random() * ties[v] < 1.0
                        if take:
                            best_proxy[v] = proxy
                            best_feature[v] = f
                            thr = np.float64(last[v]) / 2.0 + np.float64(xi) / 2.0
                            if thr == np.float64(xi) or np.isinf(thr):
                                thr = np.float64(last[v])
                            best_threshold[v] = thr
                            best_cnt[v] = c
                            best_tot[v] = left_tot[v]
                            best_sq[v] = left_sq[v]
                    r = residual[i]
                    left_cnt[v] = c + 1.0
                    left_tot[v] += r
                    left_sq[v] += r * r
                    last[v] = xi
            any_split = False
            for v in range(lo, hi):
                if not splittable[v] or best_feature[v] < 0:
                    continue
                nl, sl, ql = best_cnt[v], best_tot[v], best_sq[v]
                nr, sr, qr = cnt[v] - nl, tot[v] - sl, sq[v] - ql
                imp = sq[v] / cnt[v] - (tot[v] / cnt[v]) ** 2
                imp_l = ql / nl - (sl / nl) ** 2
                imp_r = qr / nr - (sr / nr) ** 2
                improvement = (cnt[v] / n) * (imp - nr / cnt[v] * imp_r - nl / cnt[v] * imp_l)
                if improvement + 2.220446049250313e-16 < 0.0:
                    continue
                feature[v] = best_feature[v]
                threshold[v] = best_threshold[v]
                importance[best_feature[v]] += (cnt[v] * imp - nl * imp_l - nr * imp_r) / n
                n_split += 1
                any_split = True
                for child, c_n, c_t, c_q in ((2 * v + 1, nl, sl, ql), (2 * v + 2, nr, sr, qr)):
                    present[child] = True
                    cnt[child] = c_n
                    tot[child] = c_t
                    sq[child] = c_q
            if not any_split:
                break
            for i in range(n):
                v = node_of[i]
                f = feature[v]
                if v >= lo and f >= 0:
                    node_of[i] = 2 * v + 1 if np.float64(x[i, f]) <= threshold[v] else 2 * v + 2
        return n_split

    @njit
    def fit(x, order, y, raw0, n_estimators, learning_rate, max_depth, seed):
        np.random.seed(seed)
        n, d = x.shape
        n_classes = raw0.shape[0] if raw0.shape[0] > 1 else 2
        k_trees = raw0.shape[0]
        n_nodes = 2 ** (max_depth + 1) - 1
        features = np.full((n_estimators, k_trees, n_nodes), -1, np.int64)
        thresholds = np.zeros((n_estimators, k_trees, n_nodes))
        values = np.zeros((n_estimators, k_trees, n_nodes))
        raw = np.empty((n, k_trees))
        for i in range(n):
            raw[i, :] = raw0
        onehot = np.zeros((n, k_trees))
        for i in range(n):
            if k_trees == 1:
                onehot[i, 0] = float(y[i])
            else:
                onehot[i, y[i]] = 1.0
        x_sorted = np.empty((d, n), np.float32)
        for f in range(d):
            for t in range(n):
                x_sorted[f, t] = x[order[f, t], f]
        neg_grad = np.empty((k_trees, n))
        prob = np.empty((n, k_trees))
        node_of = np.zeros(n, np.int64)
        importance_sum = np.zeros(d)
        tree_importance = np.zeros(d)
        n_relevant = 0
        leaf_num = np.zeros(n_nodes)
        leaf_den = np.zeros(n_nodes)
        leaf_cnt = np.zeros(n_nodes)
        for m in range(n_estimators):
            for i in range(n):
                if k_trees == 1:
                    prob[i, 0] = 1.0 / (1.0 + np.exp(-raw[i, 0]))
                else:
                    top = raw[i, 0]
                    for k in range(1, k_trees):
                        top = max(top, raw[i, k])
                    total = 0.0
                    for k in range(k_trees):
                        prob[i, k] = np.exp(raw[i, k] - top)
                        total += prob[i, k]
                    for k in range(k_trees):
                        prob[i, k] /= total
                for k in range(k_trees):
                    neg_grad[k, i] = onehot[i, k] - prob[i, k]
            for k in range(k_trees):
                tree_importance[:] = 0.0
                n_split = grow_tree(
                    x,
                    order,
                    x_sorted,
                    neg_grad[k],
                    max_depth,
                    features[m, k],
                    thresholds[m, k],
                    node_of,
                    tree_importance,
                )
                if n_split > 0:
                    importance_sum += tree_importance
                    n_relevant += 1
                leaf_num[:] = 0.0
                leaf_den[:] = 0.0
                leaf_cnt[:] = 0.0
                for i in range(n):
                    v = node_of[i]
                    g = neg_grad[k, i]
                    p = onehot[i, k] - g
                    leaf_num[v] += g
                    leaf_den[v] += p * (1.0 - p)
                    leaf_cnt[v] += 1.0
                for v in range(n_nodes):
                    if leaf_cnt[v] == 0:
                        continue
                    numerator = leaf_num[v] / leaf_cnt[v]
                    if k_trees > 1:
                        numerator *= (n_classes - 1) / n_classes
                    denominator = leaf_den[v] / leaf_cnt[v]
                    values[m, k, v] = 0.0 if abs(denominator) < 1e-150 else numerator / denominator
                for i in range(n):
                    raw[i, k] += learning_rate * values[m, k, node_of[i]]
        importances = np.zeros(d)
        if n_relevant > 0:
            total = importance_sum.sum()
            if total > 0:
                importances = importance_sum / total
        return features, thresholds, values, importances

    @njit
    def predict(x, raw0, features, thresholds, values, learning_rate):
        n = x.shape[0]
        n_estimators, k_trees, _ = features.shape
        raw = np.empty((n, k_trees))
        for i in range(n):
            raw[i, :] = raw0
            for m in range(n_estimators):
                for k in range(k_trees):
                    v = 0
                    while features[m, k, v] >= 0:
                        f = features[m, k, v]
                        v = 2 * v + 1 if np.float64(x[i, f]) <= thresholds[m, k, v] else 2 * v + 2
                    raw[i, k] += learning_rate * values[m, k, v]
        return raw

    return types.SimpleNamespace(fit=fit, predict=predict, grow_tree=grow_tree)
