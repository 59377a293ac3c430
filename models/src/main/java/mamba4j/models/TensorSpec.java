package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Quant;
import mamba4j.core.Tensor;
import mamba4j.core.autograd.Parameter;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a checkpoint holds under one name, as a model's name table declares it: the shape in the model
 * ({@code dims}) and in the file ({@code stored}: a conv weight is (C, 1, K) there), whether it keeps its stored
 * dtype (linear weights and embeddings may stay BF16/F16 or be quantised; the rest is read as F32), whether it may be
 * quantised when a quantised weight dtype is asked for at load ({@link #cast}) and whether AdamW decays it.
 */
public record TensorSpec(String name, long[] dims, long[] stored, boolean keepsDtype, boolean decays, boolean quantisable) {
    /** A linear weight or embedding (rows, cols): dtype kept, may be quantised, decayed. */
    public static TensorSpec matrix(String name, long rows, long cols) {
        return new TensorSpec(name, new long[]{rows, cols}, new long[]{rows, cols}, true, true, true);
    }

    /**
     * A small linear weight that stays unquantised when the others are quantised: Mamba-1's x_proj and dt_proj, which
     * llama.cpp's quantiser leaves alone too ("do not quantize Mamba's small yet 2D weights": ssm_x, ssm_dt); dtype
     * otherwise kept, decayed.
     */
    public static TensorSpec smallMatrix(String name, long rows, long cols) {
        return new TensorSpec(name, new long[]{rows, cols}, new long[]{rows, cols}, true, true, false);
    }

    /** A norm weight, bias or SSM parameter: read as F32, not decayed. */
    public static TensorSpec vector(String name, long... dims) { return new TensorSpec(name, dims, dims, false, false, false); }

    /** A weight used by matmul in its stored (in, out) layout (GPT-2's Conv1D), or a learned position table: F32, decayed. */
    public static TensorSpec f32Matrix(String name, long rows, long cols) {
        return new TensorSpec(name, new long[]{rows, cols}, new long[]{rows, cols}, false, true, false);
    }

    /** A depthwise conv weight (C, K), stored (C, 1, K): F32, decayed (as mamba_ssm's optimizer groups). */
    public static TensorSpec conv(String name, long channels, long kernel) {
        return new TensorSpec(name, new long[]{channels, kernel}, new long[]{channels, 1, kernel}, false, true, false);
    }

    /**
     * A linear weight or embedding {@code t} in the weight dtype asked for at load ({@code target}; null keeps it as
     * stored): F32/BF16/F16 convert (a quantised t is dequantised first); Q8_0/Q4_0 quantise by llama.cpp's rule
     * ({@link Quant#quantise}) when {@code quantisable} and the rows are whole blocks of 32 — otherwise t stays as
     * stored, as llama.cpp keeps such tensors (x_proj, dt_proj, rows of other lengths) in their source type.
     */
    public static Tensor cast(Tensor t, DType target, boolean quantisable) {
        if (target == null || t.dtype() == target) return t;
        if (!target.isQuantised()) return t.to(target);
        if (!quantisable || t.rank() != 2 || t.dim(1) % Quant.QK != 0) return t;
        return Quant.quantise(t, target);
    }

    public long numel() {
        long n = 1;
        for (long x : dims) n *= x;
        return n;
    }

    /** The tensor named by this spec in a checkpoint, shape asserted, dtype as the spec says, reshaped to the model's dims. */
    public Tensor read(CheckpointNames names) {
        return (keepsDtype ? names.weight(name, quantisable, stored) : names.f32(name, stored)).reshape(dims);
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
