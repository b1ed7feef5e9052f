#!/usr/bin/python3
"""Float32 TFLite models for the model tests, written with Debian's
python3-flatbuffers directly from the TFLite schema's table layout (no
TensorFlow needed):

  tflite_models.py dense DIR N       input [1, N] -> FULLY_CONNECTED (identity weights x 0.5, bias 0.1) -> [1, N]
  tflite_models.py unsupported DIR N input [1, N] -> SIN -> [1, N] (an operator Arm NN 20.08 does not parse)

Writes DIR/model.tflite.
"""
import os
import sys

import flatbuffers
import numpy as np

# TFLite schema facts used here (schema.fbs): table field slots and enum values.
FULLY_CONNECTED, SIN = 9, 66
FLOAT32 = 0
BUILTIN_OPTIONS_FULLY_CONNECTED = 8  # BuiltinOptions union index of FullyConnectedOptions


def vector(b, items, start, prepend):
    start(b, len(items)) if start else b.StartVector(4, len(items), 4)
    for x in reversed(items):
        prepend(x)
    return b.EndVector()


def ints(b, values):
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependInt32(v)
    return b.EndVector()


def offsets(b, offs):
    b.StartVector(4, len(offs), 4)
    for o in reversed(offs):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def buffer(b, data):
    data_off = None
    if data is not None:
        raw = data.astype("<f4").tobytes()
        b.StartVector(1, len(raw), 16)
        for byte in reversed(raw):
            b.PrependByte(byte)
        data_off = b.EndVector()
    b.StartObject(1)  # Buffer { data: [ubyte] }
    if data_off is not None:
        b.PrependUOffsetTRelativeSlot(0, data_off, 0)
    return b.EndObject()


def tensor(b, shape, buf, name):
    name_off = b.CreateString(name)
    shape_off = ints(b, shape)
    b.StartObject(4)  # Tensor { shape, type, buffer, name, ... }
    b.PrependUOffsetTRelativeSlot(0, shape_off, 0)
    b.PrependInt8Slot(1, FLOAT32, -1)
    b.PrependUint32Slot(2, buf, 0xFFFFFFFF)
    b.PrependUOffsetTRelativeSlot(3, name_off, 0)
    return b.EndObject()


def main():
    kind, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    b = flatbuffers.Builder(1024)
    if kind == "dense":
        weights = (np.eye(n) * 0.5).astype(np.float32)
        bias = np.full((n,), 0.1, dtype=np.float32)
        bufs = [buffer(b, None), buffer(b, None), buffer(b, weights), buffer(b, bias), buffer(b, None)]
        tensors = [tensor(b, [1, n], 1, "x"), tensor(b, [n, n], 2, "w"), tensor(b, [n], 3, "b"),
                   tensor(b, [1, n], 4, "y")]
        op_inputs, op_output, opcode = [0, 1, 2], 3, FULLY_CONNECTED
        b.StartObject(4)  # FullyConnectedOptions { fused_activation_function, weights_format, keep_num_dims, ... }
        b.PrependInt8Slot(0, 0, 0)
        options = b.EndObject()
        options_type = BUILTIN_OPTIONS_FULLY_CONNECTED
    elif kind == "unsupported":
        bufs = [buffer(b, None), buffer(b, None), buffer(b, None)]
        tensors = [tensor(b, [1, n], 1, "x"), tensor(b, [1, n], 2, "y")]
        op_inputs, op_output, opcode = [0], 1, SIN
        options, options_type = None, 0
    else:
        sys.exit("unknown kind " + kind)
    inputs_off, outputs_off = ints(b, op_inputs), ints(b, [op_output])
    b.StartObject(7)  # Operator { opcode_index, inputs, outputs, builtin_options_type, builtin_options, ... }
    b.PrependUint32Slot(0, 0, 0)
    b.PrependUOffsetTRelativeSlot(1, inputs_off, 0)
    b.PrependUOffsetTRelativeSlot(2, outputs_off, 0)
    if options is not None:
        b.PrependUint8Slot(3, options_type, 0)
        b.PrependUOffsetTRelativeSlot(4, options, 0)
    operator = b.EndObject()
    sg_tensors, sg_inputs, sg_outputs = offsets(b, tensors), ints(b, [0]), ints(b, [op_output])
    sg_ops, sg_name = offsets(b, [operator]), b.CreateString("main")
    b.StartObject(5)  # SubGraph { tensors, inputs, outputs, operators, name }
    b.PrependUOffsetTRelativeSlot(0, sg_tensors, 0)
    b.PrependUOffsetTRelativeSlot(1, sg_inputs, 0)
    b.PrependUOffsetTRelativeSlot(2, sg_outputs, 0)
    b.PrependUOffsetTRelativeSlot(3, sg_ops, 0)
    b.PrependUOffsetTRelativeSlot(4, sg_name, 0)
    subgraph = b.EndObject()
    b.StartObject(4)  # OperatorCode { builtin_code (byte; deprecated_builtin_code since 2.4), custom_code, version, builtin_code (int) }
    b.PrependInt8Slot(0, opcode, 0)
    b.PrependInt32Slot(2, 1, 1)
    b.PrependInt32Slot(3, opcode, 0)
    opcode_off = b.EndObject()
    m_codes, m_subgraphs, m_buffers = offsets(b, [opcode_off]), offsets(b, [subgraph]), offsets(b, bufs)
    m_desc = b.CreateString("edgeflow test model")
    b.StartObject(5)  # Model { version, operator_codes, subgraphs, description, buffers }
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(1, m_codes, 0)
    b.PrependUOffsetTRelativeSlot(2, m_subgraphs, 0)
    b.PrependUOffsetTRelativeSlot(3, m_desc, 0)
    b.PrependUOffsetTRelativeSlot(4, m_buffers, 0)
    model = b.EndObject()
    b.Finish(model, file_identifier=b"TFL3")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "model.tflite"), "wb") as f:
        f.write(b.Output())


if __name__ == "__main__":
    main()
