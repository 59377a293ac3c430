package mamba4j.models.distill;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.Tensor;
import mamba4j.core.autograd.Tape;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.teachers.TransformerLM;
import mamba4j.nn.data.Batch;

import java.util.List;
import java.util.Locale;

/**
 * How close the student is to the teacher on fixed validation batches, per layer and end to end.
 *
 * @param after          "initial" or the stage just finished
 * @param tokens         distillation tokens read so far
 * @param matrixDistance per layer, stage 1's objective (mean ‖T − A‖_F with teacher inputs); NaN where attention is kept
 * @param hiddenDistance per layer, stage 2's objective (mean ‖block(h_l) − h_{l+1}‖₂ with teacher inputs); NaN likewise
 * @param studentLoss    the student's next-token cross-entropy (nats/token) on the validation text
 * @param teacherLoss    the teacher's, on the same tokens
 * @param agreement      fraction of positions where the student's top-1 token is the teacher's
 * @param kl             mean KL(teacher ‖ student) per token (nats)
 */
public record Metrics(String after, long tokens, double[] matrixDistance, double[] hiddenDistance,
                      double studentLoss, double teacherLoss, double agreement, double kl) {

    public double studentPerplexity() { return Math.exp(studentLoss); }
    public double teacherPerplexity() { return Math.exp(teacherLoss); }

    /** Measures the student against the teacher on {@code batches} (inputs and next-token targets). */
    public static Metrics measure(String after, long tokens, TransformerLM teacher, MohawkStudent student, List<Batch> batches) {
        int layers = student.spec().layers(), v = student.spec().vocabSize();
        double[] md = new double[layers], hd = new double[layers];
        double sLoss = 0, tLoss = 0, agree = 0, kl = 0;
        long count = 0;
        for (Batch batch : batches) {
            int[][] ids = batch.inputs();
            int b = ids.length, t = ids[0].length;
            TeacherTargets target = TeacherTargets.of(teacher, ids, true);
            for (int l = 0; l < layers; l++) {
                if (student.attentionLayers().contains(l)) { md[l] = hd[l] = Double.NaN; continue; }
                Tape tape = student.newTape();
                md[l] += tape.lossValue(student.matrixDistance(tape, l, tape.constant(target.residual()[l]), b, t, target.probs()[l])) / batches.size();
                tape = student.newTape();
                hd[l] += tape.lossValue(tape.rowDistance(student.block(tape, l, tape.constant(target.residual()[l]), b, t), target.residual()[l + 1]))
                        / batches.size();
            }
            Tape tape = student.newTape();
            float[] s = student.backend().download(student.logits(tape, ids).value()).toFloatArray(),
                    te = teacher.backend().download(target.logits()).toFloatArray();
            for (int row = 0; row < b * t; row++) {
                int y = batch.targets()[row / t][row % t];
                if (y == Batch.IGNORE) continue;
                double ls = logSumExp(s, row * v, v), lt = logSumExp(te, row * v, v);
                sLoss += ls - s[row * v + y];
                tLoss += lt - te[row * v + y];
                if (argmax(s, row * v, v) == argmax(te, row * v, v)) agree++;
                for (int k = 0; k < v; k++) {
                    double lp = te[row * v + k] - lt;
                    kl += Math.exp(lp) * (lp - (s[row * v + k] - ls));
                }
                count++;
            }
        }
        return new Metrics(after, tokens, md, hd, sLoss / count, tLoss / count, agree / count, kl / count);
    }

    private static double logSumExp(float[] x, int off, int n) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        for (int i = 0; i < n; i++) sum += Math.exp(x[off + i] - max);
        return max + Math.log(sum);
    }

    private static int argmax(float[] x, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
        return best;
    }

    /** One console line. */
    public String line() {
        return String.format(Locale.ROOT, "%-32s %,10d tok | matrix dist %s | hidden dist %s | student ppl %.3f (teacher %.3f) | agree %.1f%% | KL %.4f",
                after, tokens, fmt(matrixDistance), fmt(hiddenDistance), studentPerplexity(), teacherPerplexity(), 100 * agreement, kl);
    }

    private static String fmt(double[] xs) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < xs.length; i++) b.append(i == 0 ? "" : " ").append(Double.isNaN(xs[i]) ? "attn" : String.format(Locale.ROOT, "%.3f", xs[i]));
        return b.append(']').toString();
    }

    public ObjectNode toJson() {
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("after", after).put("tokens", tokens);
        ArrayNode m = o.putArray("matrix_distance"), h = o.putArray("hidden_distance");
        for (double x : matrixDistance) { if (Double.isNaN(x)) m.addNull(); else m.add(x); }
        for (double x : hiddenDistance) { if (Double.isNaN(x)) h.addNull(); else h.add(x); }
        o.put("student_loss", studentLoss).put("student_ppl", studentPerplexity()).put("teacher_loss", teacherLoss)
                .put("teacher_ppl", teacherPerplexity()).put("agreement", agreement).put("kl", kl);
        return o;
    }
}
