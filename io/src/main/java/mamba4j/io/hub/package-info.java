/**
 * The Hugging Face hub cache, read and written as huggingface_hub (and so transformers and {@code huggingface-cli})
 * lays it out, so a model fetched by any of them is used as it is and one fetched here is theirs too:
 * {@code <cache>/models--ORG--NAME/} holds {@code refs/<revision>} (a branch or tag's commit hash),
 * {@code blobs/<etag>} (file contents named by their etag: the sha256 of a large LFS file, the git hash of a small
 * one), {@code snapshots/<commit>/<file>} (relative symbolic links into blobs) and {@code .no_exist/<commit>/<file>}
 * (files the hub said are absent). Layout reference: https://huggingface.co/docs/hub/local-cache.
 *
 * <p>{@link mamba4j.io.hub.HubModels} finds a model's files there (no network when they are all there), else
 * downloads what is missing over HTTPS from {@code <endpoint>/ORG/NAME/resolve/<revision>/<file>}: resumable
 * ({@code blobs/<etag>.incomplete} continued with a Range request), a bearer token for gated models, honouring
 * {@code HF_HUB_CACHE}, {@code HF_HOME}, {@code HF_ENDPOINT}, {@code HF_TOKEN} and {@code HF_HUB_OFFLINE} as
 * huggingface_hub does ({@link mamba4j.io.hub.HubSettings}).
 *
 * <p>Non-goals: uploads, the hub's listing API, datasets and spaces, PyTorch {@code .bin} weights (refused, named),
 * the Xet storage protocol (the plain resolve URLs serve every file), cleaning the cache.
 */
package mamba4j.io.hub;
