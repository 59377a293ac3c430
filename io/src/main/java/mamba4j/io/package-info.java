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
 * <p><b>Quantised weights in safetensors.</b> Safetensors has no dtype for block-quantised tensors, so a Q8_0 or Q4_0
 * tensor ({@link mamba4j.core.Quant}: ggml's {@code block_q8_0}/{@code block_q4_0}, 34/18 bytes per 32 weights) is
 * stored as a {@code U8} tensor of its bytes with the leading dimensions kept and the last one in bytes — a Q8_0
 * (3072, 768) weight is U8 (3072, 816), each row its 24 blocks back to back — and listed in one {@code __metadata__}
 * entry, {@code "mamba4j.quant"}, whose value (a string, as safetensors metadata values are) is a JSON object giving
 * each such tensor's dtype and shape:
 * <pre>
 * "__metadata__": {"format": "pt",
 *                  "mamba4j.quant": "{"backbone.layers.0.mixer.in_proj.weight":{"dtype":"Q8_0","shape":[3072,768]}, …}"}
 * </pre>
 * {@link mamba4j.io.Safetensors#write} writes both for any quantised tensor it is given (the key is reserved); {@link
 * mamba4j.io.SafetensorsFile} turns the listed U8 tensors back into the quantised tensors they were, zero-copy, after
 * checking that dtype, shape and byte shape agree (else a {@link mamba4j.core.UserInputException} naming the file and
 * tensor). Other safetensors readers see valid U8 tensors. The bytes are exactly GGUF's for the same types, so a
 * converter between the two copies them as they are.
 *
 * <p>Non-goals: the meaning of tensors and config keys (each model's config record and name mapping live
 * in the models module); PyTorch {@code .bin} pickles, GGUF and other formats (convert with transformers);
 * downloading from the Hub (pass a local folder); a Java re-implementation of tokenizers (one faithful
 * implementation, the Rust one, runs every {@code tokenizer.json}); chat templates.
 */
package mamba4j.io;
