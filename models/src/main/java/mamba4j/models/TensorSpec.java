package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.autograd.Parameter;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a checkpoint holds under one name, as a model's name table declares it: the shape in the model
 * ({@code dims}) and in the file ({@code stored}: a conv weight is (C, 1, K) there), whether it keeps its stored
 * dtype (linear weights and embeddings may stay BF16/F16; the rest is read as F32) and whether AdamW decays it.
 */
public record TensorSpec(String name, long[] dims, long[] stored, boolean keepsDtype, boolean decays) {
    /** A linear weight or embedding (rows, cols): dtype kept, decayed. */
    public static TensorSpec matrix(String name, long rows, long cols) {
        return new TensorSpec(name, new long[]{rows, cols}, new long[]{rows, cols}, true, true);
    }

    /** A norm weight, bias or SSM parameter: read as F32, not decayed. */
    public static TensorSpec vector(String name, long... dims) { return new TensorSpec(name, dims, dims, false, false); }

    /** A weight used by matmul in its stored (in, out) layout (GPT-2's Conv1D), or a learned position table: F32, decayed. */
    public static TensorSpec f32Matrix(String name, long rows, long cols) {
        return new TensorSpec(name, new long[]{rows, cols}, new long[]{rows, cols}, false, true);
    }

    /** A depthwise conv weight (C, K), stored (C, 1, K): F32, decayed (as mamba_ssm's optimizer groups). */
    public static TensorSpec conv(String name, long channels, long kernel) {
        return new TensorSpec(name, new long[]{channels, kernel}, new long[]{channels, 1, kernel}, false, true);
    }

    public long numel() {
        long n = 1;
        for (long x : dims) n *= x;
        return n;
    }

    /** The tensor named by this spec in a checkpoint, shape asserted, dtype as the spec says, reshaped to the model's dims. */
    public Tensor read(CheckpointNames names) {
        return (keepsDtype ? names.weight(name, stored) : names.f32(name, stored)).reshape(dims);
    }

    /**
     * F32 master copies of {@code values} as trainable parameters on the backend's device, under the names of the
     * matching {@code specs} (both in the name table's order, one entry per distinct tensor).
     */
    public static Map<Tensor, Parameter> parameters(List<Tensor> values, List<TensorSpec> specs, Backend backend) {
        if (values.size() != specs.size())
            throw new IllegalArgumentException(values.size() + " tensors for " + specs.size() + " names");
        Map<Tensor, Parameter> out = new IdentityHashMap<>();
        for (int i = 0; i < values.size(); i++) {
            TensorSpec s = specs.get(i);
            out.put(values.get(i), new Parameter(s.name(), backend.upload(values.get(i).to(DType.F32).copy()), s.decays()));
        }
        return out;
    }
}
