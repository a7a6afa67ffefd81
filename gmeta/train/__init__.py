"""``gm.train``: Saver, MetaGraph export/import and checkpoint helpers (tf.compat.v1.train)."""

from gmeta.framework.meta_graph import register_proto_function  # noqa: F401
from gmeta.train.checkpoint_management import (  # noqa: F401
    checkpoint_exists, get_checkpoint_state, latest_checkpoint, meta_graph_filename,
    update_checkpoint_state,
)
from gmeta.train.device_setter import replica_device_setter  # noqa: F401
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

# Optimizers and learning-rate schedules
from gmeta.train.optimizer import Optimizer  # noqa: F401,E402
from gmeta.train.gradient_descent import GradientDescentOptimizer  # noqa: F401,E402
from gmeta.train.momentum import MomentumOptimizer  # noqa: F401,E402
from gmeta.train.adam import AdamOptimizer  # noqa: F401,E402
from gmeta.train.rmsprop import RMSPropOptimizer  # noqa: F401,E402
from gmeta.train.adagrad import AdagradOptimizer  # noqa: F401,E402
from gmeta.train.adadelta import AdadeltaOptimizer  # noqa: F401,E402
from gmeta.train.learning_rate_decay import (  # noqa: F401,E402
    cosine_decay, exponential_decay, inverse_time_decay, natural_exp_decay, piecewise_constant,
    polynomial_decay,
)
