package mamba4j.models.gguf;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Quant;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.GgufFile;
import mamba4j.io.GgufTokenizer;
import mamba4j.io.GgufValue;
import mamba4j.io.GgufWriter;
import mamba4j.io.JsonConfig;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Model;
import mamba4j.models.mamba1.Mamba1Weights;
import mamba4j.models.mamba2.Mamba2Config;
import mamba4j.models.mamba2.Mamba2Loader;
import mamba4j.models.mamba2.Mamba2Model;
import mamba4j.models.mamba2.Mamba2Weights;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.SequencedMap;
import java.util.function.Supplier;

/**
 * llama.cpp's Mamba-1 ({@code general.architecture = "mamba"}) and Mamba-2 ({@code "mamba2"}) GGUF files, both ways:
 * read as a Hugging Face checkpoint (the {@code config.json} and tensors the converter started from, so every mamba4j
 * command runs them through the usual loaders), and written from a loaded model as llama.cpp's
 * {@code convert_hf_to_gguf.py} writes one. The one mapping, in both directions:
 *
 * <pre>
 * HF name (backbone.layers.N.…)            GGUF name (blk.N.…)     GGUF sizes (ne, fastest first)   transform
 * backbone.embeddings.weight  (V, D)        token_embd.weight       [D, V]
 * norm.weight                 (D)           attn_norm.weight        [D]
 * mixer.in_proj.weight        (I, D)        ssm_in.weight           [D, I]      I = 2E (Mamba-1), 2E+2GN+H (Mamba-2)
 * mixer.conv1d.weight         (C, 1, K)     ssm_conv1d.weight       [K, C]      squeezed
 * mixer.conv1d.bias           (C)           ssm_conv1d.bias         [C]         zeros when the model has none
 * mixer.x_proj.weight         (R+2N, E)     ssm_x.weight            [E, R+2N]   Mamba-1
 * mixer.dt_proj.weight        (E, R)        ssm_dt.weight           [R, E]      Mamba-1
 * mixer.dt_proj.bias          (E)           ssm_dt.bias             [E]         Mamba-1
 * mixer.dt_bias               (H)           ssm_dt.bias             [H]         Mamba-2
 * mixer.A_log                 (E, N) | (H)  ssm_a                   [N, E] | [1, H]   A = −exp(A_log); A_log = log(−A)
 * mixer.D                     (E) | (H)     ssm_d                   [E] | [1, H]
 * mixer.norm.weight           (E)           ssm_norm.weight         [E/G, G]    Mamba-2, grouped
 * mixer.out_proj.weight       (D, E)        ssm_out.weight          [E, D]
 * backbone.norm_f.weight      (D)           output_norm.weight      [D]
 * lm_head.weight              (V, D)        output.weight           [D, V]      absent when tied to token_embd
 * </pre>
 *
 * Matrices keep their dtype (F32, F16, BF16; Q8_0/Q4_0 read through {@link GgufFile#get}); norms, conv, A, D and biases
 * are F32, as the converter stores them. A is recovered exactly: {@link #aLogOf} finds the A_log whose −exp is the
 * stored A in float32, so a file mamba4j wrote gives bit-identical logits. llama.cpp's Mamba-2 normalises the gated
 * output per group, so a GGUF Mamba-2 reads as a per-group-norm model; it applies no {@code time_step_limit}.
 */
public final class MambaGguf {
    private MambaGguf() {}

    public static final String ARCH = "general.architecture";

    /** A GGUF file as a Hugging Face checkpoint: the config.json it corresponds to and its tensors under HF names. */
    public record Checkpoint(JsonConfig config, CheckpointTensors tensors) {}

    /**
     * Opens a llama.cpp Mamba-1 or Mamba-2 GGUF file as a Hugging Face checkpoint (the file stays mapped until the
     * tensors are closed).
     *
     * @throws UserInputException naming the file and the key or tensor at fault
     */
    public static Checkpoint open(Path file) {
        GgufFile f = GgufFile.open(file);
        try {
            String arch = f.string(ARCH);
            return switch (arch) {
                case "mamba" -> mamba1(f);
                case "mamba2" -> mamba2(f);
                default -> throw new UserInputException("GGUF file " + f.path() + ": '" + ARCH + "' is \"" + arch
                        + "\"; mamba4j runs llama.cpp's \"mamba\" (Mamba-1) and \"mamba2\" (Mamba-2) files");
            };
        } catch (RuntimeException | Error e) {
            f.close();
            throw e;
        }
    }

