/**
 * Files in and out: safetensors (memory-mapped read, atomic streaming write), Hugging Face checkpoints
 * (single file or sharded index), JSON configs with errors that name file and key, and tokenizers
 * ({@code tokenizer.json} through the Rust tokenizers library, or raw UTF-8 bytes).
 *
 * <p>Everything a user can get wrong is checked when a file is opened and reported as a
 * {@link mamba4j.core.UserInputException} naming the file and the tensor, key or value at fault; after
 * that, reads do not fail. Everything written goes to a temporary file that is renamed into place
 * ({@link mamba4j.io.AtomicFiles}), so a killed run never leaves a half-written checkpoint.
 *
 * <p>Non-goals: the meaning of tensors and config keys (each model's config record and name mapping live
 * in the models module); PyTorch {@code .bin} pickles, GGUF and other formats (convert with transformers);
 * the Hugging Face hub cache and downloads live in {@link mamba4j.io.hub}; a Java re-implementation of tokenizers (one faithful
 * implementation, the Rust one, runs every {@code tokenizer.json}); chat templates.
 */
package mamba4j.io;
