"""Progress bars: tqdm's notebook widget where ipywidgets is installed, its text bar elsewhere.

``tqdm.auto`` picks between them, and in a notebook without ipywidgets it also warns, once per
kernel, about the missing widget; the text bar it falls back to works, so the warning is only
noise in every notebook's output.
"""

import warnings

from tqdm import TqdmWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

__all__ = ["tqdm"]