    // ------------------------------------------------------------------ read

    private static Checkpoint mamba1(GgufFile f) {
        String a = "mamba.";
        int d = positive(f, a + "embedding_length"), layers = positive(f, a + "block_count"), k = positive(f, a + "ssm.conv_kernel");
        int e = positive(f, a + "ssm.inner_size"), n = positive(f, a + "ssm.state_size"), r = positive(f, a + "ssm.time_step_rank");
        double eps = epsilon(f, a + "attention.layer_norm_rms_epsilon");
        if (f.optBool(a + "ssm.dt_b_c_rms").orElse(false))
            throw new UserInputException("GGUF file " + f.path() + ": '" + a + "ssm.dt_b_c_rms' is true (Falcon-Mamba's RMS norms on dt, B "
                    + "and C), which mamba4j's Mamba-1 does not have");
        if (e % d != 0)
            throw new UserInputException("GGUF file " + f.path() + ": '" + a + "ssm.inner_size' = " + e + " is not a multiple of '"
                    + a + "embedding_length' = " + d);
        Tensors t = new Tensors(f);
        int v = t.rows("token_embd.weight", d);
        boolean tied = !f.contains("output.weight");
        t.put("backbone.embeddings.weight", "token_embd.weight", v, d);
        for (int i = 0; i < layers; i++) {
            String g = "blk." + i + ".", h = "backbone.layers." + i + ".";
            t.put(h + "norm.weight", g + "attn_norm.weight", d);
            t.put(h + "mixer.in_proj.weight", g + "ssm_in.weight", 2L * e, d);
            t.put(h + "mixer.conv1d.weight", g + "ssm_conv1d.weight", e, k).reshape(e, 1, k);
            t.put(h + "mixer.conv1d.bias", g + "ssm_conv1d.bias", e);
            t.put(h + "mixer.x_proj.weight", g + "ssm_x.weight", r + 2L * n, e);
            t.put(h + "mixer.dt_proj.weight", g + "ssm_dt.weight", e, r);
            t.put(h + "mixer.dt_proj.bias", g + "ssm_dt.bias", e);
            t.aLog(h + "mixer.A_log", g + "ssm_a", e, n);
            t.put(h + "mixer.D", g + "ssm_d", e);
            t.put(h + "mixer.out_proj.weight", g + "ssm_out.weight", d, e);
        }
        t.put("backbone.norm_f.weight", "output_norm.weight", d);
        if (!tied) t.put("lm_head.weight", "output.weight", v, d);

        ObjectNode c = JsonNodeFactory.instance.objectNode();
        c.put("model_type", "mamba");
        c.put("vocab_size", v).put("hidden_size", d).put("state_size", n).put("num_hidden_layers", layers).put("expand", e / d);
        c.put("conv_kernel", k).put("time_step_rank", r).put("use_bias", false).put("use_conv_bias", true);
        c.put("layer_norm_epsilon", eps).put("tie_word_embeddings", tied);
        eos(f, c);
        return t.checkpoint(c);
    }

