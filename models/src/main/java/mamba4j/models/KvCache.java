package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.CopyRegion;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;

/**
 * The KV cache of one attention layer for one batch, shared by the Transformer LM and the students' kept attention
 * layers: keys (after rotary) and values (B, C, Hkv, Dh) on the backend's device for the first {@code len} positions.
 * The capacity C doubles when full (the only allocations of a decode step, amortised), up to the model's positions.
 */
public final class KvCache {
    private final Backend backend;
    private final int batch, kvHeads, headDim, maxPositions;
    private Tensor keys, values;
    private int capacity;

    public KvCache(Backend backend, int batch, int kvHeads, int headDim, int maxPositions) {
        this.backend = backend;
        this.batch = batch;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.maxPositions = maxPositions;
    }

    public Tensor keys() { return keys; }
    public Tensor values() { return values; }
    public int capacity() { return capacity; }

    /** Bytes allocated: both caches at their capacity. */
    public long allocatedBytes() { return keys == null ? 0 : keys.byteSize() + values.byteSize(); }

    /** Bytes the first {@code len} positions hold: 2 · B · len · Hkv · Dh · 4. */
    public long bytes(int len) { return 2L * batch * len * kvHeads * headDim * 4; }

    /** Makes room for {@code need} positions, carrying the first {@code len} over into caches of twice the capacity. */
    public void reserve(int need, int len) {
        if (need <= capacity) return;
        if (need > maxPositions)
            throw new UserInputException("context of " + need + " tokens exceeds the model's " + maxPositions
                    + " positions (max_position_embeddings / n_positions)");
        int cap = Math.min(maxPositions, Math.max(need, Math.max(16, 2 * capacity)));
        long row = (long) kvHeads * headDim;
        Tensor nk = backend.zeros(batch, cap, kvHeads, headDim), nv = backend.zeros(batch, cap, kvHeads, headDim);
        if (keys != null && len > 0) {
            CopyRegion carry = new CopyRegion(new long[]{batch, len * row}, 0, new long[]{capacity * row, 1}, 0, new long[]{cap * row, 1});
            backend.copy(keys, nk, carry);
            backend.copy(values, nv, carry);
        }
        keys = nk;
        values = nv;
        capacity = cap;
    }

    /** Writes k, v (B, T, Hkv, Dh) at positions [at, at + T) (room reserved before). */
    public void write(Tensor k, Tensor v, int at) {
        int t = k.size(1);
        long row = (long) kvHeads * headDim;
        if (at + t > capacity) throw new IllegalStateException("KV write of " + t + " at " + at + " past capacity " + capacity);
        CopyRegion r = new CopyRegion(new long[]{batch, t * row}, 0, new long[]{t * row, 1}, at * row, new long[]{capacity * row, 1});
        backend.copy(k, keys, r);
        backend.copy(v, values, r);
    }

}
