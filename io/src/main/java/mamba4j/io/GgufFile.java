package mamba4j.io;

import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * A GGUF file (llama.cpp's model format), memory-mapped read-only and validated completely when opened.
 *
 * <p>Format (version 3, every field little-endian; version 2 has the same layout): the magic {@code "GGUF"}, a u32
 * version, a u64 tensor count, a u64 metadata count; the metadata (key string, u32 value type, value; a string is a u64
 * byte length and UTF-8 bytes, an array a u32 element type, a u64 count and the elements); one info per tensor (name
 * string, u32 n_dims, n_dims u64 sizes listed fastest-first — {@code ne[0]} is the row length —, u32 ggml type, u64
 * offset into the data section); padding to the alignment ({@code general.alignment}, a u32 power of two, default
 * 32); the data section.
 *
 * <p>Every check happens in {@link #open}: a truncated, corrupt or hostile file is refused with one line naming the
 * file and the field (the key, the tensor, the byte offset), before anything is allocated for it — counts and lengths
 * are checked against the bytes that remain, offsets and sizes against the data section, tensors may not overlap.
 * Tensors are zero-copy views of the mapping; their shapes are given row-major, so {@code ne = [D, V]} is the (V, D)
 * matrix. Values and tensors read from the file are valid until {@link #close()}.
 */
public final class GgufFile implements AutoCloseable {
    /** "GGUF" read as a little-endian u32. */
    public static final int MAGIC = 0x46554747;
    public static final int VERSION = 3;
    public static final int DEFAULT_ALIGNMENT = 32;
    public static final String ALIGNMENT_KEY = "general.alignment";
    /** ggml's GGML_MAX_DIMS. */
    static final int MAX_DIMS = 4;
    /** ggml's GGML_MAX_NAME (64) less the terminating NUL: the longest tensor name llama.cpp accepts. */
    static final int MAX_NAME_BYTES = 63;
    static final int MAX_KEY_BYTES = 65535;
    /** Arrays of arrays nest at most this deep. */
    static final int MAX_ARRAY_DEPTH = 4;

    /** One tensor: its ggml type, sizes in GGUF order ({@code ne[0]} fastest), offset and length in the data section. */
    public record TensorInfo(String name, GgufType type, long[] ne, long offset, long bytes) {
        /** The row-major shape: {@code ne} reversed. */
        public Shape shape() {
            long[] d = new long[ne.length];
            for (int i = 0; i < ne.length; i++) d[i] = ne[ne.length - 1 - i];
            return Shape.of(d);
        }

        public long numel() {
            long n = 1;
            for (long x : ne) n *= x;
            return n;
        }
    }

    private final Path path;
    private final Arena arena;
    private final int version;
    private final long alignment;
    private final long dataStart;
    private final MemorySegment data;
    private final Map<String, GgufValue> metadata;
    private final Map<String, TensorInfo> tensors;

    private GgufFile(Path path, Arena arena, int version, long alignment, long dataStart, MemorySegment data,
                     Map<String, GgufValue> metadata, Map<String, TensorInfo> tensors) {
        this.path = path;
        this.arena = arena;
        this.version = version;
        this.alignment = alignment;
        this.dataStart = dataStart;
        this.data = data;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    /** True when {@code path} is a regular file that starts with the GGUF magic (whatever its name). */
    public static boolean isGguf(Path path) {
        if (!Files.isRegularFile(path)) return false;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(4);
            while (b.hasRemaining()) if (ch.read(b) < 0) return false;
            return b.flip().order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt() == MAGIC;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Maps and validates {@code path}.
     *
     * @throws UserInputException naming the file (and the key, tensor or offset at fault) when the file is missing,
     *     is not GGUF, or is truncated, corrupt or inconsistent
     */
    public static GgufFile open(Path path) {
        Path p = path.toAbsolutePath();
        if (Files.isDirectory(p)) throw new UserInputException(p + ": is a directory, expected a .gguf file");
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 4) throw new Reader(p, MemorySegment.NULL).error("file is " + size + " bytes; not a GGUF file");
            MemorySegment seg = MappedFiles.mapReadOnly(ch, 0, size, arena);
            GgufFile f = parse(p, arena, seg);
            return f;
        } catch (NoSuchFileException e) {
            arena.close();
            throw new UserInputException(p + ": GGUF file not found", e);
        } catch (AccessDeniedException e) {
            arena.close();
            throw new UserInputException(p + ": permission denied", e);
        } catch (IOException e) {
            arena.close();
            throw new UncheckedIOException("cannot read GGUF file " + p + ": " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    private static GgufFile parse(Path p, Arena arena, MemorySegment seg) {
        Reader r = new Reader(p, seg);
        int magic = (int) r.u32("magic");
        if (magic != MAGIC)
            throw r.error("does not start with the GGUF magic (its first bytes are " + hex(seg, 0, 4) + "); not a GGUF file");
        long version = r.u32("version");
        if (version == 0x03000000L || version == 0x02000000L)
            throw r.error("is a big-endian GGUF file (version field " + hex(seg, 4, 4) + "); only little-endian files are read");
        if (version == 1)
            throw r.error("is GGUF version 1 (32-bit counts, 2023); only versions 2 and 3 are read: convert it again with llama.cpp");
        if (version != 2 && version != 3)
            throw r.error("has GGUF version " + version + "; only versions 2 and 3 are read");
        long nTensors = r.u64("tensor count");
        long nKv = r.u64("metadata count");
        // each tensor info takes at least 24 bytes (name length, n_dims, type, offset), each key-value 13
        if (nTensors < 0 || nTensors > r.remaining() / 24)
            throw r.error("tensor count " + Long.toUnsignedString(nTensors) + " cannot fit in the " + r.remaining()
                    + " bytes after the header; the file is corrupt or not GGUF");
        if (nKv < 0 || nKv > r.remaining() / 13)
            throw r.error("metadata count " + Long.toUnsignedString(nKv) + " cannot fit in the " + r.remaining()
                    + " bytes after the header; the file is corrupt or not GGUF");

        Map<String, GgufValue> metadata = new LinkedHashMap<>();
        for (long i = 0; i < nKv; i++) {
            long at = r.pos;
            String key = r.name("metadata key #" + (i + 1) + " (at byte " + at + ")", MAX_KEY_BYTES);
            if (key.isEmpty()) throw r.error("metadata key #" + (i + 1) + " (at byte " + at + ") is empty");
            String field = "metadata key '" + key + "'";
            long code = r.u32(field + " value type");
            GgufValueType type = GgufValueType.of(code);
            if (type == null) throw r.error(field + " has unknown value type code " + code + " (GGUF has 0-12)");
            GgufValue v = r.value(field, type, 0);
            if (metadata.putIfAbsent(key, v) != null) throw r.error(field + " appears twice");
        }

        long alignment = DEFAULT_ALIGNMENT;
        GgufValue al = metadata.get(ALIGNMENT_KEY);
        if (al != null) {
            if (al.type() != GgufValueType.UINT32)
                throw r.error("metadata key '" + ALIGNMENT_KEY + "' is " + al.type() + ", expected UINT32");
            alignment = al.asLong();
            if (alignment == 0 || Long.bitCount(alignment) != 1)
                throw r.error("metadata key '" + ALIGNMENT_KEY + "' = " + alignment + " is not a power of two");
        }

        List<TensorInfo> infos = new ArrayList<>();
        Map<String, TensorInfo> byName = new LinkedHashMap<>();
        for (long i = 0; i < nTensors; i++) {
            long at = r.pos;
            String name = r.name("tensor info #" + (i + 1) + " (at byte " + at + ") name", MAX_NAME_BYTES);
            String field = "tensor '" + name + "'";
            if (name.isEmpty()) throw r.error("tensor info #" + (i + 1) + " (at byte " + at + ") has an empty name");
            long nDims = r.u32(field + " n_dims");
            if (nDims > MAX_DIMS) throw r.error(field + " has " + nDims + " dimensions; GGUF tensors have at most " + MAX_DIMS);
            long[] ne = new long[(int) nDims];
            long numel = 1;
            for (int d = 0; d < nDims; d++) {
                ne[d] = r.u64(field + " ne[" + d + "]");
                if (ne[d] < 0) throw r.error(field + " has size ne[" + d + "] = " + Long.toUnsignedString(ne[d]) + ", beyond 2^63");
                numel = MemoryBudget.product(numel, ne[d]);
            }
            if (numel == Long.MAX_VALUE) throw r.error(field + " has sizes " + Arrays.toString(ne) + " whose product overflows 64 bits");
            long code = r.u32(field + " type");
            GgufType type = GgufType.of(code);
            if (type == null) throw r.error(field + " has unknown ggml type code " + code);
            long rowLength = nDims == 0 ? 1 : ne[0];
            long bytes = type.bytes(rowLength, numel);
            if (bytes < 0)
                throw r.error(field + " is " + type + " with rows of ne[0] = " + rowLength + " elements, not a whole number of "
                        + type.blockSize() + "-element blocks");
            if (bytes == Long.MAX_VALUE) throw r.error(field + " has sizes " + Arrays.toString(ne) + " whose byte size overflows 64 bits");
            long offset = r.u64(field + " offset");
            if (offset < 0) throw r.error(field + " has offset " + Long.toUnsignedString(offset) + ", beyond 2^63");
            if (offset % alignment != 0)
                throw r.error(field + " has offset " + offset + ", not a multiple of the alignment " + alignment);
            TensorInfo ti = new TensorInfo(name, type, ne, offset, bytes);
            if (byName.putIfAbsent(name, ti) != null) throw r.error(field + " appears twice");
            infos.add(ti);
        }

        long size = seg.byteSize();
        long dataStart = Math.min(alignUp(r.pos, alignment), size);
        long dataSize = size - dataStart;
        for (TensorInfo t : infos) {
            if (t.offset > dataSize || t.bytes > dataSize - t.offset)
                throw r.error("tensor '" + t.name + "' (" + t.type + " " + Arrays.toString(t.ne) + ", " + t.bytes + " bytes at offset "
                        + t.offset + ") runs past the end of the data section (" + dataSize + " bytes from byte " + dataStart
                        + "); the file is truncated or its tensor info is wrong");
        }
        checkOverlaps(r, infos);
        return new GgufFile(p, arena, (int) version, alignment, dataStart, seg.asSlice(dataStart, dataSize),
                Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(byName));
    }

    private static void checkOverlaps(Reader r, List<TensorInfo> infos) {
        List<TensorInfo> sorted = new ArrayList<>();
        for (TensorInfo t : infos) if (t.bytes > 0) sorted.add(t);
        sorted.sort(Comparator.comparingLong(TensorInfo::offset));
        TensorInfo furthest = null;
        for (TensorInfo t : sorted) {
            if (furthest != null && t.offset < furthest.offset + furthest.bytes)
                throw r.error("tensors '" + furthest.name + "' [" + furthest.offset + ", " + (furthest.offset + furthest.bytes) + ") and '"
                        + t.name + "' [" + t.offset + ", " + (t.offset + t.bytes) + ") overlap in the data section");
            if (furthest == null || t.offset + t.bytes > furthest.offset + furthest.bytes) furthest = t;
        }
    }

    static long alignUp(long x, long alignment) { return (x + alignment - 1) / alignment * alignment; }

    private static String hex(MemorySegment s, long at, int n) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n && at + i < s.byteSize(); i++)
            b.append(String.format("%02x", s.get(ValueLayout.JAVA_BYTE, at + i) & 0xff));
        return "0x" + b;
    }

    /** Reads the header with every length and count checked against the bytes left; errors name the field. */
    private static final class Reader {
        final Path p;
        final MemorySegment seg;
        long pos;

        Reader(Path p, MemorySegment seg) {
            this.p = p;
            this.seg = seg;
        }

        UserInputException error(String what) { return new UserInputException("GGUF file " + p + ": " + UserFiles.oneLine(what)); }

        long remaining() { return seg.byteSize() - pos; }

        void need(long n, String field) {
            if (n < 0 || n > remaining())
                throw error("file ends at byte " + seg.byteSize() + " while reading " + field + " at byte " + pos + " ("
                        + (n < 0 ? "a length beyond 2^63" : n + " bytes") + " needed); the file is truncated or corrupt");
        }

        long u32(String field) {
            need(4, field);
            long v = seg.get(GgufBytes.U32, pos) & 0xffffffffL;
            pos += 4;
            return v;
        }

        long u64(String field) {
            need(8, field);
            long v = seg.get(GgufBytes.U64, pos);
            pos += 8;
            return v;
        }

        /** A key or tensor name: strict UTF-8, no control characters, at most {@code maxBytes}. */
        String name(String field, int maxBytes) {
            long len = u64(field + " length");
            if (len < 0 || len > maxBytes)
                throw error(field + " is " + Long.toUnsignedString(len) + " bytes long; at most " + maxBytes + " are allowed");
            need(len, field);
            byte[] b = seg.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
            pos += len;
            String s;
            try {
                s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString();
            } catch (CharacterCodingException e) {
                throw error(field + " is not valid UTF-8");
            }
            for (int i = 0; i < s.length(); i++)
                if (s.charAt(i) < 0x20 || s.charAt(i) == 0x7f)
                    throw error(field + " " + UserFiles.printable(s) + " holds a control character");
            return s;
        }

        GgufValue value(String field, GgufValueType type, int depth) {
            return switch (type) {
                case STRING -> {
                    long len = u64(field + " string length");
                    need(len, field + " string");
                    if (len > Integer.MAX_VALUE - 8) throw error(field + " is a string of " + len + " bytes, more than 2 GB");
                    String s = GgufArray.utf8(seg.asSlice(pos, len));
                    pos += len;
                    yield GgufValue.string(s);
                }
                case ARRAY -> GgufValue.array(array(field, depth + 1));
                case BOOL -> {
                    need(1, field);
                    int b = seg.get(ValueLayout.JAVA_BYTE, pos++);
                    if (b != 0 && b != 1) throw error(field + " is a BOOL holding " + (b & 0xff) + " (0 or 1 expected)");
                    yield GgufValue.bool(b == 1);
                }
                case FLOAT32 -> {
                    need(4, field);
                    float v = seg.get(GgufBytes.F32, pos);
                    pos += 4;
                    yield GgufValue.f32(v);
                }
                case FLOAT64 -> {
                    need(8, field);
                    double v = seg.get(GgufBytes.F64, pos);
                    pos += 8;
                    yield GgufValue.f64(v);
                }
                default -> {
                    need(type.width(), field);
                    GgufArray one = new GgufArray(type, 1, seg.asSlice(pos, type.width()));
                    pos += type.width();
                    yield new GgufValue(type, one.getLong(0));
                }
            };
        }

        /** An array's type and count, then a walk over its elements checking each against the bytes left. */
        GgufArray array(String field, int depth) {
            if (depth > MAX_ARRAY_DEPTH) throw error(field + " nests arrays more than " + MAX_ARRAY_DEPTH + " deep");
            long code = u32(field + " array element type");
            GgufValueType t = GgufValueType.of(code);
            if (t == null) throw error(field + " is an array of unknown value type code " + code);
            long n = u64(field + " array length");
            long minBytes = t.width() > 0 ? t.width() : t == GgufValueType.STRING ? 8 : 12;
            if (n < 0 || n > remaining() / minBytes)
                throw error(field + " is an array of " + Long.toUnsignedString(n) + " " + t + " elements, which cannot fit in the "
                        + remaining() + " bytes left in the file");
            long start = pos;
            if (t.width() > 0) {
                need(n * t.width(), field + " array");
                if (t == GgufValueType.BOOL)
                    for (long i = 0; i < n; i++) {
                        int b = seg.get(ValueLayout.JAVA_BYTE, pos + i);
                        if (b != 0 && b != 1) throw error(field + "[" + i + "] is a BOOL holding " + (b & 0xff) + " (0 or 1 expected)");
                    }
                pos += n * t.width();
            } else if (t == GgufValueType.STRING) {
                for (long i = 0; i < n; i++) {
                    long len = u64(field + "[" + i + "] string length");
                    need(len, field + "[" + i + "] string");
                    pos += len;
                }
            } else {
                for (long i = 0; i < n; i++) array(field + "[" + i + "]", depth + 1);
            }
            return new GgufArray(t, n, seg.asSlice(start, pos - start));
        }
    }

    // ------------------------------------------------------------------ metadata

    /** The absolute path this file was opened from. */
    public Path path() { return path; }

    public int version() { return version; }

    /** The data alignment ({@value #ALIGNMENT_KEY}, else 32). */
    public long alignment() { return alignment; }

    /** File offset of the data section. */
    public long dataStart() { return dataStart; }

    /** Every key-value in file order. */
    public Map<String, GgufValue> metadata() { return metadata; }

    public boolean has(String key) { return metadata.containsKey(key); }

    public Optional<GgufValue> value(String key) { return Optional.ofNullable(metadata.get(key)); }

    private GgufValue required(String key) {
        GgufValue v = metadata.get(key);
        if (v == null) throw new UserInputException("GGUF file " + path + ": no metadata key '" + key + "'");
        return v;
    }

    private UserInputException wrongType(String key, GgufValue v, String expected) {
        return new UserInputException("GGUF file " + path + ": metadata key '" + key + "' is " + v.type()
                + (v.type() == GgufValueType.ARRAY ? "" : " " + v.display(0)) + ", expected " + expected);
    }

    /** A STRING value. */
    public String string(String key) {
        GgufValue v = required(key);
        if (v.type() != GgufValueType.STRING) throw wrongType(key, v, "a STRING");
        return v.asString();
    }

    public Optional<String> optString(String key) { return has(key) ? Optional.of(string(key)) : Optional.empty(); }

    /** A value of any integer type that is ≥ 0 and fits an int: a size, a count, a token id. */
    public int size(String key) {
        GgufValue v = required(key);
        if (!v.type().isInteger()) throw wrongType(key, v, "an integer");
        long x = v.asLong();
        if (x < 0 || x > Integer.MAX_VALUE)
            throw new UserInputException("GGUF file " + path + ": metadata key '" + key + "' = " + v.display(0)
                    + " is not a size (0 to " + Integer.MAX_VALUE + ")");
        return (int) x;
    }

    public Optional<Integer> optSize(String key) { return has(key) ? Optional.of(size(key)) : Optional.empty(); }

    /** A FLOAT32/FLOAT64 (or integer) value. */
    public double number(String key) {
        GgufValue v = required(key);
        if (!v.type().isFloat() && !v.type().isInteger()) throw wrongType(key, v, "a number");
        return v.asDouble();
    }

    public boolean bool(String key) {
        GgufValue v = required(key);
        if (v.type() != GgufValueType.BOOL) throw wrongType(key, v, "a BOOL");
        return v.asBool();
    }

    public Optional<Boolean> optBool(String key) { return has(key) ? Optional.of(bool(key)) : Optional.empty(); }

    /** An ARRAY value whose elements are {@code elementType}. */
    public GgufArray array(String key, GgufValueType elementType) {
        GgufValue v = required(key);
        if (v.type() != GgufValueType.ARRAY) throw wrongType(key, v, "an ARRAY of " + elementType);
        if (v.asArray().elementType() != elementType)
            throw new UserInputException("GGUF file " + path + ": metadata key '" + key + "' is an ARRAY of "
                    + v.asArray().elementType() + ", expected an ARRAY of " + elementType);
        return v.asArray();
    }

    /** An ARRAY value of any integer element type. */
    public GgufArray integerArray(String key) {
        GgufValue v = required(key);
        if (v.type() != GgufValueType.ARRAY || !v.asArray().elementType().isInteger())
            throw wrongType(key, v, "an ARRAY of integers");
        return v.asArray();
    }

    // ------------------------------------------------------------------ tensors

    /** Tensor names in file order. */
    public List<String> tensorNames() { return List.copyOf(tensors.keySet()); }

    public Map<String, TensorInfo> tensorInfos() { return tensors; }

    public boolean contains(String name) { return tensors.containsKey(name); }

    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null)
            throw new UserInputException("GGUF file " + path + ": no tensor '" + name + "' (the file has " + tensors.size()
                    + " tensors" + nearby(name) + ")");
        return t;
    }

    /** The row-major shape ({@code ne} reversed). */
    public Shape shape(String name) { return info(name).shape(); }

    public GgufType type(String name) { return info(name).type(); }

    /** The tensor's bytes as stored (blocks, for quantized types), zero-copy; valid until {@link #close()}. */
    public MemorySegment raw(String name) {
        TensorInfo t = info(name);
        alive();
        return data.asSlice(t.offset, t.bytes);
    }

    /**
     * The dtype a GGUF type maps to, or null when mamba4j has none for it.
     *
     * <p>Q8_0 and Q4_0 map to {@code DType.Q8_0} / {@code DType.Q4_0}, whose layouts are ggml's blocks, so {@link #get}
     * wraps their bytes zero-copy.
     */
    public static DType dtypeOf(GgufType type) {
        return switch (type) {
            case F32 -> DType.F32;
            case F16 -> DType.F16;
            case BF16 -> DType.BF16;
            case F64 -> DType.F64;
            case I8 -> DType.I8;
            case I32 -> DType.I32;
            case I64 -> DType.I64;
            case Q8_0 -> DType.Q8_0;   // the same block bytes (ggml's block_q8_0 / block_q4_0): wrapped as they are
            case Q4_0 -> DType.Q4_0;
            default -> null;
        };
    }

    /**
     * The tensor {@code name}, row-major: a zero-copy, read-only view of the mapping for the types {@link #dtypeOf}
     * maps (Q8_0 and Q4_0 included, as their block bytes); llama.cpp's k-quants (Q4_K, Q5_K, Q6_K) widened to a new F32
     * tensor.
     *
     * @throws UserInputException naming the file and tensor when there is no such tensor, or its type is one mamba4j
     *     does not read
     */
    public Tensor get(String name) {
        TensorInfo t = info(name);
        alive();
        Shape shape = t.shape();
        DType dtype = dtypeOf(t.type);
        if (dtype != null) return Tensor.wrap(dtype, shape, data.asSlice(t.offset, t.bytes));
        if (GgufQuant.widens(t.type)) {
            MemoryBudget.require("GGUF file " + path + ": tensor '" + name + "' widened from " + t.type + " to F32",
                    MemoryBudget.product(t.numel(), 4));
            return GgufQuant.toF32(t.type, data.asSlice(t.offset, t.bytes), shape.dims());
        }
        throw new UserInputException("GGUF file " + path + ": tensor '" + name + "' has type " + t.type + ", which mamba4j does not read"
                + " (it reads " + Arrays.stream(GgufType.values()).filter(x -> dtypeOf(x) != null || GgufQuant.widens(x))
                .map(Enum::name).collect(Collectors.joining(", ")) + ")");
    }

    private void alive() {
        if (!arena.scope().isAlive()) throw new IllegalStateException("GGUF file " + path + " is closed");
    }

    private String nearby(String name) {
        int dot = name.lastIndexOf('.');
        String head = dot > 0 ? name.substring(0, dot) : name;
        List<String> similar = tensors.keySet().stream().filter(n -> n.startsWith(head)).limit(5).toList();
        return similar.isEmpty() ? "" : "; similar: " + String.join(", ", similar);
    }

    /** Unmaps the file; tensors and arrays obtained from it become inaccessible. Idempotent. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }

    @Override
    public String toString() { return "GgufFile[" + path + ", v" + version + ", " + metadata.size() + " keys, " + tensors.size() + " tensors]"; }
}
