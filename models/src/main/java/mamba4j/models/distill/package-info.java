/**
 * MOHAWK distillation (Bick et al. 2024; MATH.md "MOHAWK"): a Transformer teacher's attention replaced by Discrete
 * Mamba-2 mixers in three stages — {@link mamba4j.models.distill.MatrixOrientation} (stage 1),
 * {@link mamba4j.models.distill.HiddenStateAlignment} (stage 2), {@link mamba4j.models.distill.KnowledgeDistillation}
 * (stage 3) — each a {@link mamba4j.nn.TrainableModel} whose loss reads the teacher's trace, so the ordinary
 * {@link mamba4j.nn.Trainer} (AdamW, schedules, checkpoints, resume) runs every stage. {@link mamba4j.models.distill.DistillPlan}
 * is the plan record; {@link mamba4j.models.distill.Distiller} runs the stages in order with per-layer metrics before
 * and after each.
 *
 * <p>Not here: the student's architecture and weight transfer ({@code mamba4j.models.discrete});
 * bf16 training. The stages are architecture-neutral: Phi-Mamba and Llama-Mamba students run through the same classes.
 */
package mamba4j.models.distill;
