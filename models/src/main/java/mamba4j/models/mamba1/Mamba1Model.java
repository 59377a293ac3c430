package mamba4j.models.mamba1;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.SelectiveScan;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.models.CausalLM;
import mamba4j.models.Trace;

import java.util.List;

/**
 * The Mamba-1 language model (mamba_ssm {@code MambaLMHeadModel}, transformers {@code MambaForCausalLM}):
 * embedding → [RMSNorm → mixer → residual] × n_layer → RMSNorm → lm_head.
 *
 * <p>{@link #forward} runs whole sequences with the fused selective scan; {@link #step} runs one token from
 * the (conv_state, ssm_state) cache with preallocated buffers, mirroring forward line for line.
 */
public final class Mamba1Model implements CausalLM {
    /** One block's parameters, as the checkpoint stores them. Linear weights keep their dtype; the rest is F32. */
    public record Layer(Tensor norm,
                        Tensor inProj, Tensor inProjBias,                                          // (2E, D) rows x | z, (2E) or null
                        Tensor convWeight, Tensor convBias,                                        // (E, K), (E) or null
                        Tensor xProj,                                                              // (R + 2N, E) rows dt | B | C
                        Tensor dtProjWeight, Tensor dtProjBias,                                    // (E, R), (E)
                        Tensor aLog, Tensor d,                                                     // A_log (E, N), D (E)
                        Tensor outProj, Tensor outProjBias) {}                                     // (D, E), (D) or null

    private final Mamba1Config config;
    private final Backend backend;
    private final Tensor embedding;   // (V', D)
    private final List<Layer> layers;
    private final Tensor normF;       // (D)
    private final Tensor lmHead;      // (V', D), the embedding itself when tied
    private final Tensor[] a;         // per layer A = -exp(A_log) (E, N), computed once in F32

    public Mamba1Model(Mamba1Config config, Backend backend, Tensor embedding, List<Layer> layers, Tensor normF, Tensor lmHead) {
        this.config = config;
        this.backend = backend;
        this.embedding = embedding;
        this.layers = List.copyOf(layers);
        this.normF = normF;
        this.lmHead = lmHead;
        this.a = new Tensor[layers.size()];
        for (int i = 0; i < a.length; i++) {
            Tensor aLog = layers.get(i).aLog();
            a[i] = backend.allocate(DType.F32, aLog.shape());
            backend.negExp(aLog, a[i]);                                     // A = −exp(A_log), once
        }
    }

    public Mamba1Config config() { return config; }
    public Backend backend() { return backend; }
    public List<Layer> layers() { return layers; }
    public Tensor embedding() { return embedding; }
    public Tensor lmHead() { return lmHead; }
    public Tensor normF() { return normF; }

    @Override public int logitsSize() { return config.paddedVocabSize(); }
    @Override public int vocabSize() { return config.vocabSize(); }
    @Override public int eosTokenId() { return config.eosTokenId(); }

    /** Bytes of weights one decode step reads: every linear weight once, the head once, one embedding row. */
    @Override public long weightBytesPerToken() {
        long bytes = lmHead.byteSize() + (long) config.hiddenSize() * embedding.dtype().byteSize();
        for (Layer l : layers)
            for (Tensor t : new Tensor[]{l.norm, l.inProj, l.inProjBias, l.convWeight, l.convBias,
                    l.xProj, l.dtProjWeight, l.dtProjBias, l.aLog, l.d, l.outProj, l.outProjBias})
                if (t != null) bytes += t.byteSize();
        return bytes + normF.byteSize();
    }

    // ------------------------------------------------------------------ whole sequence

    @Override public Tensor forward(int[][] ids, Trace trace) {
        int b = ids.length, t = ids[0].length;
        Tensor h = hidden(ids, trace, null);
        Tensor logits = Tensor.zeros(DType.F32, (long) b * t, config.paddedVocabSize());
        backend.linear(h, lmHead, null, logits);
        return logits.reshape(b, t, config.paddedVocabSize());
    }

