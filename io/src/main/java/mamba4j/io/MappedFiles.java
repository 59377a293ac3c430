package mamba4j.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;

/** Read-only file mappings handed out as plain native segments. */
final class MappedFiles {
    private MappedFiles() {}

    /**
     * Maps {@code size} bytes of {@code ch} from {@code offset}, read-only, for the lifetime of {@code arena}, and returns
     * the mapping as a plain native segment over the same pages (same bounds, same lifetime, still read-only).
     *
     * <p>Why not the mapped segment itself: it is a class of its own, and the kernels read weights and activations
     * through the same Vector API load code, which the JIT then compiles for two classes at every load site: decode of a mapped mamba2-130m (f32, 2 threads) ran at 53–58 tok/s against 68–71
     * with the same pages seen as a native segment (docs/BENCHMARKS.md, "Mapped weights").
     */
    static MemorySegment mapReadOnly(FileChannel ch, long offset, long size, Arena arena) throws IOException {
        MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, offset, size, arena);
        return MemorySegment.ofAddress(mapped.address()).reinterpret(size, arena, null).asReadOnly();
    }
}
