package mamba4j.core;

import java.util.Arrays;

/**
 * One strided element copy, the single movement op that serves split, concat, the KV-cache write, the conv history
 * and last-row copies: for every index (i0, …, i_{k−1}) below {@code sizes},
 * <pre>dst[dstOffset + Σ i_j·dstStrides[j]] = src[srcOffset + Σ i_j·srcStrides[j]]</pre>
 * (offsets and strides in elements, of the tensors' flat element order). Regions of one copy must not overlap.
 */
public record CopyRegion(long[] sizes, long srcOffset, long[] srcStrides, long dstOffset, long[] dstStrides) {
    public CopyRegion {
        if (sizes.length == 0 || sizes.length != srcStrides.length || sizes.length != dstStrides.length)
            throw new IllegalArgumentException("copy region: sizes " + Arrays.toString(sizes) + ", src strides "
                    + Arrays.toString(srcStrides) + ", dst strides " + Arrays.toString(dstStrides) + " must have one equal rank ≥ 1");
        for (int j = 0; j < sizes.length; j++)
            if (sizes[j] < 0 || srcStrides[j] < 0 || dstStrides[j] < 0)
                throw new IllegalArgumentException("copy region: negative size or stride in " + this);
        if (srcOffset < 0 || dstOffset < 0) throw new IllegalArgumentException("copy region: negative offset in " + this);
        sizes = sizes.clone();
        srcStrides = srcStrides.clone();
        dstStrides = dstStrides.clone();
    }

    /** n consecutive elements. */
    public static CopyRegion contiguous(long n, long srcOffset, long dstOffset) {
        return new CopyRegion(new long[]{n}, srcOffset, new long[]{1}, dstOffset, new long[]{1});
    }

    /**
     * A block of {@code rows} × {@code cols}: row r, column c of the source at srcOffset + r·srcRowStride + c goes
     * to dstOffset + r·dstRowStride + c (a column range of a matrix, one row of a sequence, …).
     */
    public static CopyRegion block(long rows, long cols, long srcOffset, long srcRowStride, long dstOffset, long dstRowStride) {
        return new CopyRegion(new long[]{rows, cols}, srcOffset, new long[]{srcRowStride, 1}, dstOffset, new long[]{dstRowStride, 1});
    }

    public int rank() { return sizes.length; }

    public long count() {
        long n = 1;
        for (long s : sizes) n = Math.multiplyExact(n, s);
        return n;
    }

    /** The largest flat element index the region reaches in the source (−1 when empty). */
    public long srcExtent() { return extent(srcOffset, srcStrides); }

    /** The largest flat element index the region reaches in the destination (−1 when empty). */
    public long dstExtent() { return extent(dstOffset, dstStrides); }

    private long extent(long offset, long[] strides) {
        if (count() == 0) return -1;
        long last = offset;
        for (int j = 0; j < sizes.length; j++) last = Math.addExact(last, Math.multiplyExact(sizes[j] - 1, strides[j]));
        return last;
    }

    @Override public String toString() {
        return "CopyRegion(sizes " + Arrays.toString(sizes) + ", src " + srcOffset + " + " + Arrays.toString(srcStrides)
                + ", dst " + dstOffset + " + " + Arrays.toString(dstStrides) + ")";
    }

    @Override public boolean equals(Object o) {
        return o instanceof CopyRegion r && Arrays.equals(sizes, r.sizes) && srcOffset == r.srcOffset
                && Arrays.equals(srcStrides, r.srcStrides) && dstOffset == r.dstOffset && Arrays.equals(dstStrides, r.dstStrides);
    }

    @Override public int hashCode() {
        return Arrays.hashCode(sizes) * 31 + Long.hashCode(srcOffset) + 7 * Arrays.hashCode(srcStrides) + Long.hashCode(dstOffset) * 13;
    }
}
