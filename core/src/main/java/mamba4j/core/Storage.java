package mamba4j.core;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * The bytes behind a {@link Tensor}: host memory (a {@link MemorySegment}: off-heap for tensors we allocate, a
 * read-only mapped file region for weights read from safetensors) or memory on an accelerator (an address on
 * {@code cuda:N}, owned by the backend that allocated it). A tensor is (dtype, shape, storage, byte offset); views
 * share the storage.
 */
public sealed interface Storage permits Storage.Host, Storage.OnDevice {
    Device device();

    long byteSize();

    /** Host memory. */
    record Host(MemorySegment segment) implements Storage {
        public Host { Objects.requireNonNull(segment); }
        @Override public Device device() { return Device.CPU; }
        @Override public long byteSize() { return segment.byteSize(); }
    }

    /**
     * Memory on an accelerator: {@code byteSize} bytes at {@code address} on {@code device}. {@code owner} is the
     * backend's handle for the allocation (what frees it), opaque to core.
     */
    record OnDevice(Device device, long address, long byteSize, Object owner) implements Storage {
        public OnDevice {
            Objects.requireNonNull(device);
            if (device.isHost()) throw new IllegalArgumentException("device storage on the host");
            if (byteSize < 0) throw new IllegalArgumentException("negative size " + byteSize);
        }
    }
}
