"""The private descriptor pool that gmeta's generated ``*_pb2`` modules register into.

gmeta's messages use TensorFlow's full names (``tensorflow.NodeDef``, ``tensorflow.TensorProto``)
so that they are wire- and text-compatible with TensorFlow's. TensorFlow registers those names in
protobuf's default pool, so gmeta keeps its own pool: both can be imported in one process.

Consequences for callers:

- ``google.protobuf.Any`` fields of gmeta messages hold instances of :data:`Any` (this pool's
  class), not ``any_pb2.Any``. ``Pack``/``Unpack`` work as usual.
- ``text_format`` needs ``descriptor_pool=POOL`` to expand or parse ``Any`` payloads; the
  helpers ``gmeta.proto.parse_text`` and ``gmeta.proto.message_to_text`` pass it.
- With the pure-Python protobuf backend (``PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python``),
  protobuf's builder also records generated classes in the default symbol database, so importing
  gmeta and TensorFlow together raises a "Conflict register" TypeError there; the default upb
  backend keeps the pools apart.
"""

from google.protobuf import any_pb2, descriptor_pool, message_factory, wrappers_pb2

POOL = descriptor_pool.DescriptorPool()

# Well-known types that gmeta's .proto files import. They must be in the pool before any
# generated module adds a file that depends on them.
for _wkt in (any_pb2, wrappers_pb2):
    POOL.AddSerializedFile(_wkt.DESCRIPTOR.serialized_pb)
del _wkt

Any = message_factory.GetMessageClass(POOL.FindMessageTypeByName("google.protobuf.Any"))
