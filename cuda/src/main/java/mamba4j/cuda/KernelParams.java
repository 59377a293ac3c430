package mamba4j.cuda;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The kernels' parameter structs of {@code kernels/params.cuh}, mirrored as {@link StructLayout}s: same names, same
 * order, C types mapped as pointer → {@code long} (8 bytes), {@code long long} → {@code long}, {@code int} →
 * {@code int}, {@code float} → {@code float}; padding inserted by the C rules (each member at a multiple of its
 * size, the struct's size a multiple of its largest member). Each struct is passed by value as the kernel's only
 * argument. {@code KernelParamsTest} checks these layouts against the header in CI, and SelfTest checks them
 * against NVRTC's sizeof/offsetof on the GPU.
 */
public final class KernelParams {
    private KernelParams() {}

    public static final StructLayout RMSNORM = struct("RmsNormParams",
            ptr("x"), ptr("residual"), ptr("residual_out"), ptr("w"), ptr("out"), ptr("gate"),
            i32("rows"), i32("dim"), f32("eps"), i32("w_dtype"));

    public static final StructLayout EMBEDDING = struct("EmbeddingParams",
            ptr("ids"), ptr("weight"), ptr("out"), i32("n"), i32("dim"), i32("w_dtype"));

    public static final StructLayout CONV1D = struct("Conv1dParams",
            ptr("x"), ptr("w"), ptr("bias"), ptr("out"), ptr("state_out"), ptr("state_in"), ptr("out2"), ptr("out3"), i64("x_sb"), i64("x_st"),
            i32("batch"), i32("length"), i32("channels"), i32("width"), i32("silu"), i32("w_dtype"), i32("split1"), i32("split2"));

    public static final StructLayout CONV1D_STEP = struct("Conv1dStepParams",
            ptr("state"), ptr("x"), ptr("w"), ptr("bias"), ptr("out"),
            i32("batch"), i32("channels"), i32("width"), i32("silu"), i32("w_dtype"), ptr("out2"), ptr("out3"), i32("split1"), i32("split2"));

    public static final StructLayout SCAN = struct("ScanParams",
            ptr("u"), ptr("delta"), ptr("delta_bias"), ptr("A"), ptr("Bm"), ptr("Cm"), ptr("D"), ptr("z"),
            ptr("state_in"), ptr("state_out"), ptr("out"),
            i64("u_sb"), i64("u_st"), i64("delta_sb"), i64("delta_st"), i64("b_sb"), i64("b_st"), i64("c_sb"), i64("c_st"),
            i64("z_sb"), i64("z_st"), i64("out_sb"), i64("out_st"),
            i32("batch"), i32("length"), i32("channels"), i32("dstate"), i32("delta_softplus"));

    public static final StructLayout SCAN_STEP = struct("ScanStepParams",
            ptr("state"), ptr("u"), ptr("delta"), ptr("delta_bias"), ptr("A"), ptr("Bm"), ptr("Cm"), ptr("D"), ptr("z"), ptr("out"),
            i64("b_sb"), i64("c_sb"), i32("batch"), i32("channels"), i32("dstate"), i32("delta_softplus"),
            ptr("dt_w"), ptr("dt_low"), i64("dt_sb"), i32("dt_rank"), i32("dt_w_dtype"));

    public static final StructLayout ELTWISE = struct("EltwiseParams", ptr("a"), ptr("b"), ptr("out"), i64("n"));

    public static final StructLayout CAST = struct("CastParams", ptr("x"), ptr("out"), i64("n"), i32("out_dtype"));

    public static final StructLayout FILL = struct("FillParams", ptr("out"), i64("n"), i32("seed"), f32("lo"), f32("hi"));

    public static final StructLayout ROW = struct("RowParams", ptr("x"), ptr("row"), ptr("out"), i64("rows"), i32("cols"));

    public static final StructLayout CLAMP = struct("ClampParams",
            ptr("x"), ptr("bias"), ptr("out"), i64("rows"), i32("cols"), f32("lo"), f32("hi"));

    public static final StructLayout FILL_BITS = struct("FillBitsParams", ptr("out"), i64("n"), i64("bits"), i32("elem_bytes"));

    public static final StructLayout COPY = struct("CopyParams",
            ptr("src"), ptr("dst"), i64("src_offset"), i64("dst_offset"),
            i64("size0"), i64("size1"), i64("size2"), i64("size3"),
            i64("ss0"), i64("ss1"), i64("ss2"), i64("ss3"),
            i64("ds0"), i64("ds1"), i64("ds2"), i64("ds3"),
            i64("count"), i32("elem_bytes"));

    public static final StructLayout LAYERNORM = struct("LayerNormParams",
            ptr("x"), ptr("w"), ptr("b"), ptr("out"), i32("rows"), i32("dim"), f32("eps"));

    public static final StructLayout ROTARY = struct("RotaryParams",
            ptr("x"), ptr("cos"), ptr("sin"), ptr("out"),
            i32("batch"), i32("tokens"), i32("heads"), i32("head_dim"), i32("rotary_dim"), i32("pos0"));

    public static final StructLayout GEMV = struct("GemvParams",
            ptr("x"), ptr("w"), ptr("bias"), ptr("out"), i32("m"), i32("n"), i32("k"), i32("w_dtype"), i32("split"),
            ptr("conv_state"), ptr("conv_w"), ptr("conv_bias"), ptr("conv_out"), i32("conv_from"), i32("conv_channels"), i32("conv_width"),
            i32("conv_silu"), i32("conv_w_dtype"), ptr("out1"), ptr("out2"), i32("n0"), i32("n1"));

    public static final StructLayout CROSS_ENTROPY = struct("CrossEntropyParams",
            ptr("logits"), ptr("targets"), ptr("dlogits"), ptr("loss"), ptr("row_loss"), ptr("count"),
            i32("rows"), i32("vocab"), f32("scale"), i32("loss_f64"));

    public static final StructLayout ATTENTION = struct("AttentionParams",
            ptr("q"), ptr("k"), ptr("v"), ptr("out"), ptr("lse"), ptr("probs"), i64("kv_sb"),
            i32("batch"), i32("q_len"), i32("kv_len"), i32("heads"), i32("kv_heads"), i32("head_dim"), f32("scale"));

    public static final StructLayout SSD = struct("SsdParams",
            ptr("x"), ptr("logA"), ptr("scale"), ptr("Bm"), ptr("Cm"), ptr("D"), ptr("state"), ptr("out"),
            ptr("dt_raw"), ptr("dt_bias"), ptr("a"), ptr("dt_out"), ptr("logA_out"), f32("dt_lo"), f32("dt_hi"),
            i32("batch"), i32("length"), i32("heads"), i32("head_dim"), i32("groups"), i32("dstate"));

    public static final StructLayout SSD_CHUNKED = struct("SsdChunkParams",
            ptr("x"), ptr("logA"), ptr("scale"), ptr("Bm"), ptr("Cm"), ptr("D"), ptr("state"), ptr("out"),
            ptr("acum"), ptr("states"), ptr("cb"),
            i32("batch"), i32("length"), i32("heads"), i32("head_dim"), i32("groups"), i32("dstate"), i32("chunk"));

    public static final StructLayout SAMPLE = struct("SampleParams",
            ptr("logits"), ptr("uniform"), ptr("temperature"), ptr("top_p"), ptr("top_k"), ptr("ids"), i32("width"), i32("vocab"));

    /** Every struct of params.cuh, in the header's order. */
    public static final List<StructLayout> ALL = List.of(RMSNORM, EMBEDDING, CONV1D, CONV1D_STEP, SCAN, SCAN_STEP, ELTWISE, CAST, FILL,
            ROW, CLAMP, FILL_BITS, COPY, LAYERNORM, ROTARY, GEMV, CROSS_ENTROPY, ATTENTION, SSD, SSD_CHUNKED, SAMPLE);

    /**
     * The driver's {@code CUlaunchConfig} (cuda.h, CUDA 11.8+): grid and block sizes, dynamic shared bytes, the stream
     * and its launch attributes; and one {@code CUlaunchAttribute} (an id, padding to 8, a 64-byte value union whose
     * first int is {@code programmaticStreamSerializationAllowed} for {@link #ATTR_PROGRAMMATIC_STREAM_SERIALIZATION}).
     */
    public static final StructLayout LAUNCH_CONFIG = struct("CUlaunchConfig", i32("gridDimX"), i32("gridDimY"), i32("gridDimZ"),
            i32("blockDimX"), i32("blockDimY"), i32("blockDimZ"), i32("sharedMemBytes"), ptr("hStream"), ptr("attrs"), i32("numAttrs"));
    public static final StructLayout LAUNCH_ATTRIBUTE = MemoryLayout.structLayout(ValueLayout.JAVA_INT.withName("id"), MemoryLayout.paddingLayout(4),
            ValueLayout.JAVA_INT.withName("value"), MemoryLayout.paddingLayout(60)).withName("CUlaunchAttribute");
    /** CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION of CUlaunchAttributeID. */
    public static final int ATTR_PROGRAMMATIC_STREAM_SERIALIZATION = 6;

    /** Weight dtype codes of params.cuh. */
    public static final int DTYPE_F32 = 0, DTYPE_BF16 = 1, DTYPE_F16 = 2;

    /** A device pointer: 8 bytes, passed as a long. */
    private static MemoryLayout ptr(String name) { return ValueLayout.JAVA_LONG.withName(name); }
    private static MemoryLayout i64(String name) { return ValueLayout.JAVA_LONG.withName(name); }
    private static MemoryLayout i32(String name) { return ValueLayout.JAVA_INT.withName(name); }
    private static MemoryLayout f32(String name) { return ValueLayout.JAVA_FLOAT.withName(name); }

    /** Lays members out by the C rules, inserting unnamed padding where C would. */
    static StructLayout struct(String name, MemoryLayout... members) {
        List<MemoryLayout> out = new ArrayList<>();
        long off = 0, maxAlign = 1;
        for (MemoryLayout m : members) {
            long align = m.byteAlignment();
            maxAlign = Math.max(maxAlign, align);
            long pad = (align - off % align) % align;
            if (pad > 0) out.add(MemoryLayout.paddingLayout(pad));
            out.add(m);
            off += pad + m.byteSize();
        }
        long tail = (maxAlign - off % maxAlign) % maxAlign;
        if (tail > 0) out.add(MemoryLayout.paddingLayout(tail));
        return MemoryLayout.structLayout(out.toArray(MemoryLayout[]::new)).withName(name);
    }

    /** The named members of a struct (padding skipped). */
    public static List<ValueLayout> members(StructLayout s) {
        return s.memberLayouts().stream().filter(m -> m.name().isPresent()).map(m -> (ValueLayout) m).toList();
    }

    /** Byte offset of a named member. */
    public static long offset(StructLayout s, String member) {
        return s.byteOffset(MemoryLayout.PathElement.groupElement(member));
    }

    /**
     * One filled parameter struct. Every member must be set exactly once, by a setter of its type, before
     * {@link #segment()}: a forgotten field is an exception here, not garbage on the device.
     */
    public static final class Block {
        private final StructLayout layout;
        private final MemorySegment seg;
        private final Map<String, ValueLayout> members = new HashMap<>();
        private final java.util.Set<String> set = new java.util.HashSet<>();

        public Block(StructLayout layout, SegmentAllocator alloc) {
            this.layout = layout;
            this.seg = alloc.allocate(layout);
            for (ValueLayout m : members(layout)) members.put(m.name().orElseThrow(), m);
        }

        private ValueLayout member(String name, Class<?> carrier) {
            ValueLayout m = members.get(name);
            if (m == null) throw new IllegalArgumentException(layout.name().orElse("?") + " has no member " + name);
            if (m.carrier() != carrier)
                throw new IllegalArgumentException(layout.name().orElse("?") + "." + name + " is " + m.carrier() + ", not " + carrier);
            if (!set.add(name)) throw new IllegalArgumentException(layout.name().orElse("?") + "." + name + " set twice");
            return m;
        }

        /** A device pointer (0 for NULL) or a long long. */
        public Block set(String name, long v) {
            member(name, long.class);
            seg.set(ValueLayout.JAVA_LONG, offset(layout, name), v);
            return this;
        }

        public Block set(String name, int v) {
            member(name, int.class);
            seg.set(ValueLayout.JAVA_INT, offset(layout, name), v);
            return this;
        }

        public Block set(String name, float v) {
            member(name, float.class);
            seg.set(ValueLayout.JAVA_FLOAT, offset(layout, name), v);
            return this;
        }

        public Block set(String name, boolean v) { return set(name, v ? 1 : 0); }

        /** The filled struct; throws naming the members never set. */
        public MemorySegment segment() {
            if (set.size() != members.size()) {
                List<String> missing = members.keySet().stream().filter(k -> !set.contains(k)).sorted().toList();
                throw new IllegalStateException(layout.name().orElse("?") + ": members not set: " + missing);
            }
            return seg;
        }

        public StructLayout layout() { return layout; }
    }
}
