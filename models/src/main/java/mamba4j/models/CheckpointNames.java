package mamba4j.models;

import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.CheckpointTensors;

/**
 * Fetches a checkpoint's tensors by name for a loader, asserting shape and dtype with messages naming the tensor and
 * file. {@code weightType}, when not null, is the dtype linear weights and embeddings are converted to as they are read
 * (F32, BF16, F16, or Q8_0/Q4_0 quantised at load: {@link TensorSpec#cast}).
 */
public record CheckpointNames(CheckpointTensors ck, DType weightType) {
    /** Weights as stored. */
    public CheckpointNames(CheckpointTensors ck) { this(ck, null); }

    /** The tensor as stored, after checking it exists with exactly these dimensions. */
    public Tensor raw(String name, long... dims) {
        if (!ck.contains(name))
            throw new UserInputException(ck.source() + ": missing tensor '" + name + "'");
        Shape want = Shape.of(dims), got = ck.shape(name);
        if (!got.equals(want))
            throw new UserInputException(ck.file(name) + ": tensor '" + name + "' has shape " + got + ", expected " + want);
        return ck.get(name);
    }

    /**
     * A matmul/embedding weight: kept as stored when F32/BF16/F16/Q8_0/Q4_0 (widened or dequantised inside the op), F64
     * narrowed to F32; then converted to {@link #weightType} if one is set.
     */
    public Tensor weight(String name, long... dims) { return weight(name, true, dims); }

    /** As {@link #weight(String, long...)}; a tensor that is not {@code quantisable} stays as stored when a quantised weight type is set. */
    public Tensor weight(String name, boolean quantisable, long... dims) {
        Tensor t = raw(name, dims);
        Tensor stored = switch (t.dtype()) {
            case F32, BF16, F16, Q8_0, Q4_0 -> t;
            case F64 -> t.to(DType.F32);
            default -> throw new UserInputException(ck.file(name) + ": tensor '" + name + "' has dtype " + t.dtype() + ", expected a floating or quantised type");
        };
        return TensorSpec.cast(stored, weightType, quantisable);
    }

    /** A small parameter, as an F32 tensor (converted copy unless already F32). */
    public Tensor f32(String name, long... dims) {
        Tensor t = raw(name, dims);
        if (t.dtype().isQuantised()) return t.to(DType.F32);
        if (!t.dtype().isFloating())
            throw new UserInputException(ck.file(name) + ": tensor '" + name + "' has dtype " + t.dtype() + ", expected a floating type");
        return t.dtype() == DType.F32 ? t : t.to(DType.F32);
    }
}
