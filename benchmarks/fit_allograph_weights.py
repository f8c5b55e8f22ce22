"""Fit the allograph weights of ``ALLOGRAPHS`` (synthetic/allographs.py) by density-ratio reweighting.

A class's generated digits are a mixture of its allographs, p_syn = sum_a w_a p_a. Per class, a
discriminator tells real digits (first half of ``mnist-dev`` only) from generated ones (a fixed pool
drawn allograph by allograph, weighted by the current mixture), cross-fitted so a generated digit is
scored by a model that never saw it, and its calibrated odds give the density ratio
r(x) = p_real(x) / p_syn(x). Each weight then moves towards w_a * E_a[r] (the EM step for mixture
weights: allographs real digits rarely look like lose mass, those that cover real digits gain),
damped (a geometric half step by default), and rounded so the table stays readable. Only these
weights come from the real digits: no pixels, strokes or shapes are kept.

It also prints what r says about the continuous knobs (mean r in bins of each uniform the pen draws:
slant, rotation, aspect, pen width) and, with ``--check-half second``, E_a[r] measured against the
other half, to see whether the signal is the class's or the 2,500 digits'.

    python benchmarks/fit_allograph_weights.py              # prints ALLOGRAPHS weights to paste
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from synthetic import DEFAULT_DATA, flat, halves, load_real

from datumaro_mnist_plugins.synthetic import strokes
from datumaro_mnist_plugins.synthetic.allographs import ALLOGRAPHS
from datumaro_mnist_plugins.synthetic.style import DigitStyle, item_rng

#: the pen's uniforms, in the order ``strokes._draw_pen`` draws them (scale is fixed by default)
KNOBS = ("slant", "rotation", "aspect", "width")


def draw_pool(digit: int, per_allograph: int, seed: int):
    """*per_allograph* digits of each allograph of *digit*: images, allograph index, the pen's uniforms."""
    images, which, uniforms = [], [], []
    for a, name in enumerate(ALLOGRAPHS[digit]):
        for i in range(per_allograph):
            stream = f"weights-{digit}-{name}"
            images.append(strokes.render_allograph(digit, name, item_rng(seed, stream, i), DigitStyle()))
            uniforms.append(item_rng(seed, stream, i).random(5)[:4])  # replayed: the pen's first draws
            which.append(a)
    return flat(np.stack(images)), np.array(which), np.array(uniforms)


def features(real: np.ndarray, pool: np.ndarray, components: int, seed: int) -> tuple:
    """PCA(*components*) of the class, fitted on its real digits and as many generated ones, standardized."""
    from sklearn.decomposition import PCA

    picked = np.random.default_rng(seed).choice(len(pool), size=min(len(real), len(pool)), replace=False)
    pca = PCA(components, random_state=0).fit(np.vstack([real, pool[picked]]))
    zr, zs = pca.transform(real), pca.transform(pool)
    mean, scale = zs.mean(axis=0), zs.std(axis=0) + 1e-9
    return (zr - mean) / scale, (zs - mean) / scale, pca, mean, scale


def make_model(kind: str, c: float):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    if kind == "logreg":
        return LogisticRegression(C=c, max_iter=2000)
    return HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_leaf_nodes=15,
                                          l2_regularization=1.0, random_state=0)


def cross_fit_ratio(zr, zs, pool_weight, kind: str, c: float, folds: int, seed: int):
    """r(x) of each generated digit, scored by the models of the folds that did not hold it; real and
    generated weighted to equal totals, so the odds are the density ratio; also each real digit's
    held-out p(real) and the mean held-out log loss."""
    rng = np.random.default_rng(seed)
    fold_r, fold_s = rng.permutation(len(zr)) % folds, rng.permutation(len(zs)) % folds
    ratio, held = np.empty(len(zs)), np.empty(len(zr))
    loss = []
    for k in range(folds):
        tr, ts = fold_r != k, fold_s != k
        x = np.vstack([zr[tr], zs[ts]])
        y = np.r_[np.ones(tr.sum()), np.zeros(ts.sum())]
        w = np.r_[np.full(tr.sum(), 1.0 / tr.sum()), pool_weight[ts] / pool_weight[ts].sum()] * len(x) / 2
        model = make_model(kind, c).fit(x, y, sample_weight=w)
        p = np.clip(model.predict_proba(zs[~ts])[:, 1], 1e-6, 1 - 1e-6)
        ratio[~ts] = p / (1 - p)
        q = np.clip(model.predict_proba(zr[~tr])[:, 1], 1e-6, 1 - 1e-6)
        held[~tr] = q
        loss.append(-(np.log(q).mean() + np.average(np.log(1 - p), weights=pool_weight[~ts])) / 2)
    return ratio, held, float(np.mean(loss))


def allograph_means(ratio, which, count: int, clip: float) -> np.ndarray:
    """E_a[r] of each allograph (r clipped at *clip*: one real digit alone must not pull a weight)."""
    r = np.minimum(ratio, clip)
    return np.array([r[which == a].mean() for a in range(count)])


