package mamba4j.core;

import java.lang.foreign.Arena;
import java.lang.ref.Cleaner;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A bump allocator for the intermediates of one step (a training step's tape, a forward pass): tensors are
 * carved from a few large blocks that are kept across {@link #reset()}s, so a step allocates nothing from the
 * OS once the first step has sized the blocks (fresh native memory costs a page fault per 4 KiB).
 *
 * <p>Tensors from a workspace are valid until the next {@link #reset()}; nothing may keep them longer.
 *
 * <p>The workspace owns its native blocks: {@link #close()} returns them to the OS (the owner — a trainable model —
 * closes it in its own {@code close}). A workspace that becomes unreachable unclosed is closed by a cleaner, so a
 * forgotten close costs memory until the next GC, not for the life of the JVM.
 */
public final class Workspace implements AutoCloseable {
    private static final long BLOCK = 64L << 20;       // the largest block (a bigger tensor gets a block of its own size)
    private static final long FIRST_BLOCK = 4L << 20;  // blocks double from here: a tiny model does not reserve 64 MiB per workspace
    private static final Cleaner CLEANER = Cleaner.create();
    private final Arena arena = Arena.ofShared();
    private final Cleaner.Cleanable cleanable = CLEANER.register(this, new Release(arena));
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
            if (block == blocks.size()) {
                long size = Math.max(aligned, blocks.isEmpty() ? FIRST_BLOCK : Math.min(BLOCK, 2 * blocks.getLast().byteSize()));
                try {
                    blocks.add(arena.allocate(size, 64));
                } catch (OutOfMemoryError e) {
                    OutOfMemoryError named = new OutOfMemoryError("workspace block of " + size + " bytes for a "
                            + dtype + " tensor " + s + " (" + reservedBytes() + " bytes already reserved)");
                    named.initCause(e);
                    throw named;
                }
            }
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

    /** Bytes reserved from the OS so far. */
    public long reservedBytes() {
        long n = 0;
        for (MemorySegment b : blocks) n += b.byteSize();
        return n;
    }

    /** Frees every block; tensors from this workspace must not be used afterwards. Idempotent. */
    @Override
    public void close() {
        blocks.clear();
        block = 0;
        offset = 0;
        cleanable.clean();
    }

    /** Closes the arena once, from {@link #close()} or the cleaner; holds no reference to the workspace. */
    private record Release(Arena arena) implements Runnable {
        @Override public void run() { arena.close(); }
    }
}
