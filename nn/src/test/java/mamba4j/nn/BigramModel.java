package mamba4j.nn;

import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.autograd.Parameter;
import mamba4j.io.JsonConfig;
import mamba4j.io.Safetensors;
import mamba4j.io.SafetensorsFile;
import mamba4j.nn.data.Batch;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;

/**
 * A tiny TrainableModel with plain loops: logits(next | x) = W[x, :] + b, softmax cross-entropy. W (V, V) decays,
 * b (V) does not. Can inject a NaN loss or a NaN gradient on chosen lossAndBackward calls, and crash on one.
 */
final class BigramModel implements TrainableModel {
    final int vocab;
    final Parameter w, b;
    long calls;
    java.util.Set<Long> nanLossCalls = java.util.Set.of();
    java.util.Set<Long> nanGradCalls = java.util.Set.of();
    long crashAtCall = -1;

    BigramModel(int vocab, long seed) {
        this.vocab = vocab;
        float[] init = new float[vocab * vocab];
        var rng = new mamba4j.nn.data.SplitMix64(seed);
        for (int i = 0; i < init.length; i++) init[i] = (float) (0.02 * (rng.nextDouble() * 2 - 1));
        w = new Parameter("w", Tensor.of(init, vocab, vocab), true);
        b = new Parameter("b", Tensor.zeros(DType.F32, vocab), false);
    }

    @Override public List<Parameter> parameters() { return List.of(w, b); }

    private double[] logits(int x) {
        double[] z = new double[vocab];
        for (int j = 0; j < vocab; j++) z[j] = w.value().getFloat((long) x * vocab + j) + b.value().getFloat(j);
        return z;
    }

    private static double[] softmax(double[] z) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : z) max = Math.max(max, v);
        double sum = 0;
        double[] p = new double[z.length];
        for (int j = 0; j < z.length; j++) sum += p[j] = Math.exp(z[j] - max);
        for (int j = 0; j < z.length; j++) p[j] /= sum;
        return p;
    }

    @Override
    public double lossAndBackward(int[][] inputs, int[][] targets, float gradScale) {
        long call = calls++;
        if (call == crashAtCall) throw new IllegalStateException("simulated crash at call " + call);
        long count = new Batch(inputs, targets).counted();
        double loss = 0;
        for (int r = 0; r < inputs.length; r++)
            for (int t = 0; t < inputs[r].length; t++) {
                int y = targets[r][t];
                if (y == Batch.IGNORE) continue;
                int x = inputs[r][t];
                double[] p = softmax(logits(x));
                loss -= Math.log(p[y]);
                for (int j = 0; j < vocab; j++) {
                    float d = (float) ((p[j] - (j == y ? 1 : 0)) / count * gradScale);
                    long wi = (long) x * vocab + j;
                    w.grad().setFloat(wi, w.grad().getFloat(wi) + d);
                    b.grad().setFloat(j, b.grad().getFloat(j) + d);
                }
            }
        if (nanGradCalls.contains(call)) w.grad().setFloat(0, Float.NaN);
        return nanLossCalls.contains(call) ? Double.NaN : loss / count;
    }

    @Override
    public double loss(int[][] inputs, int[][] targets) {
        double loss = 0;
        long count = 0;
        for (int r = 0; r < inputs.length; r++)
            for (int t = 0; t < inputs[r].length; t++) {
                if (targets[r][t] == Batch.IGNORE) continue;
                loss -= Math.log(softmax(logits(inputs[r][t]))[targets[r][t]]);
                count++;
            }
        return loss / count;
    }

    @Override
    public int[][] predict(int[][] inputs) {
        int[][] out = new int[inputs.length][];
        for (int r = 0; r < inputs.length; r++) {
            out[r] = new int[inputs[r].length];
            for (int t = 0; t < inputs[r].length; t++) {
                double[] z = logits(inputs[r][t]);
                int best = 0;
                for (int j = 1; j < vocab; j++) if (z[j] > z[best]) best = j;
                out[r][t] = best;
            }
        }
        return out;
    }

    @Override
    public void save(Path dir) {
        JsonConfig.write(dir.resolve("config.json"), Map.of("model_type", "bigram-test", "vocab_size", vocab));
        SequencedMap<String, Tensor> t = new LinkedHashMap<>();
        t.put("w", w.value());
        t.put("b", b.value());
        Safetensors.write(dir.resolve("model.safetensors"), t, Map.of("format", "pt"));
    }

    void load(Path dir) {
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
            w.value().copyFrom(f.get("w"));
            b.value().copyFrom(f.get("b"));
        }
    }

    /** The parameters' bytes, for bit-exact comparisons. */
    byte[] bytes() {
        var out = new java.io.ByteArrayOutputStream();
        for (Parameter p : parameters()) out.writeBytes(p.value().segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        return out.toByteArray();
    }
}
