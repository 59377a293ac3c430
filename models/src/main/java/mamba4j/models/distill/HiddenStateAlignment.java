package mamba4j.models.distill;

import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.teachers.TransformerLM;

/**
 * Stage 2, hidden-state alignment: Σ_l mean_{batch, token} ‖block_student,l(h_l) − h_{l+1}‖₂ with the teacher's h_l as
 * every block's input (one tape per layer). Which parameters move (mixers only, or MLPs and norms too) is the plan's.
 */
public final class HiddenStateAlignment extends Stage {
    public HiddenStateAlignment(TransformerLM teacher, MohawkStudent student) { super(teacher, student); }

    @Override protected double objective(int[][] ids, float scale, boolean backward) {
        int b = ids.length, t = ids[0].length;
        TeacherTargets target = TeacherTargets.of(teacher, ids, false);
        double sum = 0;
        for (int l : mixerLayers()) {
            Tape tape = student.newTape();
            Var loss = tape.rowDistance(student.block(tape, l, tape.constant(target.residual()[l]), b, t), target.residual()[l + 1]);
            if (backward) tape.backward(loss, scale);
            sum += tape.lossValue(loss);
        }
        return sum;
    }
}