    private static Checkpoint mamba2(GgufFile f) {
        String a = "mamba2.";
        int d = positive(f, a + "embedding_length"), layers = positive(f, a + "block_count"), k = positive(f, a + "ssm.conv_kernel");
        int e = positive(f, a + "ssm.inner_size"), n = positive(f, a + "ssm.state_size"), h = positive(f, a + "ssm.time_step_rank");
        int g = positive(f, a + "ssm.group_count");
        double eps = epsilon(f, a + "attention.layer_norm_rms_epsilon");
        String at = "GGUF file " + f.path() + ": ";
        if (e % d != 0)
            throw new UserInputException(at + "'" + a + "ssm.inner_size' = " + e + " is not a multiple of '" + a + "embedding_length' = " + d);
        if (e % h != 0)
            throw new UserInputException(at + "'" + a + "ssm.inner_size' = " + e + " is not a multiple of '" + a + "ssm.time_step_rank' = "
                    + h + " (the number of heads)");
        if (h % g != 0)
            throw new UserInputException(at + "'" + a + "ssm.time_step_rank' = " + h + " heads are not a multiple of '" + a
                    + "ssm.group_count' = " + g);
        long conv = e + 2L * g * n, in = 2L * e + 2L * g * n + h;
        Tensors t = new Tensors(f);
        int v = t.rows("token_embd.weight", d);
        boolean tied = !f.contains("output.weight");
        t.put("backbone.embeddings.weight", "token_embd.weight", v, d);
        for (int i = 0; i < layers; i++) {
            String q = "blk." + i + ".", p = "backbone.layers." + i + ".";
            t.put(p + "norm.weight", q + "attn_norm.weight", d);
            t.put(p + "mixer.in_proj.weight", q + "ssm_in.weight", in, d);
            t.put(p + "mixer.conv1d.weight", q + "ssm_conv1d.weight", conv, k).reshape(conv, 1, k);
            t.put(p + "mixer.conv1d.bias", q + "ssm_conv1d.bias", conv);
            t.put(p + "mixer.dt_bias", q + "ssm_dt.bias", h);
            t.aLog(p + "mixer.A_log", q + "ssm_a", h, 1).reshape(h);
            t.put(p + "mixer.D", q + "ssm_d", h, 1).reshape(h);
            t.put(p + "mixer.norm.weight", q + "ssm_norm.weight", g, e / g).reshape(e);
            t.put(p + "mixer.out_proj.weight", q + "ssm_out.weight", d, e);
        }
        t.put("backbone.norm_f.weight", "output_norm.weight", d);
        if (!tied) t.put("lm_head.weight", "output.weight", v, d);

        ObjectNode c = JsonNodeFactory.instance.objectNode();
        c.put("model_type", "mamba2");
        c.put("vocab_size", v).put("hidden_size", d).put("state_size", n).put("num_hidden_layers", layers).put("expand", e / d);
        c.put("n_groups", g).put("num_heads", h).put("head_dim", e / h).put("conv_kernel", k).put("use_bias", false).put("use_conv_bias", true);
        c.put("layer_norm_epsilon", eps).put("tie_word_embeddings", tied);
        // llama.cpp's Mamba-2 normalises per group (ssm_norm is [E/G, G]); with one group that is transformers' norm
        if (g > 1) c.put(Mamba2Loader.NORM_PER_GROUP_KEY, true);
        eos(f, c);
        return t.checkpoint(c);
    }

    /**
     * The norm epsilon: stored as FLOAT32 by the converter, read back as the decimal it was written from (1e-5, not
     * 9.99999974e-6), so the config equals the checkpoint's.
     */
    private static double epsilon(GgufFile f, String key) {
        double v = f.number(key);
        if (!(v > 0)) throw new UserInputException("GGUF file " + f.path() + ": metadata key '" + key + "' = " + v + " must be positive");
        return f.value(key).orElseThrow().type() == mamba4j.io.GgufValueType.FLOAT32 ? Double.parseDouble(Float.toString((float) v)) : v;
    }

    private static int positive(GgufFile f, String key) {
        int v = f.size(key);
        if (v <= 0) throw new UserInputException("GGUF file " + f.path() + ": metadata key '" + key + "' = " + v + " must be positive");
        return v;
    }

    private static void eos(GgufFile f, ObjectNode c) {
        if (f.has(GgufTokenizer.EOS)) c.put("eos_token_id", f.size(GgufTokenizer.EOS));
        if (f.has(GgufTokenizer.BOS)) c.put("bos_token_id", f.size(GgufTokenizer.BOS));
    }

    /** Collects the file's tensors under HF names, each shape checked against the config with the GGUF name. */
    private static final class Tensors {
        final GgufFile f;
        final SequencedMap<String, Tensor> out = new LinkedHashMap<>();

