/**
 * {@code mamba4j serve}: an OpenAI-compatible HTTP server ({@code /v1/completions}, {@code /v1/chat/completions},
 * {@code /v1/models}, {@code /health}, {@code /metrics}) with continuous batching over constant-size recurrent
 * states. {@link mamba4j.app.serve.Engine} is the one decode loop (slots, chunked prefill, batched steps, the prefix
 * state cache); {@link mamba4j.app.serve.HttpApi} the HTTP front on Jetty 12 core with a virtual thread per request.
 * The engine talks to the model API ({@code CausalLM}) only, never to a backend.
 *
 * <p>Not here: tool calls, logprobs, embeddings, batched prompts in one request, TLS (put a proxy in front).
 */
package mamba4j.app.serve;
