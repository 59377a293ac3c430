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

    /** Writes one sequence's k, v (1, 1, Hkv, Dh) at position {@code at} of row {@code row} (room reserved before). */
    public void writeRow(Tensor k, Tensor v, int row, int at) {
        long r = (long) kvHeads * headDim;
        if (at >= capacity) throw new IllegalStateException("KV write at " + at + " past capacity " + capacity);
        CopyRegion region = CopyRegion.contiguous(r, 0, ((long) row * capacity + at) * r);
        backend.copy(k, keys, region);
        backend.copy(v, values, region);
    }

    /**
     * Attention of T new queries q (B, T, H, Dh) that sit after {@code past} cached positions, whose keys and values are
     * already written at [past, past + T): query τ sees positions [0, past + τ]. One {@link Backend#attentionDecode}
     * per query position (a prompt continued after a prefix). out (B, T, H, Dh).
     */
    public void attendCached(Tensor q, int past, float scale, Tensor out) {
        int t = q.size(1), h = q.size(2);
        long row = (long) h * headDim;
        Tensor qt = backend.zeros(batch, h, headDim), yt = backend.zeros(batch, h, headDim);
        for (int tau = 0; tau < t; tau++) {
            backend.copy(q, qt, CopyRegion.block(batch, row, tau * row, t * row, 0, row));
            backend.attentionDecode(qt, keys, values, past + tau + 1, scale, yt);
            backend.copy(yt, out, CopyRegion.block(batch, row, 0, row, tau * row, t * row));
        }
    }

    /**
     * One decode step's attention, shared by the Transformer LM and the students' kept layers: q, y (B, H·Dh) and k, v
     * (B, Hkv·Dh) as the projections leave them; row r sits at position at[r]. Rotary on q and k (when cos is given;
     * tables as {@link Backend#rotary}), k and v written at the row's position (room reserved before), then each query
     * against its row's positions so far. Rows all at one position go as one batch; otherwise one row at a time.
     */
    public void stepAttention(Tensor q, Tensor k, Tensor v, int[] at, int heads, Tensor cos, Tensor sin, int rotaryDim, float scale, Tensor y) {
        int b = batch, hkv = kvHeads, dh = headDim;
        boolean uniform = true;
        for (int p : at) uniform &= p == at[0];
        if (uniform) {
            int p = at[0];
            Tensor q4 = q.reshape(b, 1, heads, dh), k4 = k.reshape(b, 1, hkv, dh);
            if (cos != null) {
                backend.rotary(q4, cos, sin, rotaryDim, p, q4);
                backend.rotary(k4, cos, sin, rotaryDim, p, k4);
            }
            write(k4, v.reshape(b, 1, hkv, dh), p);
            backend.attentionDecode(q.reshape(b, heads, dh), keys, values, p + 1, scale, y.reshape(b, heads, dh));
        } else for (int r = 0; r < b; r++) {
            int p = at[r];
            Tensor qr = q.rows(r, r + 1).reshape(1, 1, heads, dh), kr = k.rows(r, r + 1).reshape(1, 1, hkv, dh);
            if (cos != null) {
                backend.rotary(qr, cos, sin, rotaryDim, p, qr);
                backend.rotary(kr, cos, sin, rotaryDim, p, kr);
            }
            writeRow(kr, v.rows(r, r + 1).reshape(1, 1, hkv, dh), r, p);
            backend.attentionDecode(qr.reshape(1, heads, dh), keys.rows(r, r + 1), values.rows(r, r + 1), p + 1, scale,
                    y.rows(r, r + 1).reshape(1, heads, dh));
        }
    }

    /**
     * Row {@code dstRow} of dst's first {@code len} positions = src's row {@code srcRow} (src holds at least len
     * positions); dst grows to hold len positions, carrying its own first {@code dstLen}.
     */
    public static void copyRow(KvCache src, int srcRow, KvCache dst, int dstRow, int len, int dstLen) {
        if (len == 0) return;
        dst.reserve(len, dstLen);
        long row = (long) src.kvHeads * src.headDim;
        CopyRegion r = CopyRegion.contiguous(len * row, srcRow * src.capacity * row, dstRow * dst.capacity * row);
        src.backend.copy(src.keys, dst.keys, r);
        src.backend.copy(src.values, dst.values, r);
    }
}
