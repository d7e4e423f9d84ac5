"""Make a classifier from labelled images: datasets, training, evaluation reports and int8 compression.

Training needs PyTorch (`pip install 'aiserve[train]'`); the server never imports this package.
"""

from __future__ import annotations
