package mamba4j.cuda;

import java.lang.foreign.MemorySegment;

/** Page-locked host memory from cuMemHostAlloc, owned by its device; freed by {@link #close} or when the device closes. */
public final class PinnedBuffer implements AutoCloseable {
    private final CudaDevice device;
    private final MemorySegment segment;

    PinnedBuffer(CudaDevice device, MemorySegment segment) {
        this.device = device;
        this.segment = segment;
    }

    public MemorySegment segment() { return segment; }
    public long address() { return segment.address(); }
    public long byteSize() { return segment.byteSize(); }

    @Override public void close() { device.freePinned(this); }
}
