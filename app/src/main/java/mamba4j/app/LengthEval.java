package mamba4j.app;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import mamba4j.core.UserInputException;
import mamba4j.models.mamba1.Mamba1Model;
import mamba4j.models.mamba2.Mamba2Model;
import mamba4j.models.teachers.TransformerLM;
import mamba4j.nn.TrainableModel;
import mamba4j.nn.data.Accuracy;
import mamba4j.nn.data.InductionHeads;
import mamba4j.nn.data.SelectiveCopying;
import mamba4j.nn.data.SyntheticTask;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Exact-match accuracy of a model on a synthetic task at several test lengths (the Mamba paper's length
 * extrapolation, §4.1): per length, {@code sequences} fresh test sequences drawn from the task's generator with
 * {@code seed}, in batches of min(16, 8192 / length) sequences. Shared by {@code train --eval-lengths} and
 * {@code eval-task}; the same (task, length, sequences, seed) always gives the same sequences.
 */
final class LengthEval {
    private LengthEval() {}

    /** One length's result. */
    record Row(int length, double tokenAccuracy, double sequenceAccuracy, long sequences) {}

    /** The task at another length with another test seed (null: the task's own validation seed). */
    static SyntheticTask at(SyntheticTask task, int length, Long seed) {
        return switch (task) {
            case SelectiveCopying sc -> seed == null ? new SelectiveCopying(length, sc.vocab(), sc.numTokens())
                    : new SelectiveCopying(length, sc.vocab(), sc.numTokens(), seed);
            case InductionHeads ih -> seed == null ? new InductionHeads(length, ih.vocab()) : new InductionHeads(length, ih.vocab(), seed);
            default -> throw new UserInputException("length evaluation supports selective-copying and induction-heads, not " + task.describe());
        };
    }

    /** Evaluates every length, printing one line per length, and writes eval_lengths.json and accuracy_vs_length.png into out (if not null). */
    static List<Row> run(TrainableModel model, SyntheticTask task, List<Integer> lengths, int sequences, Long seed, Path out) {
        if (sequences < 1) throw new UserInputException("--eval-sequences / --sequences must be ≥ 1, got " + sequences);
        for (int len : lengths) if (len < 4) throw new UserInputException("test length " + len + " is too short (≥ 4)");
        List<Row> rows = new java.util.ArrayList<>();
        for (int len : lengths) {
            SyntheticTask at = at(task, len, seed);
            int bs = Math.max(1, Math.min(16, 8192 / len)), batches = (sequences + bs - 1) / bs;
            long right = 0, seqs = 0, tokensRight = 0, tokens = 0;
            for (int i = 0; i < batches; i++) {
                Accuracy acc = Accuracy.evaluate(model, List.of(at.validationBatch(i, Math.min(bs, sequences - i * bs), len)));
                right += Math.round(acc.sequenceAccuracy() * acc.sequences());
                seqs += acc.sequences();
                tokensRight += Math.round(acc.tokenAccuracy() * acc.tokens());
                tokens += acc.tokens();
            }
            Row r = new Row(len, (double) tokensRight / tokens, (double) right / seqs, seqs);
            rows.add(r);
            System.out.printf("eval length %6d: token accuracy %.4f, sequence accuracy %.4f (%d sequences)%n", len, r.tokenAccuracy(), r.sequenceAccuracy(), r.sequences());
        }
        if (out != null) {
            ArrayNode json = new ObjectMapper().createArrayNode();
            double[] xs = new double[rows.size()], ys = new double[rows.size()];
            for (int i = 0; i < rows.size(); i++) {
                Row r = rows.get(i);
                json.addObject().put("length", r.length()).put("token_accuracy", r.tokenAccuracy()).put("sequence_accuracy", r.sequenceAccuracy())
                        .put("sequences", r.sequences()).put("seed", at(task, r.length(), seed).evalSeed());
                xs[i] = r.length();
                ys[i] = r.tokenAccuracy();
            }
            mamba4j.io.JsonConfig.write(out.resolve("eval_lengths.json"), json);
            mamba4j.nn.Plots.lines(out.resolve("accuracy_vs_length.png"), task.describe() + ": accuracy against test length",
                    "test sequence length", "token accuracy", true, Map.of(name(model), new double[][]{xs, ys}));
        }
        return rows;
    }

    private static String name(TrainableModel model) {
        return switch (model) {
            case Mamba2Model ignored -> "Mamba-2";
            case Mamba1Model m1 -> m1.config().selective() ? "Mamba (selective)" : "time-invariant";
            case TransformerLM tt -> tt.spec().arch().name().toLowerCase(java.util.Locale.ROOT);
            default -> "model";
        };
    }
}
