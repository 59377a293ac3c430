package mamba4j.core;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * A dense, row-major, little-endian block of elements: (dtype, shape, {@link Storage}, byte offset).
 *
 * <p>The storage is host memory (off-heap for tensors we allocate, a read-only mapped file region for weights read
 * from safetensors) or memory on an accelerator, owned by the backend that allocated it. Tensors are plain data; the
 * ops that compute on them, allocate them on a device and move them belong to a {@link Backend}. Views
 * ({@link #view}, {@link #reshape}, {@link #rows}) are metadata over the same storage.
 *
 * <p>Element access ({@link #getFloat}, {@link #setFloat}, {@link #toFloatArray} …) and the raw bytes
 * ({@link #segment}) exist for host tensors only and fail naming the device otherwise; raw bytes are for backends and
 * io (the layering test holds models, nn and app to that).
 */
public final class Tensor {
    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final DType dtype;
    private final Shape shape;
    private final Storage storage;
    private final long offset;          // bytes into the storage
    private final MemorySegment data;   // host tensors: exactly this tensor's bytes; null on a device

    private Tensor(DType dtype, Shape shape, Storage storage, long offset) {
        this.dtype = Objects.requireNonNull(dtype);
        this.shape = Objects.requireNonNull(shape);
        this.storage = Objects.requireNonNull(storage);
        this.offset = offset;
        checkBlocks(dtype, shape);
        long need = dtype.byteCount(shape.numel());
        if (offset < 0 || offset + need > storage.byteSize())
            throw new IllegalArgumentException("tensor of " + dtype + " " + shape + " at byte " + offset + " needs " + need
                    + " bytes, storage has " + storage.byteSize());
        this.data = storage instanceof Storage.Host h ? h.segment().asSlice(offset, need) : null;
    }

    /** A tensor over device storage (for backends): {@code dtype} elements of {@code shape} at byte {@code offset}. */
    public static Tensor onDevice(DType dtype, Shape shape, Storage.OnDevice storage, long offset) {
        return new Tensor(dtype, shape, storage, offset);
    }

    /** A block-quantised tensor's rows (its last dimension) must be whole blocks: every row starts a block. */
    private static void checkBlocks(DType dtype, Shape shape) {
        if (dtype.isQuantised() && (shape.rank() == 0 || shape.dim(-1) % dtype.blockSize() != 0))
            throw new IllegalArgumentException("a " + dtype + " tensor's rows (last dim) must be whole blocks of " + dtype.blockSize()
                    + " elements, got shape " + shape);
    }

    /** Wraps existing bytes (no copy). The segment must hold exactly {@code dtype.byteCount(numel)} bytes. */
    public static Tensor wrap(DType dtype, Shape shape, MemorySegment data) {
        checkBlocks(dtype, shape);
        long need = dtype.byteCount(shape.numel());
        if (data.byteSize() != need)
            throw new IllegalArgumentException("tensor of " + dtype + " " + shape + " needs " + need
                    + " bytes, segment has " + data.byteSize());
        return new Tensor(dtype, shape, new Storage.Host(data), 0);
    }

    /** A new zero-filled tensor, 64-byte aligned, freed when unreachable. */
    public static Tensor zeros(DType dtype, long... dims) {
        Shape s = Shape.of(dims);
        checkBlocks(dtype, s);
        long bytes = dtype.byteCount(s.numel());
        return new Tensor(dtype, s, new Storage.Host(Arena.ofAuto().allocate(Math.max(bytes, 1), 64).asSlice(0, bytes)), 0);
    }

    public static Tensor zeros(DType dtype, Shape shape) { return zeros(dtype, shape.dims()); }

    /** A new F32 tensor holding a copy of {@code values}. */
    public static Tensor of(float[] values, long... dims) {
        Tensor t = zeros(DType.F32, dims);
        if (values.length != t.numel()) throw new IllegalArgumentException(values.length + " values for shape " + t.shape);
        MemorySegment.copy(values, 0, t.data, F32, 0, values.length);
        return t;
    }

    /** A new F64 tensor holding a copy of {@code values}. */
    public static Tensor ofDoubles(double[] values, long... dims) {
        Tensor t = zeros(DType.F64, dims);
        if (values.length != t.numel()) throw new IllegalArgumentException(values.length + " values for shape " + t.shape);
        MemorySegment.copy(values, 0, t.data, F64, 0, values.length);
        return t;
    }

    /** A new I64 tensor holding a copy of {@code values}. */
    public static Tensor ofLongs(long[] values, long... dims) {
        Tensor t = zeros(DType.I64, dims);
        if (values.length != t.numel()) throw new IllegalArgumentException(values.length + " values for shape " + t.shape);
        MemorySegment.copy(values, 0, t.data, I64, 0, values.length);
        return t;
    }

    public DType dtype() { return dtype; }
    public Shape shape() { return shape; }
    public Storage storage() { return storage; }
    /** Bytes into {@link #storage()} where this tensor starts. */
    public long byteOffset() { return offset; }
    public Device device() { return storage.device(); }
    public boolean isHost() { return data != null; }

    /**
     * This tensor's bytes in host memory (for backends and io). A tensor on an accelerator has none: the message
     * names its device and says how to bring it to the host.
     */
    public MemorySegment segment() {
        if (data == null)
            throw new IllegalStateException(this + " lives on " + device() + ", not in host memory: download it "
                    + "through its backend (Backend.download) before reading its elements");
        return data;
    }
    public long numel() { return shape.numel(); }
    public int rank() { return shape.rank(); }
    public long dim(int i) { return shape.dim(i); }
    public int size(int i) { return shape.size(i); }
    /** Bytes of this tensor's elements ({@link DType#byteCount}: whole blocks for the quantised types). */
    public long byteSize() { return dtype.byteCount(shape.numel()); }

    /** Whether the two tensors share any byte (views of one storage, or host segments that overlap). */
    public boolean overlaps(Tensor o) {
        if (data != null && o.data != null) return data.asOverlappingSlice(o.data).isPresent();
        if (!(storage instanceof Storage.OnDevice a) || !(o.storage instanceof Storage.OnDevice b) || !a.device().equals(b.device()))
            return false;
        long s0 = a.address() + offset, s1 = b.address() + o.offset;
        return s0 < s1 + o.byteSize() && s1 < s0 + byteSize() && byteSize() > 0 && o.byteSize() > 0;
    }

    /** Same bytes, another shape with the same element count. */
    public Tensor reshape(long... dims) {
        Shape s = Shape.of(dims);
        if (s.numel() != numel()) throw new IllegalArgumentException("cannot reshape " + shape + " to " + s);
        return new Tensor(dtype, s, storage, offset);
    }

    /**
     * A contiguous view of {@code shape.numel()} elements starting at element {@code offset} (for a quantised tensor,
     * offset and the view's rows must be whole blocks: {@link #rows} of a quantised weight always are).
     */
    public Tensor view(long offset, long... dims) {
        Shape s = Shape.of(dims);
        if (offset < 0 || offset + s.numel() > numel())
            throw new IndexOutOfBoundsException("view of " + s + " at " + offset + " outside " + shape);
        return new Tensor(dtype, s, storage, this.offset + dtype.byteCount(offset));
    }

    /** Rows [from, to) along the first dimension, as a view. */
    public Tensor rows(long from, long to) {
        long[] d = shape.dims();
        long rowElems = numel() / Math.max(d[0], 1);
        d[0] = to - from;
        return view(from * rowElems, d);
    }

    /** Element i (flat index) as a float, widening F16/BF16, narrowing F64, dequantising Q8_0/Q4_0 ({@link Quant}). */
    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> segment().getAtIndex(F32, i);
            case F64 -> (float) segment().getAtIndex(F64, i);
            case BF16 -> bf16ToFloat(segment().getAtIndex(I16, i));
            case F16 -> Float.float16ToFloat(segment().getAtIndex(I16, i));
            case I64 -> segment().getAtIndex(I64, i);
            case I32 -> segment().getAtIndex(I32, i);
            case I8 -> segment().get(ValueLayout.JAVA_BYTE, i);
            case U8, BOOL -> segment().get(ValueLayout.JAVA_BYTE, i) & 0xff;
            case Q8_0, Q4_0 -> Quant.element(dtype, segment(), i);
        };
    }

    /** Element i (flat index) as a double. */
    public double getDouble(long i) {
        return dtype == DType.F64 ? segment().getAtIndex(F64, i) : getFloat(i);
    }

    /** Element i of an integer tensor as a long. */
    public long getLong(long i) {
        return switch (dtype) {
            case I64 -> segment().getAtIndex(I64, i);
            case I32 -> segment().getAtIndex(I32, i);
            case I8 -> segment().get(ValueLayout.JAVA_BYTE, i);
            case U8, BOOL -> segment().get(ValueLayout.JAVA_BYTE, i) & 0xff;
            default -> throw new IllegalStateException("getLong on a " + dtype + " tensor");
        };
    }

    public void setFloat(long i, float v) {
        switch (dtype) {
            case F32 -> segment().setAtIndex(F32, i, v);
            case F64 -> segment().setAtIndex(F64, i, v);
            case BF16 -> segment().setAtIndex(I16, i, floatToBf16(v));
            case F16 -> segment().setAtIndex(I16, i, Float.floatToFloat16(v));
            case Q8_0, Q4_0 -> throw new IllegalStateException("setFloat on a " + dtype + " tensor: its elements are set a block at a time, "
                    + "by quantising (Quant.quantise or Tensor.to)");
            default -> throw new IllegalStateException("setFloat on a " + dtype + " tensor");
        }
    }

    /** All elements widened to float (a copy). */
    public float[] toFloatArray() {
        int n = Math.toIntExact(numel());
        float[] out = new float[n];
        if (dtype == DType.F32) MemorySegment.copy(segment(), F32, 0, out, 0, n);
        else for (int i = 0; i < n; i++) out[i] = getFloat(i);
        return out;
    }

    /** Copies the first dst.length elements (F32) into dst: host element access without a new array. */
    public void readFloats(float[] dst) {
        if (dtype != DType.F32) throw new IllegalStateException("readFloats on a " + dtype + " tensor");
        MemorySegment.copy(segment(), F32, 0, dst, 0, dst.length);
    }

    /** All elements of an integer tensor as ints (a copy). */
    public int[] toIntArray() {
        int n = Math.toIntExact(numel());
        int[] out = new int[n];
        if (dtype == DType.I32) MemorySegment.copy(segment(), I32, 0, out, 0, n);
        else for (int i = 0; i < n; i++) out[i] = Math.toIntExact(getLong(i));
        return out;
    }

    /** All elements as doubles (a copy). */
    public double[] toDoubleArray() {
        int n = Math.toIntExact(numel());
        double[] out = new double[n];
        for (int i = 0; i < n; i++) out[i] = getDouble(i);
        return out;
    }

    /**
     * A new tensor of the given floating or quantised dtype with every element converted: floating types round to
     * nearest even; a quantised target quantises by llama.cpp's rule ({@link Quant#quantise}); a quantised source is
     * dequantised ({@link Quant#dequantise}).
     */
    public Tensor to(DType target) {
        if (target == dtype) return this;
        if (target.isQuantised() && (dtype.isFloating() || dtype.isQuantised())) return Quant.quantise(this, target);
        if (dtype.isQuantised() && target.isFloating()) {
            Tensor f = Quant.dequantise(this);
            return target == DType.F32 ? f : f.to(target);
        }
        if (!target.isFloating() || !dtype.isFloating())
            throw new IllegalArgumentException("conversion " + dtype + " -> " + target + " is not supported");
        Tensor t = zeros(target, shape);
        long n = numel();
        if (target == DType.F64) for (long i = 0; i < n; i++) t.segment().setAtIndex(F64, i, getDouble(i));
        else for (long i = 0; i < n; i++) t.setFloat(i, getFloat(i));
        return t;
    }

    /** A new tensor with a copy of these bytes. */
    public Tensor copy() {
        Tensor t = zeros(dtype, shape);
        MemorySegment.copy(segment(), 0, t.segment(), 0, byteSize());
        return t;
    }

    /** Copies src's bytes into this tensor; dtype and element count must match. */
    public void copyFrom(Tensor src) {
        if (src.dtype != dtype || src.numel() != numel())
            throw new IllegalArgumentException("copy " + src.dtype + src.shape + " into " + dtype + shape);
        MemorySegment.copy(src.segment(), 0, segment(), 0, byteSize());
    }

    public void fill(float v) {
        if ((dtype == DType.F32 || dtype.isQuantised()) && v == 0f) { segment().fill((byte) 0); return; }   // d = 0: every element 0
        for (long i = 0, n = numel(); i < n; i++) setFloat(i, v);
    }

    public static float bf16ToFloat(short bits) { return Float.intBitsToFloat((bits & 0xffff) << 16); }

    /** Round-to-nearest-even float → bfloat16, as torch does; NaN stays NaN. */
    public static short floatToBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x40);
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    @Override public String toString() { return "Tensor" + shape + " " + dtype + (isHost() ? "" : " on " + device()); }
}
