"""V2 checkpoints (TensorFlow's tensor bundles) without TensorFlow.

- :mod:`~gmeta.checkpoint.table`: the LevelDB-format SSTable of the ``.index`` file.
- :mod:`~gmeta.checkpoint.writer`: :class:`BundleWriter` (``add``, ``add_slice``, ``finish``:
  temporaries, fsync, rename) and :func:`merge_bundles` (sharded saves).
- :mod:`~gmeta.checkpoint.bundle`: :class:`BundleReader` (``keys``, ``entry``,
  ``shape_and_dtype``, ``read``, ``read_many``, ``read_slice``) and the file-name helpers.
- :mod:`~gmeta.checkpoint.slices`: partitioned-variable slices and their bundle keys.
- :mod:`~gmeta.checkpoint.reader`: TF's Python reading API (``NewCheckpointReader``,
  ``list_variables``, ``load_variable``, ``load_checkpoint``, ``checkpoint_exists``).
- :mod:`~gmeta.checkpoint.crc32c`: CRC32C and TF's masking.

What gmeta writes is byte-identical to what TF 2.21 writes for the same tensors added in the
same order (``tests/checkpoint/test_ckpt_tf_fixtures.py``).
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
