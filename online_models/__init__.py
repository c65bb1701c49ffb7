"""Lifeline's pure models: profiles, churn scorers, labels, segments, the model bundle.

Importing the package sets ``OPENBLAS_NUM_THREADS=1`` unless the environment sets it (it
takes effect when numpy / scipy load OpenBLAS after this import, as in the worker and the
benches). The numeric work here is on tiny arrays (4 BG/NBD parameters, ~20 features): a
pool of BLAS threads only adds wake-ups. On a 2-core machine, SciPy's L-BFGS-B
(``bgnbd.fit``) spent 1.6 ms (idle) to 8 ms (load 6) per iteration waking OpenBLAS threads:
at load 6 the trainer's time in an in-process CDNOW replay of every 20th customer fell from
108 s to 36 s with one thread (``python -m bench.silent_looks --every 20``).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
