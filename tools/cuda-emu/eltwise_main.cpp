#include <mutex>
#include "eltwise.cpp"
#include "movement.cpp"
#include <cstdio>
#include <random>
// The float4 paths of add, mul_silu, cast_f32, mul_row and copy_strided against their element-by-element meaning,
// bit for bit: aligned pointers (the float4 body and the tail) and misaligned ones (the fallback), on a grid sized for
// n / 4 threads as CudaOps launches them and on a grid of one small block (every loop strides).
static int bad = 0;
static void check(const char* what, long n, bool aligned, int grid, bool ok) {
    if (!ok) { printf("%s n%ld %s grid %d: MISMATCH\n", what, n, aligned ? "aligned" : "misaligned", grid); bad++; }
}
static bool same(const float* a, const float* b, long n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }
int main() {
    std::mt19937 rng(7); std::uniform_real_distribution<float> U(-4, 4);
    for (long n : {1L, 3L, 4L, 7L, 1000L, 4099L})
        for (bool aligned : {true, false})
            for (int small : {0, 1}) {
                const int off = aligned ? 0 : 1;
                std::vector<float> A(n + 8), B(n + 8), O(n + 8, NAN), W(n);
                for (auto& v : A) v = U(rng); for (auto& v : B) v = U(rng);
                float* a = (float*)(((uintptr_t)A.data() + 15) & ~(uintptr_t)15) + off;   // 16-byte aligned, or 4 past
                std::vector<float> Ab(n + 8), Bb(n + 8), Ob(n + 8);
                float* a2 = (float*)(((uintptr_t)Ab.data() + 15) & ~(uintptr_t)15) + off;
                float* b2 = (float*)(((uintptr_t)Bb.data() + 15) & ~(uintptr_t)15) + off;
                float* o2 = (float*)(((uintptr_t)Ob.data() + 15) & ~(uintptr_t)15) + off;
                for (long i = 0; i < n; i++) { a2[i] = a[i]; b2[i] = U(rng); }
                const Dim3 g = {small ? 1u : (unsigned)(((n + 3) / 4 + 63) / 64), 1, 1}, blk = {small ? 32u : 64u, 1, 1};
                EltwiseParams p{}; p.a = a2; p.b = b2; p.out = o2; p.n = n;
                launch(add, p, g, blk);
                for (long i = 0; i < n; i++) W[i] = a2[i] + b2[i];
                check("add", n, aligned, g.x, same(o2, W.data(), n));
                launch(mul_silu, p, g, blk);
                for (long i = 0; i < n; i++) W[i] = a2[i] * silu_f(b2[i]);
                check("mul_silu", n, aligned, g.x, same(o2, W.data(), n));
                for (int dt : {DTYPE_F32, DTYPE_BF16, DTYPE_F16}) {
                    std::vector<unsigned char> raw(4 * n + 32, 0xAB);
                    unsigned char* out = (unsigned char*)(((uintptr_t)raw.data() + 15) & ~(uintptr_t)15) + (aligned ? 0 : 2);
                    CastParams c{}; c.x = a2; c.out = out; c.n = n; c.out_dtype = dt;
                    launch(cast_f32, c, g, blk);
                    bool ok = true;
                    for (long i = 0; i < n; i++) {
                        if (dt == DTYPE_F32) { float v; std::memcpy(&v, out + 4 * i, 4); ok &= std::bit_cast<unsigned>(v) == std::bit_cast<unsigned>(a2[i]); }
                        else { unsigned short h; std::memcpy(&h, out + 2 * i, 2); ok &= h == (dt == DTYPE_BF16 ? f32_to_bf16(a2[i]) : f32_to_f16(a2[i])); }
                    }
                    check(dt == DTYPE_F32 ? "cast f32" : dt == DTYPE_BF16 ? "cast bf16" : "cast f16", n, aligned, g.x, ok);
                }
            }
    for (int cols : {4, 8, 12, 7, 33})                                   // mul_row: rows of whole float4 groups, and not
        for (bool aligned : {true, false}) {
            const long rows = 37, n = rows * cols; const int off = aligned ? 0 : 1;
            std::vector<float> X(n + 8), R(cols + 8), O(n + 8, NAN), W(n);
            float* x = (float*)(((uintptr_t)X.data() + 15) & ~(uintptr_t)15) + off;
            float* r = (float*)(((uintptr_t)R.data() + 15) & ~(uintptr_t)15);
            float* o = (float*)(((uintptr_t)O.data() + 15) & ~(uintptr_t)15) + off;
            for (long i = 0; i < n; i++) x[i] = U(rng); for (int j = 0; j < cols; j++) r[j] = U(rng);
            RowParams p{}; p.x = x; p.row = r; p.out = o; p.rows = rows; p.cols = cols;
            launch(mul_row, p, {(unsigned)(((n + 3) / 4 + 63) / 64), 1, 1}, {64, 1, 1});
            for (long i = 0; i < n; i++) W[i] = x[i] * r[i % cols];
            check("mul_row", n, aligned, cols, same(o, W.data(), n));
        }
    for (int total : {24, 27})                                           // copy_strided: a column split of (rows, total)
        for (int col : {0, 4, 5})
            for (int width : {8, 12, 3}) {
                if (col + width > total) continue;
                const long rows = 19; std::vector<float> S(rows * total + 8), D(rows * width + 8, NAN);
                float* s = (float*)(((uintptr_t)S.data() + 15) & ~(uintptr_t)15);
                float* d = (float*)(((uintptr_t)D.data() + 15) & ~(uintptr_t)15);
                for (long i = 0; i < rows * total; i++) s[i] = U(rng);
                CopyParams p{}; p.src = s; p.dst = d; p.src_offset = col; p.dst_offset = 0;
                p.size0 = p.size1 = 1; p.size2 = rows; p.size3 = width; p.ss0 = p.ss1 = p.ds0 = p.ds1 = 0;
                p.ss2 = total; p.ss3 = 1; p.ds2 = width; p.ds3 = 1; p.count = rows * width; p.elem_bytes = 4;
                launch(copy_strided, p, {(unsigned)(((rows * width + 3) / 4 + 63) / 64), 1, 1}, {64, 1, 1});
                bool ok = true;
                for (long i = 0; i < rows; i++) for (int j = 0; j < width; j++) ok &= std::bit_cast<unsigned>(d[i * width + j]) == std::bit_cast<unsigned>(s[i * total + col + j]);
                check("copy_strided", rows * width, (total | col | width) % 4 == 0, total * 100 + col * 10 + width, ok);
            }
    printf(bad ? "FAIL\n" : "ok\n"); return bad; }
