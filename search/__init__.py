"""policy-search library: Markdown ingest, Chinese analysis, Whoosh indexing and querying."""

import os

__version__ = "0.1.0"

# One BLAS thread a process, unless the environment says otherwise (set before numpy loads its
# BLAS, which reads these once). Our matrix products are small (a question against the records'
# vectors, an encoder layer): split over threads they only wait on each other, and under load far
# worse: with OpenBLAS's default of a thread per core, 4 clients on 2 cores took a question that
# needs 4 ms to 50-80 ms and the server's requests/s fell as clients were added. A server gets its
# parallelism from worker processes instead.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
