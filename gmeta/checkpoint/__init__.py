"""V2 checkpoints (TensorFlow's tensor bundles) without TensorFlow.

- :mod:`~gmeta.checkpoint.table`: the LevelDB-format SSTable of the ``.index`` file.
- :mod:`~gmeta.checkpoint.bundle`: :class:`BundleWriter`, :class:`BundleReader`,
  :func:`merge_bundles` and the file naming helpers.
- :mod:`~gmeta.checkpoint.slices`: partitioned-variable slices and their bundle keys.
- :mod:`~gmeta.checkpoint.reader`: TF's Python reading API (``NewCheckpointReader``,
  ``list_variables``, ``load_variable``, ``checkpoint_exists``).
"""

from gmeta.checkpoint.bundle import (BundleReader, BundleWriter, data_filename, index_filename,
                                     merge_bundles)
from gmeta.checkpoint.reader import (CheckpointReader, NewCheckpointReader, checkpoint_exists,
                                     list_variables, load_checkpoint, load_variable)
from gmeta.checkpoint.slices import FULL, TensorSlice, parse_shape_and_slice

__all__ = [
    "BundleReader", "BundleWriter", "CheckpointReader", "FULL", "NewCheckpointReader",
    "TensorSlice", "checkpoint_exists", "data_filename", "index_filename", "list_variables",
    "load_checkpoint", "load_variable", "merge_bundles", "parse_shape_and_slice",
]
