/**
 * Files in and out: safetensors (memory-mapped read, atomic streaming write), Hugging Face checkpoints
 * (single file or sharded index), JSON configs with errors that name file and key, tokenizers
 * ({@code tokenizer.json} through the Rust tokenizers library, or raw UTF-8 bytes), and llama.cpp's GGUF
 * ({@link mamba4j.io.GgufFile} memory-mapped read, {@link mamba4j.io.GgufWriter} atomic write, the vocabulary a GGUF
 * file carries as a tokenizer both ways in {@link mamba4j.io.GgufTokenizer}).
 *
 * <p>Everything a user can get wrong is checked when a file is opened and reported as a
 * {@link mamba4j.core.UserInputException} naming the file and the tensor, key or value at fault; after
 * that, reads do not fail. Everything written goes to a temporary file that is renamed into place
 * ({@link mamba4j.io.AtomicFiles}), so a killed run never leaves a half-written checkpoint.
 *
 * <p><b>Where the GGUF facts come from</b> (llama.cpp, github.com/ggml-org/llama.cpp; read for the facts, no code
 * taken):
 * <ul>
 *   <li>{@code gguf-py/gguf/constants.py}: the magic, version 3, default alignment 32 and {@code GGML_QUANT_VERSION} 2;
 *       the metadata value types and their codes ({@code GGUFValueType}); the tensor types, their codes and block sizes
 *       ({@code GGMLQuantizationType}, {@code GGML_QUANT_SIZES}: Q8_0 34 bytes and Q4_0 18 bytes per 32); the key names
 *       ({@code general.architecture}, {@code general.alignment}, {@code general.file_type}, {@code
 *       general.quantization_version}, {@code {arch}.context_length}, {@code .embedding_length}, {@code .block_count},
 *       {@code .feed_forward_length}, {@code .vocab_size}, {@code .attention.head_count}, {@code
 *       .attention.layer_norm_rms_epsilon}, {@code .ssm.conv_kernel}, {@code .ssm.inner_size}, {@code .ssm.state_size},
 *       {@code .ssm.time_step_rank}, {@code .ssm.group_count}, {@code .ssm.dt_b_c_rms}, {@code tokenizer.ggml.*}); the
 *       architecture names "mamba" and "mamba2"; the tensor names ({@code token_embd}, {@code output_norm}, {@code
 *       output}, {@code blk.N.attn_norm}, {@code blk.N.ssm_in}, {@code ssm_conv1d}, {@code ssm_x}, {@code ssm_dt},
 *       {@code ssm_a}, {@code ssm_d}, {@code ssm_norm}, {@code ssm_out}); token types 1–6 ({@code TokenType}); file
 *       types ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32 ({@code LlamaFileType}).</li>
 *   <li>{@code gguf-py/gguf/gguf_writer.py}: the layout — u32 magic, u32 version, u64 tensor count, u64 metadata count;
 *       a key as a string then a u32 type and the value; a string as u64 length and bytes; an array as u32 element
 *       type, u64 count, elements; a tensor info as name, u32 n_dims, the numpy shape's sizes in reverse (so ne[0] is
 *       the row length), u32 type, u64 offset; each offset the previous one plus its size padded to the alignment,
 *       zero padding after the infos and after every tensor.</li>
 *   <li>{@code ggml/src/gguf.cpp} (the reader llama.cpp uses): what a valid file is — keys unique and non-empty,
 *       {@code general.alignment} a UINT32 power of two, tensor names shorter than GGML_MAX_NAME (64) and unique, at
 *       most GGML_MAX_DIMS (4) dimensions, sizes ≥ 0 without overflow, a known type, ne[0] a multiple of the block
 *       size, offsets multiples of the alignment.</li>
 *   <li>{@code gguf-py/gguf/tensor_mapping.py}: the Hugging Face → GGUF tensor names of Mamba
 *       ({@code backbone.embeddings} → {@code token_embd}, {@code backbone.layers.N.norm} → {@code blk.N.attn_norm},
 *       {@code mixer.in_proj/conv1d/x_proj/dt_proj/A_log/D/out_proj/norm} → {@code ssm_in/ssm_conv1d/ssm_x/ssm_dt/
 *       ssm_a/ssm_d/ssm_out/ssm_norm}, {@code backbone.norm_f} → {@code output_norm}, {@code lm_head} → {@code
 *       output}).</li>
 *   <li>{@code conversion/mamba.py} ({@code convert_hf_to_gguf.py}'s {@code MambaModel} and {@code Mamba2Model}): A
 *       stored as −exp(A_log); the conv1d weight squeezed to (C, K); Mamba-1's {@code output.weight} left out when it
 *       equals {@code token_embd.weight}; Mamba-2's {@code dt_bias} written as {@code ssm_dt.bias}, A and D reshaped to
 *       (H, 1), the gated norm's weight to (G, E/G); {@code context_length} 2^20, {@code feed_forward_length} and
 *       {@code attention.head_count} 0; {@code ssm.time_step_rank} = E / head_dim (the head count) for Mamba-2; {@code
 *       ssm.dt_b_c_rms} false for Mamba; expand 2 asserted; the vocabulary padded to {@code pad_vocab_size_multiple}
 *       (8 for Mamba, 16 for Mamba-2).</li>
 *   <li>{@code conversion/base.py} (the converter's {@code TextModel}, {@code get_vocab_base}, {@code
 *       _set_vocab_gpt2}, {@code does_token_look_special}): 1-D tensors, {@code *_norm.weight}, the conv1d weight and
 *       every tensor not named {@code *.weight} kept F32, the other matrices in the output type; a byte-level BPE
 *       vocabulary written as {@code tokenizer.ggml.model = "gpt2"}, one token per embedding row, missing ids as
 *       {@code [PAD<id>]} of type unused, added tokens marked special (or looking like {@code <|…|>}) control, other added
 *       tokens user-defined, the rest normal.</li>
 *   <li>{@code gguf-py/gguf/vocab.py} ({@code SpecialVocab}): merges from tokenizer.json as "left right" (a pair list
 *       joined with a space, a space inside a part written as U+0120); BOS/EOS ids; {@code add_bos_token} from a
 *       TemplateProcessing post-processor.</li>
 *   <li>{@code src/models/mamba.cpp}, {@code src/models/mamba2.cpp} ({@code load_arch_tensors}): the sizes llama.cpp
 *       expects ({@code ssm_a} [N, E] and [1, H], {@code ssm_d} [E] and [1, H], {@code ssm_norm} [E/G, G], …), the conv
 *       and dt biases required, {@code output.weight} optional (token_embd used in its place), Mamba-1 only with
 *       expand 2. The Mamba graph ({@code build_mamba_layer}, {@code build_mamba2_layer}): D added, y·silu(z), then
 *       Mamba-2's RMS norm per group of E/G channels, no dt limit.</li>
 *   <li>{@code src/llama-model.cpp} ({@code load_hparams}): the vocabulary size from {@code {arch}.vocab_size}, else
 *       the token count. {@code src/llama-vocab.cpp}: {@code tokenizer.ggml.model} "none"/"no_vocab" is a model without
 *       a vocabulary; the pre-tokenizer types that split with GPT-2's regex alone (gpt-2, mpt, olmo, jais, trillion,
 *       granite-docling); a merge split at its first space after the first character.</li>
 *   <li>ggml's {@code dequantize_row_q8_0}, {@code dequantize_row_q4_0}, {@code quantize_row_q8_0_ref}: the Q8_0 and
 *       Q4_0 element order and rounding ({@link mamba4j.io.GgufQuant}).</li>
 * </ul>
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
 * <p>Non-goals: the meaning of tensors and config keys (each model's config record and name mapping live in the models
 * module, GGUF's in {@code mamba4j.models.gguf}); PyTorch {@code .bin} pickles and other formats (convert with
 * transformers); GGUF's SentencePiece, WordPiece and other non-byte-level vocabularies, and split (multi-file) GGUF;
 * the Hugging Face hub cache and downloads live in {@link mamba4j.io.hub}; a Java re-implementation of tokenizers (one faithful implementation,
 * the Rust one, runs every {@code tokenizer.json}, GGUF vocabularies included); chat templates.
 */
package mamba4j.io;
