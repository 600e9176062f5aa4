"""numpy <-> TensorProto, shared by the gRPC runner (client) and the emulator (server).

Encoding uses typed repeated fields (``float_val``, ``int64_val``, ``string_val``...),
one entry per element, the way TF Serving writes responses and careful clients
write requests; ``tensor_content`` is used only when asked. Scalars keep an
empty-but-present ``tensor_shape``. TensorFlow is imported when a function runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["from_proto", "to_proto"]

# DataType enum -> the typed field TF's Tensor::AsProtoField fills
_TYPED_FIELD = {
    1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val", 6: "int_val", 7: "string_val",
    8: "scomplex_val", 9: "int64_val", 10: "bool_val", 17: "int_val", 18: "dcomplex_val", 19: "half_val",
    22: "uint32_val", 23: "uint64_val",
}


def to_proto(value: Any, *, dtype_enum: int | None = None, as_content: bool = False) -> Any:
    """``value`` as a TensorProto of ``dtype_enum`` (default: the array's own dtype)."""
    import tensorflow as tf
    from tensorflow.core.framework import tensor_pb2

    arr = np.asarray(value)
    if dtype_enum is None:
        dtype_enum = 7 if arr.dtype.kind in "OSU" else tf.as_dtype(arr.dtype).as_datatype_enum
    if dtype_enum != 7 and arr.dtype.kind not in "OSU":
        arr = arr.astype(tf.dtypes.as_dtype(dtype_enum).as_numpy_dtype, copy=False)
    field = _TYPED_FIELD.get(dtype_enum)
    if as_content or field is None:
        return tf.make_tensor_proto(arr, dtype=tf.dtypes.as_dtype(dtype_enum))
    proto = tensor_pb2.TensorProto(dtype=dtype_enum)
    proto.tensor_shape.SetInParent()
    for d in arr.shape:
        proto.tensor_shape.dim.add(size=int(d))
    flat = arr.reshape(-1)
    target = getattr(proto, field)
    if field == "string_val":
        target.extend(v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat)
    elif field == "half_val":
        target.extend(int(v) for v in flat.astype(np.float16).view(np.uint16))
    elif field in ("scomplex_val", "dcomplex_val"):
        target.extend(float(x) for v in flat for x in (v.real, v.imag))
    elif field == "bool_val":
        target.extend(bool(v) for v in flat)
    elif field in ("float_val", "double_val"):
        target.extend(float(v) for v in flat)
    else:
        target.extend(int(v) for v in flat)
    return proto


def from_proto(proto: Any) -> np.ndarray:
    """A TensorProto (typed fields or tensor_content) as numpy with the proto's dtype."""
    import tensorflow as tf

    return np.asarray(tf.make_ndarray(proto))