    /** Runs the backbone and returns norm_f's output (B·T, D); continues (and updates) the decode state when one is given. */
    private Tensor hidden(int[][] ids, Trace trace, State cache) {
        int b = ids.length, t = ids[0].length, dm = config.hiddenSize();
        int[] flat = mamba4j.models.TokenIds.flattenChecked(ids, config.vocabSize());
        Tensor h = Tensor.zeros(DType.F32, (long) b * t, dm);                // (B·T, D) residual stream, F32
        backend.embedding(embedding, backend.ids(flat), h);
        trace.record("embedding", -1, h);
        Tensor u = Tensor.zeros(DType.F32, (long) b * t, dm);
        Tensor o = Tensor.zeros(DType.F32, (long) b * t, dm);
        Work w = new Work(b, t);                                                          // reused by every layer
        for (int i = 0; i < layers.size(); i++) {
            backend.rmsNorm(h, layers.get(i).norm, (float) config.layerNormEpsilon(), u);
            mixer(i, u, w, o, cache == null ? null : cache.conv[i], cache == null ? null : cache.ssm[i]);
            backend.add(h, o, h);
            trace.record("block_out", i, h);
        }
        backend.rmsNorm(h, normF, (float) config.layerNormEpsilon(), u);
        trace.record("norm_f", -1, u);
        return u;
    }

    /**
     * The Mamba block of the paper's Figure 3 over a whole sequence. u (B·T, D) → out (B·T, D).
     * When convState (B, E, K) and ssmState (B, E, N) are given, the sequence continues from them and they are updated.
     */
    private void mixer(int li, Tensor u, Work w, Tensor out, Tensor convState, Tensor ssmState) {
        Layer l = layers.get(li);
        int b = w.b, t = w.t;
        backend.linear(u, l.inProj, l.inProjBias, w.xz);                                  // (B·T, 2E)
        backend.splitColumns(w.xz, w.x, w.z);                                                     // x, z: (B·T, E)
        if (convState == null) backend.causalConv1d(w.x.reshape(b, t, w.e), l.convWeight, l.convBias, true, w.xc);  // silu(conv(x))  (B, T, E)
        else mamba4j.models.SequenceCopies.convWithHistory(backend, w.x, b, t, convState, l.convWeight, l.convBias, true, w.xc);
        backend.linear(w.xc.reshape(w.bt, w.e), l.xProj, null, w.dbc);                    // (B·T, R + 2N)
        backend.splitColumns(w.dbc, w.dt, w.bm, w.cm);                                            // dt | B | C
        backend.linear(w.dt, l.dtProjWeight, null, w.delta);                              // bias added in the scan, before softplus
        backend.selectiveScan(new SelectiveScan(w.xc, w.delta.reshape(b, t, w.e), l.dtProjBias, true, a[li],
                w.bm.reshape(b, t, w.n), w.cm.reshape(b, t, w.n), l.d, w.z.reshape(b, t, w.e), ssmState, w.y));
        backend.linear(w.y.reshape(w.bt, w.e), l.outProj, l.outProjBias, out);            // (B·T, D)
    }

    /** The whole-sequence intermediates of one mixer, allocated once per forward and reused by every layer. */
    private final class Work {
        final int b, t, e, n;
        final long bt;
        final Tensor xz, x, z, xc, dbc, dt, bm, cm, delta, y;

        Work(int b, int t) {
            this.b = b;
            this.t = t;
            e = config.dInner();
            n = config.stateSize();
            bt = (long) b * t;
            int r = config.dtRank();
            xz = Tensor.zeros(DType.F32, bt, 2L * e);
            x = Tensor.zeros(DType.F32, bt, e);
            z = Tensor.zeros(DType.F32, bt, e);
            xc = Tensor.zeros(DType.F32, b, t, e);
            dbc = Tensor.zeros(DType.F32, bt, r + 2L * n);
            dt = Tensor.zeros(DType.F32, bt, r);
            bm = Tensor.zeros(DType.F32, bt, n);
            cm = Tensor.zeros(DType.F32, bt, n);
            delta = Tensor.zeros(DType.F32, bt, e);
            y = Tensor.zeros(DType.F32, b, t, e);
        }
    }



    // ------------------------------------------------------------------ recurrent decoding

    /** The cache of one batch: per layer conv_state (B, E, K) and ssm_state (B, E, N), plus step buffers. */
    public final class State implements DecodeState {
        final Tensor tokenIds;                      // (B) I32: the step's input ids on the backend's device
        final int batch;
        final Tensor[] conv, ssm;
        final Tensor h, u, o, xz, x, z, xc, dbc, dt, bm, cm, delta, y, logits;
        final int[] one = new int[1];
        final SelectiveScan[] scans;

