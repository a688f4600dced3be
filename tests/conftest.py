"""Suite-wide settings.

One torch thread: the tests run on small shared 2-core machines, where a second intra-op
thread measured 2x (idle machine) to 4x (busy one) slower for the 135M model's decode steps.
Set before any test imports torch, which reads it once; an explicit setting wins.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
