package mamba4j.core;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A bump allocator for the intermediates of one step (a training step's tape, a forward pass): tensors are
 * carved from a few large blocks that are kept across {@link #reset()}s, so a step allocates nothing from the
 * OS once the first step has sized the blocks (fresh native memory costs a page fault per 4 KiB).
 *
 * <p>Tensors from a workspace are valid until the next {@link #reset()}; nothing may keep them longer.
 */
public final class Workspace implements AutoCloseable {
    private static final long BLOCK = 64L << 20;
    private final Arena arena = Arena.ofShared();
    private final List<MemorySegment> blocks = new ArrayList<>();
    private int block;
    private long offset;

    /** Makes every block free again (their bytes are reused, zeroed on allocation). */
    public void reset() {
        block = 0;
        offset = 0;
    }

    /** A zero-filled tensor valid until the next reset. */
    public Tensor zeros(DType dtype, long... dims) {
        Shape s = Shape.of(dims);
        long bytes = Math.multiplyExact(s.numel(), (long) dtype.byteSize());
        long aligned = (bytes + 63) & ~63L;
        while (true) {
            if (block == blocks.size()) blocks.add(arena.allocate(Math.max(BLOCK, aligned), 64));
            MemorySegment b = blocks.get(block);
            if (offset + aligned <= b.byteSize()) {
                MemorySegment seg = b.asSlice(offset, bytes);
                offset += aligned;
                seg.fill((byte) 0);
                return Tensor.wrap(dtype, s, seg);
            }
            block++;
            offset = 0;
        }
    }

    /** Returns every block to the OS; the workspace (and every tensor from it) is unusable afterwards. */
    @Override public void close() {
        blocks.clear();
        arena.close();
    }

    /** Bytes reserved from the OS so far. */
    public long reservedBytes() {
        long n = 0;
        for (MemorySegment b : blocks) n += b.byteSize();
        return n;
    }
}
