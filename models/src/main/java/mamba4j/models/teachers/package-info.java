/**
 * The Transformer teachers that MOHAWK distils from: transformers' {@code PhiForCausalLM} (phi-1.5 family),
 * {@code LlamaForCausalLM} and {@code GPT2LMHeadModel}, read from their config.json and tensor names. One model
 * class ({@link mamba4j.models.teachers.TransformerLM}) runs all three, the differences being the block wiring
 * (Phi's parallel attention + MLP on one LayerNorm; Llama's and GPT-2's sequential pre-norm blocks), the norm
 * (LayerNorm with bias / RMSNorm), the MLP (gelu_new / SwiGLU) and the positions (rotary, partial for Phi /
 * learned for GPT-2). Attention is the fused tiled op of the backend; its probabilities are published as
 * "attn_probs" when a trace asks for them. Decoding keeps a KV cache that grows with the context.
 * {@link mamba4j.models.teachers.TransformerLM} is the same forward on the autograd tape, with the checkpoint's
 * parameter names and layouts (GPT-2's Conv1D (in, out)); {@link mamba4j.models.teachers.TeacherSaver} writes it back.
 *
 * <p>Semantics follow transformers 5.x (testdata/golden/{phi,llama,gpt2}/manifest.json). Not here: rope scaling
 * (rope_type other than "default"), sliding windows, Phi's qk_layernorm, GPT-2's scale_attn_by_inverse_layer_idx
 * and reorder_and_upcast_attn, cross-attention, padding masks (prompts of a batch have equal lengths).
 */
package mamba4j.models.teachers;
