"""gmeta: TensorFlow 1.x graphs, MetaGraphs and checkpoints on numpy and CuPy, without TensorFlow.

``import gmeta as tf`` gives the tf.compat.v1 graph API for the common cases::

    import gmeta as tf
    x = tf.placeholder(tf.float32, [None, 3])
    w = tf.Variable(tf.zeros([3, 2]))
    y = tf.matmul(x, w)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(y, {x: [[1.0, 2.0, 3.0]]})
"""

from gmeta import dtypes, errors  # noqa: F401
from gmeta.dtypes import (  # noqa: F401
    DType, as_dtype, bfloat16, bool, complex64, complex128, double, float16, float32, float64,
    half, int8, int16, int32, int64, qint8, qint16, qint32, quint8, quint16, resource, string,
    uint8, uint16, uint32, uint64, variant,
)
from gmeta.framework.ops import (  # noqa: F401
    Graph, GraphKeys, Operation, Tensor, add_to_collection, add_to_collections, colocate_with,
    container, control_dependencies, convert_to_tensor, convert_n_to_tensor, device,
    get_collection, get_collection_ref, get_default_graph, get_name_scope, is_tensor,
    register_tensor_conversion_function, reset_default_graph,
)
from gmeta.framework.ops import name_scope_v1 as name_scope  # noqa: F401
from gmeta.framework.tensor_shape import Dimension, TensorShape  # noqa: F401
from gmeta.devices.spec import DeviceSpec  # noqa: F401
from gmeta.framework.tensor_util import make_ndarray, make_tensor_proto  # noqa: F401
from gmeta.framework.random_seed import set_random_seed  # noqa: F401
from gmeta.ops.constant_op import constant  # noqa: F401
from gmeta.ops.control_flow_ops import (  # noqa: F401
    group, no_op, tuple_ as tuple, with_dependencies,  # noqa: A001 - TF's name
)
from gmeta.ops.variables import (  # noqa: F401
    Variable, VariableAggregation, VariableSynchronization, all_variables, global_variables,
    global_variables_initializer, initialize_all_variables, initialize_variables,
    is_variable_initialized, local_variables, local_variables_initializer, model_variables,
    moving_average_variables, trainable_variables, variables_initializer,
)
from gmeta.ops.random_ops import random_normal, random_uniform, truncated_normal  # noqa: F401
from gmeta.ops.state_ops import assign, assign_add, assign_sub  # noqa: F401
from gmeta.ops.array_ops import *  # noqa: F401,F403,E402
from gmeta.ops.math_ops import *  # noqa: F401,F403,E402
from gmeta.ops.init_ops import *  # noqa: F401,F403,E402
from gmeta.ops.variable_scope import *  # noqa: F401,F403,E402
from gmeta.ops.check_ops import *  # noqa: F401,F403,E402
from gmeta.ops.cond_v1 import *  # noqa: F401,F403,E402
from gmeta.ops.while_v1 import *  # noqa: F401,F403,E402
from gmeta.ops.tensor_array_ops import TensorArray  # noqa: F401,E402
from gmeta.ops.coverage_ops import *  # noqa: F401,F403,E402
from gmeta.ops.embedding_ops import *  # noqa: F401,F403,E402
from gmeta.ops.sparse_ops import *  # noqa: F401,F403,E402
from gmeta.framework.sparse_tensor import SparseTensor, SparseTensorValue  # noqa: F401,E402
import gmeta.ops.conv_shapes  # noqa: F401,E402 - registers shape functions
import gmeta.ops._grad_shapes  # noqa: F401,E402 - registers shape functions
from gmeta.session import InteractiveSession, Session, get_default_session  # noqa: F401
from gmeta import initializers, layers, math, nn, train  # noqa: F401,E402
from gmeta import image, sparse  # noqa: F401,E402
from gmeta import gfile, logging, losses, summary, timeline  # noqa: F401,E402
# The function shadows its package's name on purpose (``tf.gradients(ys, xs)``); later imports of
# gmeta.gradients.* do not rebind it.
from gmeta.gradients import (  # noqa: F401,E402
    AggregationMethod, IndexedSlices, NoGradient, NotDifferentiable, RegisterGradient, gradients,
    no_gradient,
)
from gmeta.framework.importer import import_graph_def  # noqa: F401,E402
from gmeta.proto import (  # noqa: F401,E402
    AttrValue, CollectionDef, ConfigProto, Event, GPUOptions, GraphDef, GraphOptions,
    MetaGraphDef, NodeDef, OpDef, RunMetadata, RunOptions, SaverDef, Summary, TensorProto,
    TensorShapeProto, VariableDef,
)
from gmeta import compat  # noqa: F401,E402
from gmeta import config  # noqa: F401,E402
from gmeta.config import list_devices  # noqa: F401,E402
from gmeta.check import check  # noqa: F401,E402

__version__ = "0.1.0"
