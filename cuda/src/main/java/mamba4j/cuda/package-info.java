/**
 * NVIDIA GPUs through the FFM API (no JNI, no native build step): the layer a {@code CudaBackend} will sit on.
 *
 * <p>What is here: the bindings, all in {@link mamba4j.cuda.Driver} (driver API, {@code libcuda.so.1}),
 * {@link mamba4j.cuda.Nvrtc} (runtime compilation) and {@link mamba4j.cuda.Cublas} (cublasGemmEx), every call checked
 * and a failure thrown naming the call and the library's error name; {@link mamba4j.cuda.CudaDevice}, one GPU with its
 * stream, stream-ordered memory pool, pinned staging, kernels, events and CUDA graphs, closing everything it handed
 * out; the kernels ({@code src/main/resources/mamba4j/cuda/kernels/*.cu}) compiled by NVRTC for the device's
 * architecture at first use and cached on disk by {@link mamba4j.cuda.KernelCache}; {@link mamba4j.cuda.CudaOps}, the
 * core ops on raw device pointers; and {@link mamba4j.cuda.SelfTest}, run on the GPU host by {@code scripts/gpu-test.sh}.
 *
 * <p><b>Library search</b> ({@link mamba4j.cuda.CudaLibraries}): the folders of {@code MAMBA4J_CUDA_LIBS} (":"-separated),
 * then {@code CUDA_HOME} and {@code CUDA_PATH} ({@code lib64}, {@code targets/x86_64-linux/lib}), {@code LD_LIBRARY_PATH},
 * {@code /usr/local/cuda} and {@code /usr/local/cuda-*} (newest first), the system folders {@code /usr/lib/x86_64-linux-gnu},
 * {@code /usr/lib64}, {@code /usr/lib}, {@code /usr/lib/wsl/lib}, and a pip-installed CUDA (PyTorch's): {@code nvidia/*&#47;lib}
 * under the site-packages of {@code VIRTUAL_ENV}, {@code CONDA_PREFIX}, {@code ~/.local/lib/python3*},
 * {@code /usr/local/lib/python3*} and {@code /usr/lib/python3*}. The first folder holding a library wins; within it the
 * newest soname ({@code libnvrtc.so.13} before {@code .12}, likewise {@code libcublas}). The driver, when in no folder,
 * is asked of the system loader by name. Whatever is missing is one line naming it and the folders searched
 * ({@code --backend cuda: libcuda.so.1 not found (no NVIDIA driver?); looked in …}), never a crash.
 *
 * <p><b>Kernel parameters:</b> each kernel takes ONE struct of {@code kernels/params.cuh}, passed by value;
 * {@link mamba4j.cuda.KernelParams} mirrors each as a {@code StructLayout} (CI checks size and offsets against the
 * header by the C rules; the self-test against NVRTC's sizeof/offsetof), and a {@link mamba4j.cuda.KernelParams.Block}
 * refuses a launch with a member left unset. <b>Kernel cache:</b> {@code MAMBA4J_KERNEL_CACHE}, default
 * {@code ~/.cache/mamba4j/kernels}, one CUBIN per sha256 of (source and headers, architecture, options, NVRTC version).
 *
 * <p>Non-goals here: the {@code mamba4j.core.Backend} implementation (being redesigned), model code, training kernels
 * (next issue: the memory, stream and kernel plumbing is shared), multi-GPU.
 */
package mamba4j.cuda;