def step(weights: np.ndarray, means: np.ndarray, damping: float) -> np.ndarray:
    """A damped EM step: w_a * (E_a[r] / E_syn[r]) ** damping, the class's total kept."""
    share = weights / weights.sum()
    factor = (means / float(share @ means)) ** damping
    new = weights * factor
    return new * weights.sum() / new.sum()


def round_weights(weights: np.ndarray) -> np.ndarray:
    """Readable numbers: steps of 0.1 under 1, of 0.25 under 4, of 0.5 above; never below 0.1."""
    steps = np.where(weights < 1.0, 0.1, np.where(weights < 4.0, 0.25, 0.5))
    return np.maximum(np.round(weights / steps) * steps, 0.1)


def knob_report(digit: int, ratio, uniforms, weight, clip: float, bins: int = 4) -> str:
    """Mean r (under the current mixture) in *bins* equal bins of each pen uniform."""
    r = np.minimum(ratio, clip)
    edges = np.minimum((uniforms * bins).astype(int), bins - 1)
    parts = []
    for k, name in enumerate(KNOBS):
        means = [np.average(r[edges[:, k] == b], weights=weight[edges[:, k] == b]) for b in range(bins)]
        parts.append(f"{name} " + "/".join(f"{m:.2f}" for m in means))
    return f"  knobs {digit}: " + "  ".join(parts) + "   (low -> high bins)"


def fit_digit(digit: int, real, check, args) -> np.ndarray:
    """The damped EM steps for one class; prints each step's E_a[r] and the knob report."""
    names = list(ALLOGRAPHS[digit])
    weights = np.array([ALLOGRAPHS[digit][n][0] for n in names], dtype=np.float64)
    pool, which, uniforms = draw_pool(digit, args.per_allograph, args.seed)
    zr, zs, pca, mean, scale = features(real, pool, args.components, args.seed)
    zc = None if check is None else (pca.transform(check) - mean) / scale
    for it in range(args.steps + 1):
        pool_weight = (weights / np.bincount(which, minlength=len(names)))[which]
        ratio, held, loss = cross_fit_ratio(zr, zs, pool_weight, args.model, args.c, args.folds, args.seed + it)
        means = allograph_means(ratio, which, len(names), args.clip)
        auc = _auc(held, ratio, pool_weight)
        line = " ".join(f"{n}={m:.2f}" for n, m in zip(names, means))
        print(f"# {digit} step {it}: AUC {auc:.3f} loss {loss:.3f} E_syn[r] {np.average(np.minimum(ratio, args.clip), weights=pool_weight):.2f}  E_a[r]: {line}", flush=True)
        if it == 0 and args.knobs:
            print(knob_report(digit, ratio, uniforms, pool_weight, args.clip))
        if zc is not None:
            other = cross_fit_ratio(zc, zs, pool_weight, args.model, args.c, args.folds, args.seed + it)[0]
            means_other = allograph_means(other, which, len(names), args.clip)
            print("#   other half E_a[r]: " + " ".join(f"{n}={m:.2f}" for n, m in zip(names, means_other)))
            if it == 0 and args.knobs:
                print(knob_report(digit, other, uniforms, pool_weight, args.clip).replace("knobs", "other"))
        if it < args.steps:
            weights = step(weights, means, args.damping)
    return weights


def _auc(real_p: np.ndarray, ratio: np.ndarray, pool_weight: np.ndarray) -> float:
    """Weighted AUC of the held-out scores: real digits against the generated mixture."""
    p_syn = ratio / (1 + ratio)
    order = np.argsort(p_syn)
    cum = np.cumsum(pool_weight[order]) / pool_weight.sum()
    below = np.interp(real_p, p_syn[order], cum, left=0.0, right=1.0)
    return float(below.mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--classes", default="0123456789")
    parser.add_argument("--per-allograph", type=int, default=400)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--components", type=int, default=40)
    parser.add_argument("--model", choices=("logreg", "hgb"), default="logreg")
    parser.add_argument("--c", type=float, default=0.05, help="logistic regression's inverse regularization")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2, help="damped EM steps")
    parser.add_argument("--damping", type=float, default=0.5, help="1 = a full EM step, 0.5 = half (geometric)")
    parser.add_argument("--clip", type=float, default=10.0)
    parser.add_argument("--knobs", action="store_true", help="print mean r in bins of the pen's uniforms")
    parser.add_argument("--check-half", choices=("none", "second"), default="none")
    args = parser.parse_args(argv)
    loaded = load_real(args.data)
    if loaded is None:
        return 2
    images, labels = loaded
    first, second = halves(len(images))["first"], halves(len(images))["second"]
    fit_x, fit_y = flat(images[first]), labels[first]
    check_x, check_y = flat(images[second]), labels[second]
    fitted = {}
    for digit in map(int, args.classes):
        check = check_x[check_y == digit] if args.check_half == "second" else None
        fitted[digit] = round_weights(fit_digit(digit, fit_x[fit_y == digit], check, args))
    print("# weights to paste into ALLOGRAPHS (old -> new)")
    for digit, weights in fitted.items():
        old = [ALLOGRAPHS[digit][n][0] for n in ALLOGRAPHS[digit]]
        print(f"{digit}: " + ", ".join(f"{n} {o:g} -> {w:g}" for n, o, w in zip(ALLOGRAPHS[digit], old, weights)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