        Tensors(GgufFile f) { this.f = f; }

        /** Rows of a (rows, cols) matrix whose cols must be {@code cols}. */
        int rows(String gguf, long cols) {
            Shape s = f.shape(gguf);
            if (s.rank() != 2 || s.dim(1) != cols || s.dim(0) <= 0 || s.dim(0) > Integer.MAX_VALUE)
                throw new UserInputException("GGUF file " + f.path() + ": tensor '" + gguf + "' has sizes " + ne(s) + ", expected [" + cols + ", vocab]");
            return (int) s.dim(0);
        }

        /** The GGUF tensor {@code gguf} of row-major shape {@code dims} under {@code hf}; the value put, for reshaping. */
        Put put(String hf, String gguf, long... dims) {
            Tensor t = checked(gguf, dims);
            out.put(hf, t);
            return new Put(hf);
        }

        /** A_log = log(−A) of the GGUF tensor of A. */
        Put aLog(String hf, String gguf, long... dims) {
            Tensor a = checked(gguf, dims);
            float[] v = new float[Math.toIntExact(a.numel())];
            for (int i = 0; i < v.length; i++) {
                float x = a.getFloat(i);
                if (!(x <= 0))
                    throw new UserInputException("GGUF file " + f.path() + ": tensor '" + gguf + "' holds A = " + x + " at element " + i
                            + "; Mamba's A is negative (the converter stores −exp(A_log))");
                v[i] = aLogOf(x);
            }
            out.put(hf, Tensor.of(v, dims));
            return new Put(hf);
        }

        private Tensor checked(String gguf, long[] dims) {
            if (!f.contains(gguf)) throw new UserInputException("GGUF file " + f.path() + ": missing tensor '" + gguf + "'");
            Shape want = Shape.of(dims), got = f.shape(gguf);
            if (got.equals(want)) return f.get(gguf);
            // ggml drops trailing sizes of 1 when it writes a tensor (llama-quantize's Mamba-2 ssm_norm [d_inner] where
            // the converter wrote [d_inner, 1]): the same tensor
            if (Arrays.equals(withoutLeadingOnes(got.dims()), withoutLeadingOnes(dims))) return f.get(gguf).reshape(dims);
            throw new UserInputException("GGUF file " + f.path() + ": tensor '" + gguf + "' has sizes " + ne(got) + ", expected " + ne(want)
                    + " (ggml order, fastest first)");
        }

        /** Row-major sizes without their leading 1s (ggml's trailing ones). */
        private static long[] withoutLeadingOnes(long[] dims) {
            int i = 0;
            while (i < dims.length - 1 && dims[i] == 1) i++;
            return Arrays.copyOfRange(dims, i, dims.length);
        }

        final class Put {
            final String hf;

            Put(String hf) { this.hf = hf; }

            void reshape(long... dims) { out.put(hf, out.get(hf).reshape(dims)); }
        }

        Checkpoint checkpoint(ObjectNode config) {
            return new Checkpoint(JsonConfig.of(f.path(), config), CheckpointTensors.of(f.path(), out, f));
        }
    }

    private static String ne(Shape s) {
        long[] d = s.dims().clone();
        for (int i = 0; i < d.length / 2; i++) {
            long x = d[i];
            d[i] = d[d.length - 1 - i];
            d[d.length - 1 - i] = x;
        }
        return Arrays.toString(d);
    }

    /**
     * The float32 A_log whose A = −exp(A_log), computed as the models compute it ({@code (float) −exp((double) A_log)}),
     * is exactly {@code a}: log(−a) rounded to float, or the nearest float to it that maps back to {@code a} (there is one
     * for every A that was computed that way, e.g. by {@link #write}); log(−a) when none does.
     */
    public static float aLogOf(float a) {
        float x = (float) Math.log(-(double) a);
        if (Float.isInfinite(x) || Float.isNaN(x) || negExp(x) == a) return x;
        float up = x, down = x;
        for (int k = 0; k < 16; k++) {
            up = Math.nextUp(up);
            if (negExp(up) == a) return up;
            down = Math.nextDown(down);
            if (negExp(down) == a) return down;
        }
        return x;
    }

