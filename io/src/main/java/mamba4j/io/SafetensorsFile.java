package mamba4j.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
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
import java.util.stream.Collectors;

/**
 * A {@code .safetensors} file, memory-mapped read-only and validated completely when opened.
 *
 * <p>Format (huggingface/safetensors): an unsigned 64-bit little-endian header length {@code n}, {@code n}
 * bytes of UTF-8 JSON mapping each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}}
 * (offsets relative to the data section that follows the header) plus an optional {@code "__metadata__"}
 * string map, then the data section.
 *
 * <p>Every check happens in {@link #open}: after it returns, {@link #get} cannot fail on a listed tensor. The
 * tensors it returns are zero-copy views of the mapping, read-only, and valid until {@link #close()}; copy
 * one ({@link Tensor#copy()}) to keep it longer. Closing unmaps the file for all threads at once.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The safetensors reference implementation refuses headers above 100 MB; so do we. */
    static final long MAX_HEADER_BYTES = 100_000_000L;

    static final String METADATA_KEY = "__metadata__";

    /** Parses headers; rejects duplicate tensor names and anything but spaces after the object. */
    static final ObjectMapper JSON = JsonConfig.JSON;

    /** One tensor's header entry, offsets relative to the start of the data section. */
    private record Entry(String name, DType dtype, Shape shape, long begin, long end) {}

    private final Path path;
    private final Arena arena;
    private final MemorySegment dataSection;
    private final Map<String, Entry> entries; // in file order
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Arena arena, MemorySegment dataSection, Map<String, Entry> entries,
                            Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.dataSection = dataSection;
        this.entries = entries;
        this.metadata = metadata;
    }

    /**
     * Maps and validates {@code path}.
     *
     * @throws UserInputException naming the file (and the tensor, where one is at fault) when the file is
     *     missing, truncated, or its header is malformed or inconsistent with the data section
     */
    public static SafetensorsFile open(Path path) {
        Path p = path.toAbsolutePath();
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8)
                throw error(p, "file is " + size + " bytes, shorter than the 8-byte header length; not a safetensors file");
            long headerLen = readU64(ch, p);
            if (headerLen < 0 || headerLen > MAX_HEADER_BYTES)
                throw error(p, "header length " + Long.toUnsignedString(headerLen) + " is absurd (limit "
                        + MAX_HEADER_BYTES + " bytes); not a safetensors file, or a corrupt one");
            if (headerLen > size - 8)
                throw error(p, "header length " + headerLen + " runs past the end of the file (" + size
                        + " bytes); the file is truncated or not a safetensors file");
            byte[] header = new byte[(int) headerLen];
            ByteBuffer hb = ByteBuffer.wrap(header);
            while (hb.hasRemaining())
                if (ch.read(hb, 8 + hb.position()) < 0) throw error(p, "file ended while reading the header");

            long dataStart = 8 + headerLen;
            long dataSize = size - dataStart;
            ObjectNode root = parseHeader(p, header);
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, Entry> entries = parseEntries(p, root, dataSize, metadata);
            checkOverlaps(p, entries.values());
            applyQuantised(p, entries, metadata);

            Arena arena = Arena.ofShared();
            try {
                MemorySegment data = MappedFiles.mapReadOnly(ch, dataStart, dataSize, arena);
                return new SafetensorsFile(p, arena, data, Collections.unmodifiableMap(entries),
                        Collections.unmodifiableMap(metadata));
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
        } catch (NoSuchFileException e) {
            throw new UserInputException(p + ": safetensors file not found", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read safetensors file " + p + ": " + e.getMessage(), e);
        }
    }

    private static long readU64(FileChannel ch, Path p) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining())
            if (ch.read(b, b.position()) < 0) throw error(p, "file ended while reading the header length");
        return b.getLong(0);
    }

    private static ObjectNode parseHeader(Path p, byte[] header) {
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (JsonProcessingException e) {
            String snippet = new String(header, 0, Math.min(header.length, 80), StandardCharsets.UTF_8);
            throw error(p, "header is not valid JSON (" + e.getOriginalMessage() + "); it starts with \""
                    + snippet.replace("\n", "\\n") + "\"");
        } catch (IOException e) {   // the header is in memory: a failure is its content's (e.g. a UCS-4 byte order mark)
            throw error(p, "header is not valid JSON (" + e.getMessage() + ")");
        }
        if (root == null || !root.isObject())
            throw error(p, "header must be a JSON object, got " + (root == null ? "nothing" : root.getNodeType()));
        return (ObjectNode) root;
    }

    private static Map<String, Entry> parseEntries(Path p, ObjectNode root, long dataSize, Map<String, String> metadataOut) {
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            String name = field.getKey();
            JsonNode node = field.getValue();
            if (name.equals(METADATA_KEY)) {
                if (!node.isObject())
                    throw error(p, "'__metadata__' must be an object of strings, got " + node.getNodeType());
                for (Map.Entry<String, JsonNode> m : node.properties()) {
                    if (!m.getValue().isTextual())
                        throw error(p, "'__metadata__' value of key '" + m.getKey() + "' must be a string, got "
                                + m.getValue());
                    metadataOut.put(m.getKey(), m.getValue().textValue());
                }
                continue;
            }
            entries.put(name, parseEntry(p, name, node, dataSize));
        }
        return entries;
    }

    private static Entry parseEntry(Path p, String name, JsonNode node, long dataSize) {
        if (!node.isObject()) throw tensorError(p, name, "entry must be an object, got " + node);
        JsonNode dt = node.get("dtype"), sh = node.get("shape"), off = node.get("data_offsets");
        if (dt == null) throw tensorError(p, name, "entry has no 'dtype'");
        if (sh == null) throw tensorError(p, name, "entry has no 'shape'");
        if (off == null) throw tensorError(p, name, "entry has no 'data_offsets'");

        if (!dt.isTextual()) throw tensorError(p, name, "'dtype' must be a string, got " + dt);
        DType dtype = DType.fromSafetensorsName(dt.textValue());
        if (dtype == null)
            throw tensorError(p, name, "unsupported dtype \"" + dt.textValue() + "\" (supported: "
                    + String.join(", ", DType.safetensorsNames()) + ")");

        if (!sh.isArray()) throw tensorError(p, name, "'shape' must be an array of integers, got " + sh);
        long[] dims = new long[sh.size()];
        for (int i = 0; i < dims.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong())
                throw tensorError(p, name, "'shape' must be an array of integers, got " + sh);
            dims[i] = d.longValue();
            if (dims[i] < 0) throw tensorError(p, name, "'shape' " + sh + " has a negative dimension " + dims[i]);
        }
        Shape shape = Shape.of(dims);
        long numel;
        long expectedBytes;
        try {
            numel = shape.numel();
            expectedBytes = dtype.byteCount(numel);
        } catch (ArithmeticException e) {
            throw tensorError(p, name, "'shape' " + sh + " has more elements than fit in 64 bits");
        }

        if (!off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()
                || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong())
            throw tensorError(p, name, "'data_offsets' must be [begin, end] with integer offsets, got " + off);
        long begin = off.get(0).longValue(), end = off.get(1).longValue();
        if (begin < 0 || end < 0)
            throw tensorError(p, name, "'data_offsets' " + off + " has a negative offset");
        if (begin > end)
            throw tensorError(p, name, "'data_offsets' " + off + " has begin > end");
        if (end > dataSize)
            throw tensorError(p, name, "'data_offsets' " + off + " end past the data section of " + dataSize
                    + " bytes; the file is truncated or its header is wrong");
        if (end - begin != expectedBytes)
            throw tensorError(p, name, "'data_offsets' " + off + " span " + (end - begin) + " bytes, but "
                    + dtype.safetensorsName() + " " + shape + " needs " + numel + " × " + dtype.byteSize()
                    + " = " + expectedBytes + " bytes");
        return new Entry(name, dtype, shape, begin, end);
    }

    /**
     * The {@value Safetensors#QUANT_KEY} metadata entry, if any: each tensor it lists is a U8 tensor of (…, rowBytes)
     * holding a block-quantised tensor of the listed dtype and shape; its entry becomes that tensor (same bytes).
     */
    private static void applyQuantised(Path p, Map<String, Entry> entries, Map<String, String> metadata) {
        String json = metadata.get(Safetensors.QUANT_KEY);
        if (json == null) return;
        String where = "'__metadata__' key '" + Safetensors.QUANT_KEY + "'";
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw error(p, where + " is not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (root == null || !root.isObject()) throw error(p, where + " must be a JSON object of {\"dtype\", \"shape\"} per tensor");
        for (Map.Entry<String, JsonNode> q : root.properties()) {
            String name = q.getKey();
            Entry e = entries.get(name);
            if (e == null) throw error(p, where + " lists tensor '" + name + "', which the file does not have");
            JsonNode node = q.getValue(), dt = node.get("dtype"), sh = node.get("shape");
            DType dtype = dt != null && dt.isTextual() && (dt.textValue().equals("Q8_0") || dt.textValue().equals("Q4_0"))
                    ? DType.valueOf(dt.textValue()) : null;
            if (dtype == null) throw tensorError(p, name, where + " gives dtype " + dt + "; expected \"Q8_0\" or \"Q4_0\"");
            if (sh == null || !sh.isArray() || sh.isEmpty())
                throw tensorError(p, name, where + " gives shape " + sh + "; expected a non-empty array of integers");
            long[] dims = new long[sh.size()];
            for (int i = 0; i < dims.length; i++) {
                JsonNode d = sh.get(i);
                if (!d.isIntegralNumber() || !d.canConvertToLong() || d.longValue() < 0)
                    throw tensorError(p, name, where + " gives shape " + sh + "; expected non-negative integers");
                dims[i] = d.longValue();
            }
            long last = dims[dims.length - 1];
            if (last % dtype.blockSize() != 0)
                throw tensorError(p, name, where + ": shape " + sh + " has rows of " + last + " elements, not whole blocks of " + dtype.blockSize());
            long[] bytes = dims.clone();
            bytes[bytes.length - 1] = last / dtype.blockSize() * dtype.blockBytes();
            if (e.dtype != DType.U8 || !e.shape.equals(Shape.of(bytes)))
                throw tensorError(p, name, "stored as " + e.dtype.safetensorsName() + " " + e.shape + ", but a " + dtype + " tensor of shape "
                        + sh + " is stored as U8 " + Shape.of(bytes) + " (rows of " + bytes[bytes.length - 1] + " bytes)");
            entries.put(name, new Entry(name, dtype, Shape.of(dims), e.begin, e.end));
        }
    }

    /** Two tensors may not share bytes; empty tensors occupy nothing and overlap nothing. */
    private static void checkOverlaps(Path p, Iterable<Entry> all) {
        List<Entry> sorted = new ArrayList<>();
        for (Entry e : all) if (e.end > e.begin) sorted.add(e);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        Entry furthest = null;
        for (Entry e : sorted) {
            if (furthest != null && e.begin < furthest.end)
                throw error(p, "tensors '" + furthest.name + "' [" + furthest.begin + ", " + furthest.end + ") and '"
                        + e.name + "' [" + e.begin + ", " + e.end + ") overlap in the data section");
            if (furthest == null || e.end > furthest.end) furthest = e;
        }
    }

    private static UserInputException error(Path p, String what) {
        return new UserInputException("safetensors file " + p + ": " + UserFiles.oneLine(what));
    }

    private static UserInputException tensorError(Path p, String tensor, String what) {
        return new UserInputException("safetensors file " + p + ": tensor '" + tensor + "': " + what);
    }

    /** The absolute path this file was opened from. */
    public Path path() { return path; }

    /** Tensor names in the order of the header. */
    public List<String> names() { return List.copyOf(entries.keySet()); }

    public boolean contains(String name) { return entries.containsKey(name); }

    /** The {@code __metadata__} string map (empty when the file has none). */
    public Map<String, String> metadata() { return metadata; }

    /** The tensor's dtype: its safetensors dtype, or Q8_0/Q4_0 for a tensor listed in {@value Safetensors#QUANT_KEY}. */
    public DType dtype(String name) { return entry(name).dtype; }

    public Shape shape(String name) { return entry(name).shape; }

    /** Bytes of all tensors' data (the data section as the header describes it). */
    public long dataBytes() { return dataSection.byteSize(); }

    /**
     * The tensor {@code name} as a zero-copy, read-only view of the mapping, valid until {@link #close()}.
     *
     * @throws UserInputException naming the file and the tensor when there is no such tensor
     */
    public Tensor get(String name) {
        Entry e = entry(name);
        if (!arena.scope().isAlive()) throw new IllegalStateException("safetensors file " + path + " is closed");
        return Tensor.wrap(e.dtype, e.shape, dataSection.asSlice(e.begin, e.end - e.begin));
    }

    private Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null)
            throw new UserInputException("safetensors file " + path + ": no tensor '" + name + "' (the file has "
                    + entries.size() + " tensors" + nearby(name) + ")");
        return e;
    }

    /** A hint listing tensors that share the last name component, e.g. other '*.weight' of the same layer. */
    private String nearby(String name) {
        int dot = name.lastIndexOf('.');
        String head = dot > 0 ? name.substring(0, dot) : name;
        List<String> similar = entries.keySet().stream().filter(n -> n.startsWith(head)).limit(5).toList();
        return similar.isEmpty() ? "" : "; similar: " + String.join(", ", similar);
    }

    /** Unmaps the file; tensors obtained from {@link #get} become inaccessible. Idempotent. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }

    @Override
    public String toString() { return "SafetensorsFile[" + path + ", " + entries.size() + " tensors]"; }
}
