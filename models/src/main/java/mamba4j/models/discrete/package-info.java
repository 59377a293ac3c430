/**
 * MOHAWK's student (Bick et al. 2024, "Transformers to SSMs: Distilling Quadratic Knowledge to Subquadratic Models"):
 * the Discrete Mamba-2 mixer of goombalab phi-mamba ({@code modules/mixers/discrete_mamba2.py}) and the students built
 * from a loaded teacher — Phi-Mamba from Phi, Llama-Mamba from Llama — with MOHAWK's weight transfer and initialisation (MATH.md "Discrete
 * Mamba-2" and "MOHAWK").
 *
 * <p>Here: the mixer's one forward on the autograd tape (inference and training), its recurrent step and its
 * materialised (B, H, T, T) mixing matrix; the student (the teacher's blocks with the attention replaced — Phi's
 * parallel LayerNorm block or Llama's sequential RMSNorm/SwiGLU block — optionally keeping attention copied from the
 * teacher at chosen layers), ONE definition that is both a {@link mamba4j.models.CausalLM} and, as
 * {@link mamba4j.models.discrete.MohawkStudent#trainable()}, a trainable model with the pieces the MOHAWK stages train;
 * its one name table ({@link mamba4j.models.discrete.StudentWeights}), its construction from a teacher
 * ({@link mamba4j.models.discrete.MohawkStudentInit}) and its checkpoint format
 * ({@link mamba4j.models.discrete.MohawkStudentCheckpoint}, {@code model_type: phi-mamba} or {@code llama-mamba}). The
 * classes keep the Phi-Mamba name of the paper's first student; {@link mamba4j.models.discrete.MohawkStudent.Wiring}
 * holds what differs between the two.
 *
 * <p>Not here: the stages and the distiller ({@code mamba4j.models.distill}); students of GPT-2 teachers (learned
 * positions, Conv1D weights).
 */
package mamba4j.models.discrete;
