package mamba4j.models.distill;

import mamba4j.core.autograd.Parameter;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.teachers.TransformerLM;
import mamba4j.nn.TrainableModel;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * A MOHAWK stage as a {@link TrainableModel}: its loss is the stage's objective against the teacher (the targets of
 * the batch are not used: the teacher is the label), its parameters the student's trainable ones, its checkpoint the
 * whole student. Subclasses define {@link #objective} only.
 */
public abstract sealed class Stage implements TrainableModel permits MatrixOrientation, HiddenStateAlignment, KnowledgeDistillation {
    protected final TransformerLM teacher;
    protected final MohawkStudent student;

    protected Stage(TransformerLM teacher, MohawkStudent student) {
        if (teacher.spec().layers() != student.spec().layers())
            throw new IllegalArgumentException("teacher has " + teacher.spec().layers() + " layers, the student " + student.spec().layers());
        this.teacher = teacher;
        this.student = student;
    }

    /** The stage's loss on a batch; with {@code backward}, gradients × scale accumulate into the trainable parameters. */
    protected abstract double objective(int[][] ids, float scale, boolean backward);

    /** The layers that carry a mixer (the others keep the teacher's attention). */
    protected Set<Integer> mixerLayers() {
        Set<Integer> s = new java.util.TreeSet<>();
        for (int l = 0; l < student.spec().layers(); l++) if (!student.attentionLayers().contains(l)) s.add(l);
        return s;
    }

    @Override public List<Parameter> parameters() { return student.parameters(); }
    @Override public double lossAndBackward(int[][] inputs, int[][] targets, float gradScale) { return objective(inputs, gradScale, true); }
    @Override public double loss(int[][] inputs, int[][] targets) { return objective(inputs, 0f, false); }
    @Override public int[][] predict(int[][] inputs) { return student.predict(inputs); }
    @Override public void save(Path dir) { student.save(dir); }
}
