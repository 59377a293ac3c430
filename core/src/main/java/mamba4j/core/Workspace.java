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
    private static final long MIN_BLOCK = 1L << 20, MAX_BLOCK = 64L << 20;
    private final Arena arena;
    private final boolean closeable;   // false for a collected (auto) arena
    private final List<MemorySegment> blocks = new ArrayList<>();
    private int block;
    private long offset;

    /** A workspace whose memory is returned by {@link #close()}. */
    public Workspace() { this(Arena.ofShared(), true); }

    private Workspace(Arena arena, boolean closeable) {
        this.arena = arena;
        this.closeable = closeable;
    }

    /**
     * A workspace whose memory the garbage collector returns once the workspace is unreachable (for an object without
     * a close, such as a model's inference buffers); {@link #close()} does nothing.
     */
    public static Workspace collected() { return new Workspace(Arena.ofAuto(), false); }

    private Backend device;                                   // blocks on this backend's device; null: host blocks
    private final List<Tensor> deviceBlocks = new ArrayList<>();

    /**
     * Carves this workspace's tensors from memory of {@code be}'s device from now on (blocks it already holds on
     * another device are dropped); a host backend keeps host blocks. Returns this.
     */
    public Workspace on(Backend be) {
        Backend want = be.device().isHost() ? null : be;
        if (want != device) {
            deviceBlocks.clear();
            block = 0;
            offset = 0;
            device = want;
        }
        return this;
    }

    /** A tensor on the device (zero-filled when {@code fill}), carved from device blocks as {@link #zeros} carves host ones. */
    private Tensor deviceCarve(DType dtype, Shape s, long bytes, long aligned, boolean fill) {
        while (true) {
            if (block == deviceBlocks.size()) {
                long size = deviceBlocks.isEmpty() ? MIN_BLOCK : Math.min(MAX_BLOCK, 2 * deviceBlocks.getLast().byteSize());
                deviceBlocks.add(device.allocate(DType.U8, Shape.of(Math.max(size, aligned))));
            }
            Tensor b = deviceBlocks.get(block);
            if (offset + aligned <= b.byteSize()) {
                Tensor t = Tensor.onDevice(dtype, s, (Storage.OnDevice) b.storage(), b.byteOffset() + offset);
                offset += aligned;
                if (fill && bytes > 0) device.fill(t, 0f);
                return t;
            }
            block++;
            offset = 0;
        }
    }

    /** Makes every block free again (their bytes are reused, zeroed on allocation). */
    public void reset() {
        block = 0;
        offset = 0;
    }

    /** A zero-filled tensor valid until the next reset. */
    public Tensor zeros(DType dtype, long... dims) { return carve(dtype, Shape.of(dims), true); }

    /**
     * A tensor valid until the next reset whose elements are whatever its bytes held before (an earlier step's
     * intermediates): for the output of an op that writes every element, which the conformance suite checks by giving
     * every such op a NaN-filled output. Saves the fill — on a GPU prefill, a write of every intermediate's bytes.
     */
    public Tensor uninitialized(DType dtype, long... dims) { return carve(dtype, Shape.of(dims), false); }

    private Tensor carve(DType dtype, Shape s, boolean fill) {
        long bytes = dtype.byteCount(s.numel());
        long aligned = (bytes + 63) & ~63L;
        if (device != null) return deviceCarve(dtype, s, bytes, aligned, fill);
        while (true) {
            if (block == blocks.size()) {                  // blocks grow from 1 MiB to 64 MiB: small models stay small
                long size = blocks.isEmpty() ? MIN_BLOCK : Math.min(MAX_BLOCK, 2 * blocks.getLast().byteSize());
                try {
                    blocks.add(arena.allocate(Math.max(size, aligned), 64));
                } catch (OutOfMemoryError e) {   // named, for the CLI's one-line out-of-memory message
                    OutOfMemoryError named = new OutOfMemoryError("a workspace block of " + Math.max(size, aligned) + " bytes for a "
                            + dtype + " tensor " + s + " (" + reservedBytes() + " bytes already reserved)");
                    named.initCause(e);
                    throw named;
                }
            }
            MemorySegment b = blocks.get(block);
            if (offset + aligned <= b.byteSize()) {
                MemorySegment seg = b.asSlice(offset, bytes);
                offset += aligned;
                if (fill) seg.fill((byte) 0);
                return Tensor.wrap(dtype, s, seg);
            }
            block++;
            offset = 0;
        }
    }

    /** Returns every block to the OS; the workspace (and every tensor from it) is unusable afterwards. */
    @Override public void close() {
        deviceBlocks.clear();   // device memory returns when its tensors are unreachable
        if (closeable && arena.scope().isAlive()) {
            blocks.clear();
            arena.close();
        }
    }

    /** Bytes reserved from the OS so far. */
    public long reservedBytes() {
        long n = 0;
        for (Tensor b : deviceBlocks) n += b.byteSize();
        for (MemorySegment b : blocks) n += b.byteSize();
        return n;
    }
}