    /** A = −exp(A_log) in float32, as Mamba1Model/Mamba2Model (Backend.negExp) compute it. */
    static float negExp(float aLog) { return (float) -Math.exp(aLog); }

    // ------------------------------------------------------------------ write

    /** llama.cpp's {@code llama_ftype} of a file whose matrices are {@code dtype}. */
    static int fileType(DType dtype) {
        return switch (dtype) {
            case F32 -> 0;    // ALL_F32
            case F16 -> 1;    // MOSTLY_F16
            case BF16 -> 32;  // MOSTLY_BF16
            case Q4_0 -> 2;   // MOSTLY_Q4_0
            case Q8_0 -> 7;   // MOSTLY_Q8_0
            default -> throw new IllegalArgumentException("no GGUF file type for " + dtype + " matrices");
        };
    }

    /**
     * Writes {@code model} (a {@link Mamba1Model} or {@link Mamba2Model}) to {@code out} as llama.cpp's converter writes a
     * Mamba-1 or Mamba-2 GGUF file: matrices (embedding, in/x/dt/out projections, head) as {@code dtype}, the rest F32,
     * with {@code tokenizer}'s keys ({@link GgufTokenizer}) and {@code general.name = name}.
     *
     * @throws UserInputException when the model has something llama.cpp's architecture cannot run, naming the setting
     */
    public static void write(Object model, Path out, DType dtype, SequencedMap<String, GgufValue> tokenizer, String name) {
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16 && dtype != DType.Q8_0 && dtype != DType.Q4_0)
            throw new UserInputException("--dtype " + dtype.name().toLowerCase() + ": GGUF export writes f32, f16, bf16, q8_0 or q4_0 matrices");
        switch (model) {
            case Mamba1Model m -> write1(m, out, dtype, tokenizer, name);
            case Mamba2Model m -> write2(m, out, dtype, tokenizer, name);
            default -> throw new UserInputException("GGUF export writes Mamba-1 and Mamba-2 models (llama.cpp's \"mamba\" and \"mamba2\"); "
                    + "this model is a " + model.getClass().getSimpleName());
        }
    }

    private static SequencedMap<String, GgufValue> header(String arch, String name, int d, int layers, int k, int e, int n, int r,
                                                           double eps, DType dtype) {
        SequencedMap<String, GgufValue> m = new LinkedHashMap<>();
        m.put(ARCH, GgufValue.string(arch));
        m.put("general.type", GgufValue.string("model"));
        m.put("general.name", GgufValue.string(name));
        m.put(arch + ".context_length", GgufValue.u32(1 << 20));   // the converter's arbitrary value; recurrent models have no limit
        m.put(arch + ".embedding_length", GgufValue.u32(d));
        m.put(arch + ".feed_forward_length", GgufValue.u32(0));
        m.put(arch + ".attention.head_count", GgufValue.u32(0));
        m.put(arch + ".block_count", GgufValue.u32(layers));
        m.put(arch + ".ssm.conv_kernel", GgufValue.u32(k));
        m.put(arch + ".ssm.inner_size", GgufValue.u32(e));
        m.put(arch + ".ssm.state_size", GgufValue.u32(n));
        m.put(arch + ".ssm.time_step_rank", GgufValue.u32(r));
        m.put(arch + ".attention.layer_norm_rms_epsilon", GgufValue.f32((float) eps));
        m.put("general.file_type", GgufValue.u32(fileType(dtype)));
        m.put("general.quantization_version", GgufValue.u32(2));
        return m;
    }

    private static void vocabulary(SequencedMap<String, GgufValue> m, String arch, SequencedMap<String, GgufValue> tokenizer, int rows,
                                   int eos) {
        m.putAll(tokenizer);
        if (!m.containsKey(GgufTokenizer.EOS) && eos >= 0 && eos < rows) m.put(GgufTokenizer.EOS, GgufValue.u32(eos));
        if (tokenizer.containsKey(GgufTokenizer.TOKENS)) {
            long tokens = tokenizer.get(GgufTokenizer.TOKENS).asArray().size();
            if (tokens != rows)
                throw new UserInputException("the tokenizer has " + tokens + " tokens but the model has " + rows + " embedding rows; llama.cpp "
                        + "needs one token per row");
        } else m.put(arch + ".vocab_size", GgufValue.u32(rows));   // llama.cpp's vocabulary size when there are no tokens
    }

    private static void write1(Mamba1Model m, Path out, DType dtype, SequencedMap<String, GgufValue> tokenizer, String name) {
        Mamba1Config c = m.config();
        String why = !c.selective() ? "it is the time-invariant ablation (" + Mamba1Config.TIME_INVARIANT_KEY + "), which llama.cpp does not run"
                : c.useBias() ? "it has in_proj/out_proj biases (use_bias = true), which llama.cpp's Mamba does not read"
                : c.expand() != 2 ? "its expand is " + c.expand() + "; llama.cpp's Mamba-1 supports only expand = 2" : null;
        if (why != null) throw new UserInputException("GGUF export: this Mamba-1 model cannot run in llama.cpp: " + why);
        Backend be = m.backend();
        Mamba1Weights<Tensor> w = m.weights();
        int d = c.hiddenSize(), e = c.dInner();
        SequencedMap<String, GgufValue> meta = header("mamba", name, d, c.numHiddenLayers(), c.convKernel(), e, c.stateSize(),
                c.dtRank(), c.layerNormEpsilon(), dtype);
        meta.put("mamba.ssm.dt_b_c_rms", GgufValue.bool(false));
        vocabulary(meta, "mamba", tokenizer, c.paddedVocabSize(), c.eosTokenId());
        List<GgufWriter.Entry> t = new ArrayList<>();
        t.add(matrix("token_embd.weight", be, w.embedding(), dtype));
        for (int i = 0; i < w.layers().size(); i++) {
            Mamba1Weights.Layer<Tensor> l = w.layers().get(i);
            String g = "blk." + i + ".";
            t.add(f32(g + "attn_norm.weight", be, l.norm()));
            t.add(matrix(g + "ssm_in.weight", be, l.inProj(), dtype));
            t.add(f32(g + "ssm_conv1d.weight", be, l.convWeight()));
            t.add(l.convBias() != null ? f32(g + "ssm_conv1d.bias", be, l.convBias()) : zeros(g + "ssm_conv1d.bias", e));
            t.add(matrix(g + "ssm_x.weight", be, l.xProj(), dtype));
            t.add(matrix(g + "ssm_dt.weight", be, l.dtProjWeight(), dtype));
            t.add(f32(g + "ssm_dt.bias", be, l.dtProjBias()));
            t.add(a(g + "ssm_a", be, l.aLog(), l.aLog().shape().dims()));
            t.add(f32(g + "ssm_d", be, l.d()));
            t.add(matrix(g + "ssm_out.weight", be, l.outProj(), dtype));
        }
        t.add(f32("output_norm.weight", be, w.normF()));
        if (!w.tied()) t.add(matrix("output.weight", be, w.lmHead(), dtype));   // tied: llama.cpp uses token_embd
        GgufWriter.write(out, meta, t);
    }

    private static void write2(Mamba2Model m, Path out, DType dtype, SequencedMap<String, GgufValue> tokenizer, String name) {
        Mamba2Config c = m.config();
        String why = c.useBias() ? "it has in_proj/out_proj biases (use_bias = true), which llama.cpp's Mamba-2 does not read"
                : c.timeStepLo() != 0 || c.timeStepHi() != Double.POSITIVE_INFINITY
                ? "its time_step_limit is [" + c.timeStepLo() + ", " + c.timeStepHi() + "]; llama.cpp applies no dt limit"
                : !c.normPerGroup() && c.nGroups() > 1
                ? "its gated RMSNorm normalises over all " + c.dInner() + " channels (transformers' MambaRMSNormGated) while llama.cpp "
                  + "normalises each of its n_groups = " + c.nGroups() + " groups (mamba_ssm's); the two differ for n_groups > 1"
                : null;
        if (why != null) throw new UserInputException("GGUF export: this Mamba-2 model cannot run in llama.cpp: " + why);
        Backend be = m.backend();
        Mamba2Weights<Tensor> w = m.weights();
        int d = c.hiddenSize(), e = c.dInner(), h = c.numHeads(), g = c.nGroups();
        SequencedMap<String, GgufValue> meta = header("mamba2", name, d, c.numHiddenLayers(), c.convKernel(), e, c.stateSize(), h,
                c.layerNormEpsilon(), dtype);
        meta.put("mamba2.ssm.group_count", GgufValue.u32(g));
        vocabulary(meta, "mamba2", tokenizer, c.paddedVocabSize(), c.eosTokenId());
        List<GgufWriter.Entry> t = new ArrayList<>();
        t.add(matrix("token_embd.weight", be, w.embedding(), dtype));
        for (int i = 0; i < w.layers().size(); i++) {
            Mamba2Weights.Layer<Tensor> l = w.layers().get(i);
            String q = "blk." + i + ".";
            t.add(f32(q + "attn_norm.weight", be, l.norm()));
            t.add(matrix(q + "ssm_in.weight", be, l.inProj(), dtype));
            t.add(f32(q + "ssm_conv1d.weight", be, l.convWeight()));
            t.add(l.convBias() != null ? f32(q + "ssm_conv1d.bias", be, l.convBias()) : zeros(q + "ssm_conv1d.bias", c.convDim()));
            t.add(f32(q + "ssm_dt.bias", be, l.dtBias()));
            t.add(a(q + "ssm_a", be, l.aLog(), h, 1));
            t.add(f32(q + "ssm_d", be, l.d(), h, 1));
            t.add(f32(q + "ssm_norm.weight", be, l.gateNorm(), g, e / g));
            t.add(matrix(q + "ssm_out.weight", be, l.outProj(), dtype));
        }
        t.add(f32("output_norm.weight", be, w.normF()));
        if (!w.tied()) t.add(matrix("output.weight", be, w.lmHead(), dtype));
        GgufWriter.write(out, meta, t);
    }

    /**
     * A matrix as {@code dtype} (converted when it is written). Q8_0/Q4_0 by llama.cpp's quantiser ({@link Quant}); a
     * matrix whose rows are not whole blocks of 32 is written F16 instead, as llama.cpp's converter falls back.
     */
    private static GgufWriter.Entry matrix(String name, Backend be, Tensor t, DType dtype) {
        long[] dims = t.shape().dims();
        if (dtype.isQuantised()) {
            if (dims[dims.length - 1] % dtype.blockSize() != 0) return matrix(name, be, t, DType.F16);
            return GgufWriter.Entry.lazy(name, dtype, dims, () -> Quant.quantise(be.download(t).to(DType.F32), dtype));
        }
        return GgufWriter.Entry.lazy(name, dtype, dims, () -> be.download(t).to(dtype));
    }

    /** A tensor as F32, in the shape {@code dims} (default: its own). */
    private static GgufWriter.Entry f32(String name, Backend be, Tensor t, long... dims) {
        long[] shape = dims.length > 0 ? dims : t.shape().dims();
        return GgufWriter.Entry.lazy(name, DType.F32, shape, () -> be.download(t).to(DType.F32).reshape(shape));
    }

    private static GgufWriter.Entry zeros(String name, long n) {
        return GgufWriter.Entry.lazy(name, DType.F32, new long[] {n}, () -> Tensor.zeros(DType.F32, n));
    }

    /** A = −exp(A_log) (F32, shape {@code dims}), computed as the models compute it. */
    private static GgufWriter.Entry a(String name, Backend be, Tensor aLog, long... dims) {
        Supplier<Tensor> v = () -> {
            Tensor x = be.download(aLog);
            float[] out = new float[Math.toIntExact(x.numel())];
            for (int i = 0; i < out.length; i++) out[i] = negExp(x.getFloat(i));
            return Tensor.of(out, dims);
        };
        return GgufWriter.Entry.lazy(name, DType.F32, dims, v);
    }
}
