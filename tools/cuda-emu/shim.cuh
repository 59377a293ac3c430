// A CPU stand-in for the CUDA runtime, enough to run mamba4j's kernels unchanged under g++: every CUDA thread of a
// block is a std::thread, __syncthreads a barrier, __shared__ a static (blocks run one after another), a warp shuffle
// an exchange through a slot per thread between two barriers (so the whole block must shuffle together, as every
// kernel here does). Slow (a thread per lane), and blind to what only hardware shows (races between warps without a
// barrier, register pressure, NVRTC's dialect), but it runs the kernels' exact index arithmetic and float code.
#pragma once
#include <algorithm>
#include <barrier>
#include <bit>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>
#include "params.cuh"

struct Dim3 { unsigned x, y, z; };
inline thread_local Dim3 threadIdx, blockIdx;
inline Dim3 blockDim, gridDim;
inline std::barrier<>* g_bar;
inline std::vector<std::barrier<>*> g_warp_bar;   // one per warp of the block: warp-level collectives (mma_tf32)
inline std::vector<float> g_dyn_shared;           // the block's dynamic shared memory (blocks run one at a time)
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(g_dyn_shared.data())
#define FULL_MASK 0xffffffffu
#define LOG2E_F 1.4426950408889634f
#define PDL_WAIT() do {} while (0)                // blocks run one launch at a time here: nothing to wait for
#define PDL_LAUNCH_DEPENDENTS() do {} while (0)
#define PDL_ENTRY() do {} while (0)
inline void __syncthreads() { g_bar->arrive_and_wait(); }
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
#define ALIGNED16(ptr) ((((unsigned long long)(ptr)) & 15) == 0)
#define GRID_STRIDE(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)
inline unsigned __float_as_uint(float f) { return std::bit_cast<unsigned>(f); }
inline float __uint_as_float(unsigned u) { return std::bit_cast<float>(u); }
inline float __int_as_float(int i) { return std::bit_cast<float>(i); }
template <class T> T __ldg(const T* p) { return *p; }
inline float bf16_to_f32(unsigned short h) { return __uint_as_float(((unsigned)h) << 16); }
inline float f16_to_f32(unsigned short h) { return (float)std::bit_cast<_Float16>(h); }
inline float load_w(const void* p, long long i, int dtype) {
    if (dtype == DTYPE_BF16) return bf16_to_f32(((const unsigned short*)p)[i]);
    if (dtype == DTYPE_F16) return f16_to_f32(((const unsigned short*)p)[i]);
    return ((const float*)p)[i];
}
inline float silu_f(float x) { return x / (1.0f + expf(-x)); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline unsigned short f32_to_bf16(float f) {   // round to nearest even, NaN kept a (quiet) NaN
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
    return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
inline unsigned short f32_to_f16(float f) { return std::bit_cast<unsigned short>((_Float16)f); }
inline float softplus_f(float x) { return x <= 20.0f ? log1pf(expf(x)) : x; }

inline double g_slot_d[1024]; inline float g_slot_f[1024]; inline int g_slot_i[1024]; inline unsigned g_slot_u[1024];
template <class T> T* slots();
template <> inline double* slots<double>() { return g_slot_d; }
template <> inline float* slots<float>() { return g_slot_f; }
template <> inline int* slots<int>() { return g_slot_i; }
template <> inline unsigned* slots<unsigned>() { return g_slot_u; }
inline int __ffs(int x) { return __builtin_ffs(x); }
// The block's sum, every thread's value added in thread order (the GPU's tree order differs: a rounding apart).
inline float block_sum(float v) {
    const int t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x, nt = blockDim.x * blockDim.y * blockDim.z;
    float* s = slots<float>();
    s[t] = v; __syncthreads();
    float r = 0.0f; for (int i = 0; i < nt; ++i) r += s[i];
    __syncthreads();
    return r;
}
template <class T> T __shfl_xor_sync(unsigned, T v, int o) {
    const int t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    T* s = slots<T>();
    s[t] = v; __syncthreads(); T r = s[t ^ o]; __syncthreads();
    return r;
}
// Tensor cores: the fragments of mma.sync m16n8k8 (see common.cuh) exchanged within the warp through slots between
// two warp barriers; each lane then sums its four outputs over k in order (the hardware's order is its own).
inline unsigned f32_to_tf32(float f) {   // cvt.rna: round to nearest, ties away from zero, to 10 mantissa bits
    unsigned u = __float_as_uint(f);
    if ((u & 0x7f800000u) == 0x7f800000u) return u;
    return (u + 0x1000u) & 0xffffe000u;
}
inline unsigned g_mma_a[1024][4], g_mma_b[1024][2];
// One warp-wide product of K steps: A(a registers, r, k) and B(b registers, k, c) read an element out of the lane
// that holds it (slots[lane][register]).
template <int K, class FA, class FB> inline void mma_emulated(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2], FA A, FB B) {
    const int t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x, w = t / 32, lane = t % 32, base = 32 * w;
    for (int i = 0; i < 4; ++i) g_mma_a[t][i] = a[i];
    for (int i = 0; i < 2; ++i) g_mma_b[t][i] = b[i];
    g_warp_bar[w]->arrive_and_wait();
    const int g = lane / 4, q = lane % 4;
    for (int e = 0; e < 4; ++e) {
        const int r = g + 8 * (e >> 1), c = 2 * q + (e & 1);
        float s = d[e];
        for (int k = 0; k < K; ++k) s = std::fma(A(g_mma_a + base, r, k), B(g_mma_b + base, k, c), s);
        d[e] = s;
    }
    g_warp_bar[w]->arrive_and_wait();
}
inline void mma_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    mma_emulated<8>(d, a, b, [](unsigned (*sa)[4], int r, int k) { return __uint_as_float(sa[4 * (r % 8) + k % 4][(r >= 8) + 2 * (k >= 4)]); },
                    [](unsigned (*sb)[2], int k, int c) { return __uint_as_float(sb[4 * c + k % 4][k >= 4]); });
}
// bf16 m16n8k16 (see common.cuh): a and b hold pairs of bf16, the lower k in the low half. A[r][k]: lane 4 (r % 8) +
// (k % 8) / 2, register (r >= 8) + 2 (k >= 8), half k % 2; B[k][c]: lane 4 c + (k % 8) / 2, register k >= 8.
inline unsigned pack_bf16(float lo, float hi) { return (unsigned)f32_to_bf16(lo) | ((unsigned)f32_to_bf16(hi) << 16); }
inline float bf16_half(unsigned w, int upper) { return __uint_as_float(upper ? (w & 0xffff0000u) : (w << 16)); }
inline void mma_bf16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    mma_emulated<16>(d, a, b, [](unsigned (*sa)[4], int r, int k) { return bf16_half(sa[4 * (r % 8) + (k % 8) / 2][(r >= 8) + 2 * (k >= 8)], k % 2); },
                     [](unsigned (*sb)[2], int k, int c) { return bf16_half(sb[4 * c + (k % 8) / 2][k >= 8], k % 2); });
}
#include "tf32.cuh"
inline int atomicMin(int* p, int v) { static std::mutex m; std::lock_guard<std::mutex> g(m); int old = *p; if (v < old) *p = v; return old; }
using std::min; using std::max;

// kernel<<<g, b>>>(p): blocks one after another, the threads of a block at once
template <class P> void launch(void (*k)(P), P p, Dim3 g, Dim3 b, size_t sharedBytes = 0) {
    gridDim = g; blockDim = b;
    const int nt = b.x * b.y * b.z;
    g_dyn_shared.assign(sharedBytes / 4 + 4, NAN);   // unwritten shared memory reads as NaN
    for (auto* w : g_warp_bar) delete w;
    g_warp_bar.clear();
    for (int w = 0; w < (nt + 31) / 32; ++w) g_warp_bar.push_back(new std::barrier<>(std::min(32, nt - 32 * w)));
    for (unsigned z = 0; z < g.z; ++z) for (unsigned y = 0; y < g.y; ++y) for (unsigned x = 0; x < g.x; ++x) {
        std::barrier<> bar(nt); g_bar = &bar;
        std::vector<std::thread> ts;
        for (int t = 0; t < nt; ++t) ts.emplace_back([=] {
            threadIdx = {(unsigned)(t % b.x), (unsigned)((t / b.x) % b.y), (unsigned)(t / (b.x * b.y))};
            blockIdx = {x, y, z};
            k(p);
        });
        for (auto& t : ts) t.join();
    }
}
