/**
 * llama.cpp's GGUF files of Mamba-1 and Mamba-2 models, read as Hugging Face checkpoints and written from loaded models
 * ({@link mamba4j.models.gguf.MambaGguf}: the one name, shape and transform mapping between the two layouts). The byte
 * format itself, and the tokenizer a GGUF file carries, live in {@code mamba4j.io}, whose package documentation lists
 * which llama.cpp source each fact comes from.
 *
 * <p>Not here: other llama.cpp architectures (Transformers, hybrids, Falcon-Mamba's dt/B/C norms); quantized weights
 * beyond what {@link mamba4j.io.GgufFile#get} reads.
 */
package mamba4j.models.gguf;
