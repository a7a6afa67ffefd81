"""``gm.train``: Saver, MetaGraph export/import and checkpoint helpers (tf.compat.v1.train)."""

from gmeta.framework.meta_graph import register_proto_function  # noqa: F401
from gmeta.train.checkpoint_management import (  # noqa: F401
    checkpoint_exists, get_checkpoint_state, latest_checkpoint, meta_graph_filename,
    update_checkpoint_state,
)
from gmeta.train.saver import Saver, export_meta_graph, import_meta_graph  # noqa: F401
from gmeta.train.training_util import (  # noqa: F401
    create_global_step, get_global_step, get_or_create_global_step, global_step,
)

try:  # the bundle reader API
    from gmeta.checkpoint import (  # noqa: F401
        NewCheckpointReader, list_variables, load_variable,
    )
except ImportError:  # pragma: no cover - while the checkpoint package is being written
    pass
