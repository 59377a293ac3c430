package mamba4j.models.distill;

import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.teachers.TransformerLM;

/**
 * Stage 3, knowledge distillation end to end: mean over tokens of CE(softmax(teacher/τ), softmax(student/τ)), no
 * hard-label term (MATH.md; the paper uses τ = 1).
 */
public final class KnowledgeDistillation extends Stage {
    private final double temperature;

    public KnowledgeDistillation(TransformerLM teacher, MohawkStudent student, double temperature) {
        super(teacher, student);
        this.temperature = temperature;
    }

    @Override protected double objective(int[][] ids, float scale, boolean backward) {
        TeacherTargets target = TeacherTargets.of(teacher, ids, false);
        Tape tape = student.newTape();
        Var loss = tape.softCrossEntropy(student.logits(tape, ids), target.logits(), temperature);
        if (backward) tape.backward(loss, scale);
        return tape.lossValue(loss);
    }
}
