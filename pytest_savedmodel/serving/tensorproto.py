"""numpy <-> TensorProto, shared by the gRPC runner (client) and the emulator (server).

Encoding uses typed repeated fields (``float_val``, ``int64_val``, ``string_val``...),
one entry per element, the way TF Serving writes responses and careful clients
write requests; ``tensor_content`` is used only when asked. Scalars keep an
empty-but-present ``tensor_shape``. TensorFlow is imported when a function runs.

float, double and bool values are filled as one packed field parsed from the array's bytes (the message is
the one ``extend`` would build, at memcpy speed), not element by element.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from pytest_savedmodel.exwire import varint

__all__ = ["from_proto", "to_proto"]

# DataType enum -> the typed field TF's Tensor::AsProtoField fills
_TYPED_FIELD = {
    1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val", 6: "int_val", 7: "string_val",
    8: "scomplex_val", 9: "int64_val", 10: "bool_val", 17: "int_val", 18: "dcomplex_val", 19: "half_val",
    22: "uint32_val", 23: "uint64_val",
}


# typed field -> (tag byte of its packed encoding, little-endian numpy dtype of its elements)
_PACKED = {"float_val": (0x2A, "<f4"), "double_val": (0x32, "<f8"), "bool_val": (0x5A, "u1")}


@functools.cache
def _enum_of(dtype: np.dtype[Any]) -> int:
    import tensorflow as tf

    return int(tf.as_dtype(dtype).as_datatype_enum)


@functools.cache
def _numpy_of(dtype_enum: int) -> Any:
    import tensorflow as tf

    return tf.dtypes.as_dtype(dtype_enum).as_numpy_dtype


def to_proto(value: Any, *, dtype_enum: int | None = None, as_content: bool = False, out: Any = None) -> Any:
    """``value`` as a TensorProto of ``dtype_enum`` (default: the array's own dtype); written into ``out`` (an
    empty TensorProto, e.g. ``response.outputs[alias]``) when given, which saves a copy."""
    from tensorflow.core.framework import tensor_pb2

    arr = np.asarray(value)
    if dtype_enum is None:
        dtype_enum = 7 if arr.dtype.kind in "OSU" else _enum_of(arr.dtype)
    if dtype_enum != 7 and arr.dtype.kind not in "OSU":
        arr = arr.astype(_numpy_of(dtype_enum), copy=False)
    field = _TYPED_FIELD.get(dtype_enum)
    if as_content or field is None:
        import tensorflow as tf

        made = tf.make_tensor_proto(arr, dtype=tf.dtypes.as_dtype(dtype_enum))
        if out is None:
            return made
        out.CopyFrom(made)
        return out
    proto = tensor_pb2.TensorProto() if out is None else out
    proto.dtype = dtype_enum
    proto.tensor_shape.SetInParent()
    for d in arr.shape:
        proto.tensor_shape.dim.add(size=int(d))
    flat = arr.reshape(-1)
    target = getattr(proto, field)
    packed = _PACKED.get(field)
    if packed is not None:
        if flat.size:
            data = flat.astype(packed[1], copy=False).tobytes()
            proto.MergeFromString(bytes([packed[0]]) + varint(len(data)) + data)
    elif field == "string_val":
        target.extend(v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat)
    elif field == "half_val":
        target.extend(int(v) for v in flat.astype(np.float16).view(np.uint16))
    elif field in ("scomplex_val", "dcomplex_val"):
        target.extend(float(x) for v in flat for x in (v.real, v.imag))
    else:  # tolist() gives exact Python bools, floats (float32 values widen exactly) and ints, fast
        target.extend(flat.tolist())
    return proto


# The common typed fields read without TensorFlow's MakeNdarray: dtype enum -> (field, numpy dtype)
_FAST = {1: ("float_val", np.float32), 2: ("double_val", np.float64), 3: ("int_val", np.int32),
         9: ("int64_val", np.int64), 10: ("bool_val", np.bool_)}


def from_proto(proto: Any) -> np.ndarray:
    """A TensorProto (typed fields or tensor_content) as numpy with the proto's dtype.

    One value per element in the typed field (how TF Serving and our runners write them) is read directly;
    everything else (tensor_content, a single value broadcast, padding, other dtypes) goes through TF's
    ``make_ndarray``, so the semantics are TensorFlow's.
    """
    fast = _FAST.get(proto.dtype)
    if fast is not None and not proto.tensor_content and not proto.tensor_shape.unknown_rank:
        shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
        values = getattr(proto, fast[0])
        if all(d >= 0 for d in shape) and len(values) == math.prod(shape):
            return np.asarray(values, dtype=fast[1]).reshape(shape)
    import tensorflow as tf

    return np.asarray(tf.make_ndarray(proto))
