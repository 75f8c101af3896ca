"""Deprecated: moved to :mod:`pix2pix.trainer.checkpoint.contents`.

Importing names from here still works, with a DeprecationWarning.
"""

from pix2pix._deprecation import moved_names

__getattr__ = moved_names("pix2pix.trainer.state", {"*": "pix2pix.trainer.checkpoint.contents"})
