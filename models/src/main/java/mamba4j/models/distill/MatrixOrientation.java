package mamba4j.models.distill;

import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.teachers.TransformerLM;

/**
 * Stage 1, matrix orientation: Σ_l mean_{batch, head} ‖T_student,l(LN_l h_l) − softmax attention_teacher,l‖_F with
 * the teacher's h_l as every layer's input, so layers train independently (one tape each).
 */
public final class MatrixOrientation extends Stage {
    public MatrixOrientation(TransformerLM teacher, MohawkStudent student) { super(teacher, student); }

    @Override protected double objective(int[][] ids, float scale, boolean backward) {
        int b = ids.length, t = ids[0].length;
        TeacherTargets target = TeacherTargets.of(teacher, ids, true);
        double sum = 0;
        for (int l : mixerLayers()) {
            Tape tape = student.newTape();
            Var loss = student.matrixDistance(tape, l, tape.constant(target.residual()[l]), b, t, target.probs()[l]);
            if (backward) tape.backward(loss, scale);
            sum += tape.lossValue(loss);
        }
        return sum;
    }
}
