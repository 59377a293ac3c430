/**
 * Tensors ({@link mamba4j.core.Tensor}, {@link mamba4j.core.Shape}, {@link mamba4j.core.DType}) and the closed
 * op set ({@link mamba4j.core.Backend}) with its scalar definition, {@link mamba4j.core.ReferenceKernels}.
 *
 * <p>Non-goals: speed (the cpu and cuda modules), file formats (io), models (models). Nothing here imports
 * the incubating Vector API or native code.
 */
package mamba4j.core;
