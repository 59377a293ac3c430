package mamba4j.io;

import mamba4j.core.DType;
import mamba4j.core.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Writes a GGUF (version 3) file atomically, laid out as llama.cpp's {@code gguf-py} {@code GGUFWriter} writes one: header,
 * metadata in the given order, tensor infos (sizes fastest-first, offsets into the data section), zero padding to the
 * alignment, then each tensor's bytes padded to the alignment, in order — so every tensor's offset is the previous
 * one's plus its padded size, which is what ggml's reader requires. The alignment is {@code general.alignment} when the
 * metadata holds it (a UINT32 power of two), else 32. Read it back with {@link GgufFile}.
 *
 * <p>Tensor bytes are fetched one tensor at a time ({@link Entry#bytes}), so a model is converted and written without
 * holding a second copy of it.
 */
public final class GgufWriter {
    private GgufWriter() {}

    /**
     * One tensor to write: its name, ggml type, row-major shape, and a supplier of exactly its bytes in that type
     * (called once, while writing).
     */
    public record Entry(String name, GgufType type, long[] shape, Supplier<MemorySegment> bytes) {
        public Entry {
            shape = shape.clone();
        }

        /** A host tensor of a plain type (F32, F16, BF16, …), written as stored. */
        public static Entry of(String name, Tensor t) {
            return new Entry(name, typeOf(t.dtype()), t.shape().dims(), t::segment);
        }

        /** A tensor whose (converted) value is made only when it is written. */
        public static Entry lazy(String name, DType dtype, long[] shape, Supplier<Tensor> value) {
            return new Entry(name, typeOf(dtype), shape, () -> {
                Tensor t = value.get();
                if (t.dtype() != dtype || !Arrays.equals(t.shape().dims(), shape))
                    throw new IllegalStateException("tensor '" + name + "' was declared " + dtype + Arrays.toString(shape) + ", got " + t);
                return t.segment();
            });
        }

        /** Sizes in GGUF order ({@code ne[0]} = the row length). */
        public long[] ne() {
            long[] ne = new long[shape.length];
            for (int i = 0; i < shape.length; i++) ne[i] = shape[shape.length - 1 - i];
            return ne;
        }

        long byteSize() {
            long n = 1;
            for (long d : shape) n = Math.multiplyExact(n, d);
            long b = type.bytes(shape.length == 0 ? 1 : shape[shape.length - 1], n);
            if (b < 0) throw new IllegalArgumentException("tensor '" + name + "': rows of " + shape[shape.length - 1]
                    + " elements are not whole " + type + " blocks of " + type.blockSize());
            return b;
        }
    }

    /**
     * The GGUF type of a dtype.
     *
     * <p>The inverse of {@link GgufFile#dtypeOf}; the quantized dtypes join here at the same wiring point.
     */
    public static GgufType typeOf(DType d) {
        return switch (d) {
            case F32 -> GgufType.F32;
            case F16 -> GgufType.F16;
            case BF16 -> GgufType.BF16;
            case F64 -> GgufType.F64;
            case I8 -> GgufType.I8;
            case I32 -> GgufType.I32;
            case I64 -> GgufType.I64;
            case Q8_0 -> GgufType.Q8_0;
            case Q4_0 -> GgufType.Q4_0;
            case U8, BOOL -> throw new IllegalArgumentException("GGUF has no tensor type for " + d);
        };
    }

    /**
     * Writes {@code metadata} (in order) and {@code tensors} to {@code path}, replacing it atomically.
     *
     * @throws IllegalArgumentException for what the format cannot hold (a tensor name over 63 bytes or repeated, more
     *     than 4 dimensions, a bad {@code general.alignment}); the target is then untouched
     */
    public static void write(Path path, SequencedMap<String, GgufValue> metadata, List<Entry> tensors) {
        long alignment = GgufFile.DEFAULT_ALIGNMENT;
        GgufValue al = metadata.get(GgufFile.ALIGNMENT_KEY);
        if (al != null) {
            if (al.type() != GgufValueType.UINT32 || al.asLong() == 0 || Long.bitCount(al.asLong()) != 1)
                throw new IllegalArgumentException(GgufFile.ALIGNMENT_KEY + " must be a UINT32 power of two, got " + al);
            alignment = al.asLong();
        }
        GgufBytes head = new GgufBytes();
        head.u32(GgufFile.MAGIC).u32(GgufFile.VERSION).u64(tensors.size()).u64(metadata.size());
        for (Map.Entry<String, GgufValue> kv : metadata.entrySet()) {
            if (kv.getKey().isEmpty() || kv.getKey().getBytes(StandardCharsets.UTF_8).length > GgufFile.MAX_KEY_BYTES)
                throw new IllegalArgumentException("invalid GGUF key '" + kv.getKey() + "'");
            head.string(kv.getKey());
            value(head, kv.getValue());
        }
        long[] sizes = new long[tensors.size()];
        long offset = 0;
        Set<String> names = new HashSet<>();
        for (int i = 0; i < tensors.size(); i++) {
            Entry t = tensors.get(i);
            int nameBytes = t.name().getBytes(StandardCharsets.UTF_8).length;
            if (nameBytes == 0 || nameBytes > GgufFile.MAX_NAME_BYTES)
                throw new IllegalArgumentException("tensor name '" + t.name() + "' is " + nameBytes + " bytes; GGUF allows 1 to "
                        + GgufFile.MAX_NAME_BYTES);
            if (!names.add(t.name())) throw new IllegalArgumentException("tensor '" + t.name() + "' is listed twice");
            if (t.shape().length > GgufFile.MAX_DIMS)
                throw new IllegalArgumentException("tensor '" + t.name() + "' has " + t.shape().length + " dimensions; GGUF allows "
                        + GgufFile.MAX_DIMS);
            sizes[i] = t.byteSize();
            head.string(t.name()).u32(t.shape().length);
            for (long d : t.ne()) head.u64(d);
            head.u32(t.type().code()).u64(offset);
            offset += GgufFile.alignUp(sizes[i], alignment);
        }
        head.zeros(GgufFile.alignUp(head.size(), alignment) - head.size());
        byte[] header = head.toArray();
        long align = alignment;
        AtomicFiles.write(path, out -> {
            writeFully(out, ByteBuffer.wrap(header));
            byte[] pad = new byte[(int) align];
            for (int i = 0; i < tensors.size(); i++) {
                Entry t = tensors.get(i);
                MemorySegment data = t.bytes().get();
                if (data.byteSize() != sizes[i])
                    throw new IllegalStateException("tensor '" + t.name() + "' supplied " + data.byteSize() + " bytes, its "
                            + t.type() + " " + Arrays.toString(t.shape()) + " needs " + sizes[i]);
                for (long off = 0, n = data.byteSize(); off < n; off += Safetensors.CHUNK_BYTES)
                    writeFully(out, data.asSlice(off, Math.min(Safetensors.CHUNK_BYTES, n - off)).asByteBuffer());
                writeFully(out, ByteBuffer.wrap(pad, 0, (int) (GgufFile.alignUp(sizes[i], align) - sizes[i])));
            }
        });
    }

    private static void value(GgufBytes b, GgufValue v) {
        b.u32(v.type().code());
        switch (v.type()) {
            case STRING -> b.string(v.asString());
            case ARRAY -> {
                GgufArray a = v.asArray();
                b.u32(a.elementType().code()).u64(a.size()).segment(a.data());
            }
            case BOOL -> b.u8(v.asBool() ? 1 : 0);
            case FLOAT32 -> b.f32((float) v.asDouble());
            case FLOAT64 -> b.f64(v.asDouble());
            default -> {
                switch (v.type().width()) {
                    case 1 -> b.u8((int) v.asLong());
                    case 2 -> b.u16((int) v.asLong());
                    case 4 -> b.u32(v.asLong());
                    default -> b.u64(v.asLong());
                }
            }
        }
    }

    private static void writeFully(FileChannel out, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) out.write(b);
    }
}
