"""Interest segments: online k-means of users' category-affinity vectors + a recommender.

Vectors are affinity dicts scaled to unit length, so a user's shape of interest counts, not
how much they browse (and the profile's time decay, a common factor, drops out).

River's ``cluster.KMeans`` was measured on the synthetic clickstream (``bench/``; 2000 users,
4 runs of 30-120 days, k=6/8): with its default ``sigma=1`` it collapses to 1-5 clusters
(purity 0.17-0.82 against the planted groups); with ``sigma=0.1`` it reaches 0.97-0.999, but
its ``predict_one`` writes random coordinates for categories a centre has not seen, in an
order set by string hashing, so scoring mutates the model and differs between processes:
unfit for one learner publishing snapshots to many scorers. This is a small MacQueen online
k-means instead (purity 0.96-0.999 on the same runs): the first ``init_size`` vectors are
buffered and seeded with the best of ``n_init`` k-means++ + Lloyd runs, then each vector
moves its nearest centre by ``max(1 / n, min_rate)`` (``min_rate`` lets centres follow
drift). Assigning is read-only and deterministic.

Pure: no Faust, no I/O. Plain dicts and lists, so models tolerate new categories and travel
as data (``to_data`` / ``from_data``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from hashlib import blake2b
from typing import Any

from online_models import modeldata as md

Vector = dict[str, float]
_SCHEMA = 1
MAX_CATEGORIES = 20_000  # categories one vector of a snapshot may carry
# Labels reach segment columns of 128 characters (streams/storage/schema.py) and the
# segment-changes topic; a longer label is cut deterministically (see fit_label).
MAX_LABEL_CHARS = 128


def fit_label(label: str, limit: int = MAX_LABEL_CHARS) -> str:
    """``label`` itself when it fits ``limit`` characters, else a deterministic cut of it.

    The cut keeps the head and ends with ``~`` and 8 hex digits of the full label's BLAKE2b
    digest, so two long labels that share their head stay distinct. ``ValueError`` for a
    ``limit`` below 16.

    >>> fit_label("shoes+bags")
    'shoes+bags'
    >>> cut = fit_label("a" * 200 + "+" + "b" * 200)
    >>> len(cut), cut[:3], cut[-9] == "~", cut == fit_label("a" * 200 + "+" + "b" * 200)
    (128, 'aaa', True, True)
    """
    if limit < 16:
        raise ValueError(f"limit must be >= 16, got {limit}")
    if len(label) <= limit:
        return label
    digest = blake2b(label.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    return f"{label[:limit - 9]}~{digest}"


def normalize(affinity: dict[str, float]) -> Vector:
    """Scale the positive part of an affinity dict to unit L2 length (empty stays empty).

    Examples
    --------
    >>> normalize({"shoes": 3.0, "bags": 4.0, "toys": 0.0})
    {'shoes': 0.6, 'bags': 0.8}
    """
    positive = {k: float(v) for k, v in affinity.items() if v > 0 and math.isfinite(v)}
    norm = math.sqrt(sum(v * v for v in positive.values()))
    return {k: v / norm for k, v in positive.items()} if norm > 0 else {}


def _sq_distance(x: Vector, centre: Vector) -> float:
    total = sum(v * v for k, v in centre.items() if k not in x)
    return total + sum((v - centre.get(k, 0.0)) ** 2 for k, v in x.items())


# Nearest-centre search by ``|x|^2 + |c|^2 - 2 x.c`` (cached ``|c|^2``, only x's keys looked
# up) differs from the exact ``_sq_distance`` by rounding only (~1e-15: unit vectors and
# convex combinations of them); centres within this margin of the best are re-ranked exactly,
# so the chosen centre is always the one the exact search picks.
_NEAR_TIE = 1e-9


def _sq_norm(v: Vector) -> float:
    return sum(w * w for w in v.values())


class _CentreIndex:
    """Derived from the centres, for a fast nearest search: ``|c|^2`` of every centre and, per
    category, ``-2 c[category]`` of every centre (0.0 where a centre lacks it)."""

    def __init__(self, centres: list[Vector]) -> None:
        self.norms = [_sq_norm(c) for c in centres]
        self.columns: dict[str, list[float]] = {}
        for i, centre in enumerate(centres):
            self._set(i, centre)

    def _set(self, i: int, centre: Vector) -> None:
        columns, n = self.columns, len(self.norms)
        for key, value in centre.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = [0.0] * n
            column[i] = -2.0 * value

    def update(self, i: int, centre: Vector) -> None:
        """Centre ``i`` changed."""
        self.norms[i] = _sq_norm(centre)
        for column in self.columns.values():
            column[i] = 0.0
        self._set(i, centre)

    def nearest(self, x: Vector, centres: list[Vector]) -> int:
        """The index ``min(range(len(centres)), key=_sq_distance to x)`` picks: approximate
        distances (``- |x|^2``) first, exact ones only for near ties."""
        approx, columns = self.norms, self.columns
        for key, value in x.items():
            column = columns.get(key)
            if column is not None:
                approx = [a + value * c for a, c in zip(approx, column, strict=True)]
        best = min(approx)
        near = [i for i, d in enumerate(approx) if d <= best + _NEAR_TIE]
        if len(near) == 1:
            return near[0]
        return min(near, key=lambda i: _sq_distance(x, centres[i]))


def _mean(points: list[Vector]) -> Vector:
    out: Vector = {}
    for p in points:
        for k, v in p.items():
            out[k] = out.get(k, 0.0) + v / len(points)
    return out


class _Popularity:
    """Decayed category popularity (sum of unit vectors, halved every ``halflife`` updates)."""

    def __init__(self, halflife: float) -> None:
        self.decay = 0.5 ** (1.0 / halflife)
        self.weights: Vector = {}

    def update(self, x: Vector) -> None:
        w = {k: v * self.decay for k, v in self.weights.items() if v * self.decay > 1e-6}
        for k, v in x.items():
            w[k] = w.get(k, 0.0) + v
        self.weights = w

    def top(self, exclude: set[str], k: int) -> list[str]:
        ranked = sorted(self.weights.items(), key=lambda kv: (-kv[1], kv[0]))
        return [cat for cat, _ in ranked if cat not in exclude][:k]


def _vector(value: Any, path: str) -> Vector:
    return md.num_map(value, path, max_len=MAX_CATEGORIES, lo=0)


def _excluded(affinity: dict[str, float], exclude: Iterable[str]) -> set[str]:
    return {k for k, v in affinity.items() if v > 0} | set(exclude)


class GlobalPopularity:
    """Baseline recommender: the most popular categories (decayed) the user has not touched.

    Parameters
    ----------
    halflife
        Learned vectors after which an old vector's weight is halved.

    Examples
    --------
    >>> pop = GlobalPopularity()
    >>> pop.recommend({"shoes": 1.0})
    []
    >>> for a in ({"shoes": 2.0, "bags": 1.0}, {"bags": 1.0}, {"toys": 1.0}):
    ...     pop.learn_one(a)
    >>> pop.recommend({"shoes": 1.0}, k=2)
    ['bags', 'toys']
    """

    def __init__(self, *, halflife: float = 5000.0) -> None:
        if not halflife > 0:
            raise ValueError(f"halflife must be > 0, got {halflife}")
        self.halflife = halflife
        self._pop = _Popularity(halflife)

    def learn_one(self, affinity: dict[str, float]) -> None:
        """Count one user's normalized affinity vector (empty vectors are ignored).

        >>> GlobalPopularity().learn_one({"shoes": 2.0})
        """
        x = normalize(affinity)
        if x:
            self._pop.update(x)

    def recommend(
        self, affinity: dict[str, float], k: int = 3, *, exclude: Iterable[str] = ()
    ) -> list[str]:
        """Up to ``k`` popular categories absent from ``affinity`` and ``exclude``.

        >>> GlobalPopularity().recommend({"bags": 3.0}, k=1, exclude=["toys"])
        []
        """
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        return self._pop.top(_excluded(affinity, exclude), k)

    def to_data(self) -> dict[str, Any]:
        """The recommender as data: half-life and decayed weights.

        >>> pop = GlobalPopularity(halflife=10.0)
        >>> pop.learn_one({"shoes": 2.0})
        >>> pop.to_data()
        {'kind': 'popularity', 'schema': 1, 'halflife': 10.0, 'weights': {'shoes': 1.0}}
        """
        return md.header("popularity", _SCHEMA, halflife=self.halflife,
                         weights=dict(self._pop.weights))

    @classmethod
    def from_data(cls, d: Any) -> GlobalPopularity:
        """The recommender of :meth:`to_data`, checked.

        >>> GlobalPopularity.from_data({"kind": "popularity", "schema": 1, "halflife": 5.0,
        ...                             "weights": {"bags": 2.0}}).recommend({}, k=1)
        ['bags']
        """
        d = md.check_header(d, "popularity", _SCHEMA)
        pop = cls(halflife=md.num(d.get("halflife"), "popularity.halflife"))
        pop._pop.weights = _vector(d.get("weights"), "popularity.weights")
        return pop


class InterestModel:
    """Online k-means of normalized affinity vectors, with labels and a recommender.

    Parameters
    ----------
    k
        Number of interest segments.
    init_size
        Vectors buffered before the centres are seeded (k-means++ + Lloyd); until then
        :meth:`assign` returns ``None``.
    n_init
        k-means++ restarts on the buffer; the one with the lowest inertia is kept.
    min_rate
        Floor of a centre's learning rate (``1/n`` otherwise), so centres follow drift.
    halflife
        Learned vectors of a cluster after which its popularity counts are halved.
    seed
        Random seed of the k-means++ seeding.

    Examples
    --------
    >>> m = InterestModel(k=2, init_size=4)
    >>> m.assign({"shoes": 1.0}) is None  # before any learning
    True
    >>> for a in [{"shoes": 3, "bags": 1}, {"phones": 2, "laptops": 2}] * 3:
    ...     m.learn_one(a)
    >>> m.assign({"shoes": 1.0}) != m.assign({"laptops": 1.0})
    True
    >>> m.label(m.assign({"shoes": 5, "hats": 1}))
    'shoes+bags'
    >>> m.recommend({"shoes": 1.0}, k=1)
    ['bags']
    >>> m.recommend({"shoes": 1.0})  # the cluster has one more, global popularity fills in
    ['bags', 'laptops', 'phones']
    >>> InterestModel.from_data(m.to_data()).recommend({"phones": 1.0}, k=1)
    ['laptops']
    """

    def __init__(
        self,
        *,
        k: int = 8,
        init_size: int = 300,
        n_init: int = 5,
        min_rate: float = 0.002,
        halflife: float = 2000.0,
        seed: int = 42,
    ) -> None:
        if k < 1 or init_size < k or n_init < 1 or not 0 < min_rate <= 1 or halflife <= 0:
            raise ValueError(
                "need k >= 1, init_size >= k, n_init >= 1, 0 < min_rate <= 1, halflife > 0; got "
                f"k={k} init_size={init_size} n_init={n_init} min_rate={min_rate} "
                f"halflife={halflife}"
            )
        self.k, self.init_size, self.n_init, self.seed = k, init_size, n_init, seed
        self.min_rate, self.halflife = min_rate, halflife
        self.centres: list[Vector] = []
        self.counts: list[int] = []
        self._buffer: list[Vector] = []
        self._popularity: list[_Popularity] = []
        self._global = GlobalPopularity(halflife=halflife * k)
        self._index: _CentreIndex | None = None  # derived from centres (see _centre_index)
        self._labels: dict[tuple[int, int], str] = {}  # derived from centres

    def _kmeans(self, rng: random.Random) -> tuple[float, list[Vector]]:
        points = self._buffer
        centres = [rng.choice(points)]
        # k-means++: far points are likelier seeds. d[i] is point i's distance to its nearest
        # centre so far, kept up to date with each new centre (the same values as taking the
        # min over every centre again).
        d = [_sq_distance(p, centres[0]) for p in points]
        while len(centres) < self.k:
            centre = rng.choices(points, d)[0] if sum(d) > 0 else rng.choice(points)
            centres.append(centre)
            if len(centres) < self.k:
                d = [min(old, _sq_distance(p, centre)) for old, p in zip(d, points, strict=True)]
        previous: list[int] | None = None
        for _ in range(15):  # Lloyd passes on the buffer
            index = _CentreIndex(centres)
            nearest = [index.nearest(p, centres) for p in points]
            if nearest == previous:  # the same groups give the same centres: converged
                break
            previous = nearest
            groups: list[list[Vector]] = [[] for _ in centres]
            for p, i in zip(points, nearest, strict=True):
                groups[i].append(p)
            centres = [_mean(g) if g else c for g, c in zip(groups, centres, strict=True)]
        index = _CentreIndex(centres)  # each point's distance to its nearest centre
        inertia = sum(_sq_distance(p, centres[index.nearest(p, centres)]) for p in points)
        return inertia, centres

    def _seed(self) -> None:
        rng = random.Random(self.seed)
        runs = [self._kmeans(rng) for _ in range(self.n_init)]
        self.centres = min(runs, key=lambda run: run[0])[1]
        self.counts = [0] * self.k
        self._popularity = [_Popularity(self.halflife) for _ in self.centres]
        self._index, self._labels = None, {}
        for p in self._buffer:
            self._learn_seeded(p)
        self._buffer = []

    @staticmethod
    def _nearest(x: Vector, centres: list[Vector]) -> int:
        return min(range(len(centres)), key=lambda i: _sq_distance(x, centres[i]))

    def _centre_index(self) -> _CentreIndex:
        index = self._index
        if index is None or len(index.norms) != len(self.centres):
            index = self._index = _CentreIndex(self.centres)
            self._labels = {}
        return index

    def _nearest_centre(self, x: Vector) -> int:
        """``_nearest(x, self.centres)``, faster (same result, see ``_NEAR_TIE``)."""
        return self._centre_index().nearest(x, self.centres)

    def _learn_seeded(self, x: Vector) -> None:
        c = self._nearest_centre(x)
        self.counts[c] += 1
        rate = max(1.0 / self.counts[c], self.min_rate)
        centre = self.centres[c]
        for key in [*centre, *(key for key in x if key not in centre)]:  # stable order
            value = centre.get(key, 0.0) + rate * (x.get(key, 0.0) - centre.get(key, 0.0))
            if value > 1e-4:
                centre[key] = value
            else:
                centre.pop(key, None)
        self._centre_index().update(c, centre)
        self._labels = {}
        self._popularity[c].update(x)

    def learn_one(self, affinity: dict[str, float]) -> None:
        """Learn one user's affinity vector (empty vectors are ignored).

        >>> InterestModel().learn_one({"shoes": 1.0, "bags": 1.0})
        """
        x = normalize(affinity)
        if not x:
            return
        self._global.learn_one(x)
        if self.centres:
            self._learn_seeded(x)
            return
        self._buffer.append(x)
        if len(self._buffer) >= self.init_size:
            self._seed()

    def assign(self, affinity: dict[str, float]) -> int | None:
        """The nearest cluster of an affinity vector; ``None`` if empty or still warming up.

        Examples
        --------
        >>> m = InterestModel(k=1, init_size=1)
        >>> m.assign({"shoes": 1.0}) is None  # warming up
        True
        >>> m.learn_one({"shoes": 1.0})
        >>> m.assign({}) is None, m.assign({"brand-new-category": 1.0})
        (True, 0)
        """
        x = normalize(affinity)
        if not x or not self.centres:
            return None
        return self._nearest_centre(x)

    def label(self, cluster: int, top: int = 2) -> str:
        """A readable name from the ``top`` heaviest categories of a cluster's centre.

        At most ``MAX_LABEL_CHARS`` characters (longer ones are cut by :func:`fit_label`).

        ``ValueError`` if ``cluster`` is not a cluster of the model.

        Examples
        --------
        >>> m = InterestModel(k=1, init_size=1)
        >>> m.learn_one({"shoes": 3.0, "bags": 2.0, "toys": 1.0})
        >>> m.label(0), m.label(0, top=3)
        ('shoes+bags', 'shoes+bags+toys')
        """
        if not 0 <= cluster < len(self.centres):
            raise ValueError(f"unknown cluster {cluster!r}; the model has {len(self.centres)}")
        self._centre_index()  # resets the labels of a model whose centres were replaced
        label = self._labels.get((cluster, top))
        if label is None:
            ranked = sorted(self.centres[cluster].items(), key=lambda kv: (-kv[1], kv[0]))
            label = fit_label("+".join(cat for cat, _ in ranked[:top]) or f"cluster-{cluster}")
            self._labels[(cluster, top)] = label
        return label

    def recommend(
        self, affinity: dict[str, float], k: int = 3, *, exclude: Iterable[str] = ()
    ) -> list[str]:
        """Up to ``k`` categories the user has not touched that their cluster likes.

        Falls back to global popularity when the cluster offers fewer than ``k`` (or the
        user has no cluster yet); categories in ``affinity`` or ``exclude`` never appear.

        Examples
        --------
        >>> InterestModel().recommend({"shoes": 1.0})  # nothing learned yet
        []
        """
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        seen = _excluded(affinity, exclude)
        cluster = self.assign(affinity)
        picks = [] if cluster is None else self._popularity[cluster].top(seen, k)
        if len(picks) < k:
            picks += self._global.recommend({}, k - len(picks), exclude=seen | set(picks))
        return picks

    def to_data(self) -> dict[str, Any]:
        """The model as data: configuration, centres, their counts and popularity, the
        seeding buffer (while warming up) and the global popularity.

        >>> m = InterestModel(k=1, init_size=1)
        >>> m.learn_one({"shoes": 1.0})
        >>> d = m.to_data()
        >>> d["centres"], d["counts"], d["buffer"]
        ([{'shoes': 1.0}], [1], [])
        """
        return md.header(
            "interest", _SCHEMA,
            config={"k": self.k, "init_size": self.init_size, "n_init": self.n_init,
                    "min_rate": self.min_rate, "halflife": self.halflife, "seed": self.seed},
            centres=[dict(c) for c in self.centres], counts=list(self.counts),
            popularity=[dict(p.weights) for p in self._popularity],
            buffer=[dict(v) for v in self._buffer], everyone=self._global.to_data(),
        )

    @classmethod
    def from_data(cls, d: Any) -> InterestModel:
        """The model of :meth:`to_data`, checked (``ValueError`` on anything malformed).

        >>> m = InterestModel(k=1, init_size=1)
        >>> m.learn_one({"shoes": 1.0})
        >>> InterestModel.from_data(m.to_data()).label(0)
        'shoes'
        >>> InterestModel.from_data({**m.to_data(), "counts": [1, 2]})
        Traceback (most recent call last):
        ...
        ValueError: interest: centres, counts and popularity must be k long (or all empty)
        """
        d = md.check_header(d, "interest", _SCHEMA)
        c = md.obj(d.get("config"), "interest.config")
        model = cls(k=md.integer(c.get("k"), "interest.k", hi=10_000),
                    init_size=md.integer(c.get("init_size"), "interest.init_size", hi=1 << 20),
                    n_init=md.integer(c.get("n_init"), "interest.n_init", hi=1000),
                    min_rate=md.num(c.get("min_rate"), "interest.min_rate"),
                    halflife=md.num(c.get("halflife"), "interest.halflife"),
                    seed=md.integer(c.get("seed"), "interest.seed", lo=-(1 << 62), hi=1 << 62))
        centres = [_vector(v, "interest.centres[]") for v in md.seq(d.get("centres"),
                                                                    "interest.centres")]
        counts = [md.integer(n, "interest.counts[]") for n in md.seq(d.get("counts"),
                                                                     "interest.counts")]
        popularity = [_vector(v, "interest.popularity[]")
                      for v in md.seq(d.get("popularity"), "interest.popularity")]
        lengths = {len(centres), len(counts), len(popularity)}
        if lengths != {model.k} and lengths != {0}:
            raise ValueError("interest: centres, counts and popularity must be k long "
                             "(or all empty)")
        buffer = [_vector(v, "interest.buffer[]") for v in md.seq(
            d.get("buffer"), "interest.buffer", max_len=model.init_size - 1)]
        if centres and buffer:
            raise ValueError("interest: a seeded model has no buffer")
        model.centres, model.counts, model._buffer = centres, counts, buffer
        for weights in popularity:
            pop = _Popularity(model.halflife)
            pop.weights = weights
            model._popularity.append(pop)
        model._global = GlobalPopularity.from_data(d.get("everyone"))
        return model