        State(int batch) {
            tokenIds = backend.zeros(DType.I32, batch);
            int e = config.dInner(), n = config.stateSize(), dm = config.hiddenSize();
            this.batch = batch;
            conv = new Tensor[layers.size()];
            ssm = new Tensor[layers.size()];
            for (int i = 0; i < layers.size(); i++) {
                conv[i] = Tensor.zeros(DType.F32, batch, e, config.convKernel());
                ssm[i] = Tensor.zeros(DType.F32, batch, e, n);
            }
            h = Tensor.zeros(DType.F32, batch, dm); u = Tensor.zeros(DType.F32, batch, dm); o = Tensor.zeros(DType.F32, batch, dm);
            xz = Tensor.zeros(DType.F32, batch, 2L * e);
            x = Tensor.zeros(DType.F32, batch, e); z = Tensor.zeros(DType.F32, batch, e); xc = Tensor.zeros(DType.F32, batch, e);
            dbc = Tensor.zeros(DType.F32, batch, config.dtRank() + 2L * n);
            dt = Tensor.zeros(DType.F32, batch, config.dtRank());
            bm = Tensor.zeros(DType.F32, batch, n); cm = Tensor.zeros(DType.F32, batch, n);
            delta = Tensor.zeros(DType.F32, batch, e); y = Tensor.zeros(DType.F32, batch, e);
            logits = Tensor.zeros(DType.F32, batch, config.paddedVocabSize());
            scans = new SelectiveScan[layers.size()];
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                scans[i] = new SelectiveScan(xc.reshape(batch, 1, e), delta.reshape(batch, 1, e), l.dtProjBias, true, a[i],
                        bm.reshape(batch, 1, n), cm.reshape(batch, 1, n), l.d, z.reshape(batch, 1, e), ssm[i], y.reshape(batch, 1, e));
            }
        }

        @Override public int batch() { return batch; }

        @Override public long stateBytes() {
            long s = 0;
            for (int i = 0; i < conv.length; i++) s += conv[i].byteSize() + ssm[i].byteSize();
            return s;
        }

        @Override public long bufferBytes() { return DecodeState.bytes(tokenIds, h, u, o, xz, x, z, xc, dbc, dt, bm, cm, delta, y, logits); }
    }

    @Override public State newState(int batch) { return new State(batch); }

    @Override public Tensor prefill(DecodeState state, int[][] prompts) {
        State s = (State) state;
        for (int i = 0; i < layers.size(); i++) {
            backend.fill(s.conv[i], 0f);
            backend.fill(s.ssm[i], 0f);
        }
        return extend(s, prompts);
    }

    /** Feeds more tokens (B, T), continuing from the state; {@link #prefill} is this from an empty state. */
    @Override public Tensor extend(DecodeState state, int[][] prompts) {
        State s = (State) state;
        int b = prompts.length, t = prompts[0].length;
        if (b != s.batch) throw new IllegalArgumentException("state is for batch " + s.batch + ", prompts are " + b);
        Tensor hf = hidden(prompts, Trace.NONE, s);                      // (B·T, D)
        mamba4j.models.SequenceCopies.lastPositions(backend, hf, b, t, s.u);
        backend.linear(s.u, lmHead, null, s.logits);
        return s.logits;
    }

    /** One token per sequence through every block, mirroring {@link #mixer} line for line. Returns logits (B, V'). */
    @Override public Tensor step(DecodeState state, int[] tokens) {
        State s = (State) state;
        mamba4j.models.TokenIds.check(tokens, -1, config.vocabSize());
        backend.ids(tokens, s.tokenIds);
        backend.embedding(embedding, s.tokenIds, s.h);
        float eps = (float) config.layerNormEpsilon();
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            backend.rmsNorm(s.h, l.norm, eps, s.u);
            backend.linear(s.u, l.inProj, l.inProjBias, s.xz);
            backend.splitColumns(s.xz, s.x, s.z);
            backend.causalConv1dStep(s.conv[i], s.x, l.convWeight, l.convBias, true, s.xc);
            backend.linear(s.xc, l.xProj, null, s.dbc);
            backend.splitColumns(s.dbc, s.dt, s.bm, s.cm);
            backend.linear(s.dt, l.dtProjWeight, null, s.delta);
            backend.selectiveScan(s.scans[i]);                              // one step of the recurrence, ssm_state in place
            backend.linear(s.y, l.outProj, l.outProjBias, s.o);
            backend.add(s.h, s.o, s.h);
        }
        backend.rmsNorm(s.h, normF, eps, s.u);
        backend.linear(s.u, lmHead, null, s.logits);
        return s.logits;
    }

    @Override public void copySequence(DecodeState src, int srcRow, DecodeState dst, int dstRow) {
        State a = (State) src, d = (State) dst;
        for (int i = 0; i < layers.size(); i++) {
            mamba4j.models.SequenceCopies.copyRow(backend, a.conv[i], srcRow, d.conv[i], dstRow);
            mamba4j.models.SequenceCopies.copyRow(backend, a.ssm[i], srcRow, d.ssm[i], dstRow);
        }
    }
}
