package mamba4j.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Device;
import mamba4j.core.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Map;
import java.util.SequencedMap;

/**
 * Writes the safetensors format, atomically: a reader (or a run killed mid-write) sees the previous file
 * or the complete new one. Read with {@link SafetensorsFile}.
 *
 * <p>Layout as huggingface/safetensors {@code serialize}: 8-byte little-endian header length, the JSON
 * header padded with spaces to a multiple of 8 bytes (so the data section starts 8-aligned), then the
 * tensors' bytes back to back in the map's order. Data is streamed from each tensor's segment in chunks,
 * so checkpoints larger than 2 GB (or than the Java heap) are fine.
 *
 * <p>Block-quantised tensors (Q8_0, Q4_0), which safetensors has no dtype for, are written as {@code U8} tensors of
 * their bytes — shape (…, rowBytes): the leading dimensions kept, the last one in bytes — and listed with their dtype and
 * shape in the {@value #QUANT_KEY} metadata entry (see the package documentation); {@link SafetensorsFile} reads them
 * back as the quantised tensors they were.
 */
public final class Safetensors {
    private Safetensors() {}

    /**
     * The {@code __metadata__} key listing the block-quantised tensors: a JSON object (as a string, since safetensors
     * metadata values are strings) {@code {"name": {"dtype": "Q8_0", "shape": [N, K]}, …}}.
     */
    public static final String QUANT_KEY = "mamba4j.quant";

    /** Bytes handed to one {@code FileChannel.write}: big enough to stream at disk speed, below 2 GB. */
    static final int CHUNK_BYTES = 64 << 20;

    /**
     * Writes {@code tensors} (in iteration order) and {@code metadata} to {@code path}, replacing it atomically.
     *
     * @param tensors name → tensor; names must be non-empty and not {@code __metadata__}; CPU tensors only
     * @param metadata the {@code __metadata__} string map, e.g. {@code {"format": "pt"}}; may be empty or null; written
     *     in sorted key order, so the file's bytes do not depend on the map's iteration order; {@value #QUANT_KEY} is
     *     reserved (written here when a tensor is quantised)
     * @throws UncheckedIOException when the file cannot be written (the old file is then untouched)
     */
    public static void write(Path path, SequencedMap<String, Tensor> tensors, Map<String, String> metadata) {
        write(path, tensors, metadata, CHUNK_BYTES);
    }

    /** Same as {@link #write(Path, SequencedMap, Map)} with a chosen chunk size (tests exercise the chunking). */
    static void write(Path path, SequencedMap<String, Tensor> tensors, Map<String, String> metadata, int chunkBytes) {
        SequencedMap<String, Source> sources = new java.util.LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue();
            if (!t.isHost())
                throw new IllegalArgumentException("tensor '" + e.getKey() + "' is on " + t.device() + "; copy it to the CPU before saving");
            sources.put(e.getKey(), new Source(t.dtype(), t.shape(), () -> t));
        }
        writeLazy(path, sources, metadata, chunkBytes);
    }

    /**
     * A tensor to write whose value is made only when it is written ({@code value} is called once, and must return
     * a host tensor of exactly this dtype and shape): a checkpoint converted to another dtype is written one tensor at a
     * time, never whole in memory twice.
     */
    public record Source(DType dtype, Shape shape, java.util.function.Supplier<Tensor> value) {}

    /** Same as {@link #write(Path, SequencedMap, Map)}, each tensor made as it is written. */
    public static void writeLazy(Path path, SequencedMap<String, Source> tensors, Map<String, String> metadata) {
        writeLazy(path, tensors, metadata, CHUNK_BYTES);
    }

    private static void writeLazy(Path path, SequencedMap<String, Source> tensors, Map<String, String> metadata, int chunkBytes) {
        byte[] header = header(tensors, metadata);
        AtomicFiles.write(path, out -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
            writeFully(out, len);
            writeFully(out, ByteBuffer.wrap(header));
            for (Map.Entry<String, Source> e : tensors.entrySet()) {
                Tensor t = e.getValue().value().get();
                if (t.dtype() != e.getValue().dtype() || !t.shape().equals(e.getValue().shape()))
                    throw new IllegalStateException("tensor '" + e.getKey() + "' was declared " + e.getValue().dtype() + " "
                            + e.getValue().shape() + ", its value is " + t);
                MemorySegment data = t.segment();
                for (long off = 0, n = data.byteSize(); off < n; off += chunkBytes)
                    writeFully(out, data.asSlice(off, Math.min(chunkBytes, n - off)).asByteBuffer());
            }
        });
    }

    /** The JSON header for {@code tensors}, space-padded to a multiple of 8 bytes. */
    static byte[] header(SequencedMap<String, Source> tensors, Map<String, String> metadata) {
        ObjectNode root = SafetensorsFile.JSON.createObjectNode();
        if (metadata != null && metadata.containsKey(QUANT_KEY))
            throw new IllegalArgumentException("metadata key '" + QUANT_KEY + "' is reserved: it lists the quantised tensors and is written from them");
        java.util.TreeMap<String, String> meta = new java.util.TreeMap<>(metadata == null ? Map.of() : metadata);
        ObjectNode quant = SafetensorsFile.JSON.createObjectNode();
        for (Map.Entry<String, Source> e : tensors.entrySet())
            if (e.getValue().dtype().isQuantised()) {
                ObjectNode q = quant.putObject(e.getKey());
                q.put("dtype", e.getValue().dtype().name());
                ArrayNode dims = q.putArray("shape");
                for (long d : e.getValue().shape().dims()) dims.add(d);
            }
        if (!quant.isEmpty()) {
            try {
                meta.put(QUANT_KEY, SafetensorsFile.JSON.writeValueAsString(quant));
            } catch (JsonProcessingException ex) {
                throw new UncheckedIOException(ex);
            }
        }
        if (!meta.isEmpty()) {
            ObjectNode m = root.putObject(SafetensorsFile.METADATA_KEY);
            meta.forEach(m::put); // sorted: the same bytes for the same content, whatever the map (Map.of has no stable order)
        }
        long offset = 0;
        for (Map.Entry<String, Source> e : tensors.entrySet()) {
            String name = e.getKey();
            Source t = e.getValue();
            if (name == null || name.isEmpty() || name.equals(SafetensorsFile.METADATA_KEY))
                throw new IllegalArgumentException("invalid tensor name '" + name + "' for safetensors");
            ObjectNode entry = root.putObject(name);
            ArrayNode shape;
            if (t.dtype().isQuantised()) {                 // its bytes as U8 (…, rowBytes); dtype and shape in QUANT_KEY
                entry.put("dtype", DType.U8.safetensorsName());
                shape = entry.putArray("shape");
                long[] dims = t.shape().dims();
                for (int i = 0; i < dims.length - 1; i++) shape.add(dims[i]);
                shape.add(t.dtype().byteCount(dims[dims.length - 1]));
            } else {
                entry.put("dtype", t.dtype().safetensorsName());
                shape = entry.putArray("shape");
                for (long d : t.shape().dims()) shape.add(d);
            }
            long end = offset + t.dtype().byteCount(t.shape().numel());
            entry.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json;
        try {
            json = SafetensorsFile.JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
        int padded = (json.length + 7) & ~7;
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        for (int i = json.length; i < padded; i++) out[i] = ' ';
        return out;
    }

    private static void writeFully(FileChannel out, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) out.write(b);
    }
}
