package mamba4j.models.distill;

import mamba4j.core.Tensor;
import mamba4j.models.Trace;
import mamba4j.models.teachers.TransformerLM;

/**
 * What the stages read from the teacher for one batch (MATH.md "MOHAWK": every student layer l receives the TEACHER's
 * residual stream h_l): h_0 … h_L (B·T, D) (h_0 = the embedding output, h_{l+1} = block l's output), the attention
 * probabilities per layer (B, H, T, T) when asked for, and the logits (B·T, V). Copies, owned by this record.
 */
record TeacherTargets(Tensor[] residual, Tensor[] probs, Tensor logits) {
    static TeacherTargets of(TransformerLM teacher, int[][] ids, boolean withProbs) {
        int layers = teacher.spec().layers();
        Tensor[] residual = new Tensor[layers + 1], probs = withProbs ? new Tensor[layers] : null;
        Tensor logits = teacher.forward(ids, new Trace() {
            @Override public void record(String name, int layer, Tensor t) {
                switch (name) {
                    case "embedding" -> residual[0] = t.copy();
                    case "block_out" -> residual[layer + 1] = t.copy();
                    case "attn_probs" -> { if (probs != null) probs[layer] = t.copy(); }
                    default -> { }
                }
            }

            @Override public boolean wants(String name) { return withProbs && name.equals("attn_probs"); }
        });
        return new TeacherTargets(residual, probs, logits.reshape(logits.dim(0) * logits.dim(1), logits.dim(2)));
    }
}
