#include <mutex>
#include "rmsnorm.cpp"
#include <cstdio>
#include <random>
// rmsnorm (with and without the residual add, residual_out aliasing x as the decode step's fused add-norm does; with
// Mamba-2's gate, x · silu(gate), instead)
// against float64, at widths the float4 path takes (D % 4 == 0, D <= 4096, aligned) and the ones it leaves to the
// element-by-element loop (odd D, D > 4096, a row start 4 bytes past alignment), with CudaOps' block size.
int run(int M, int D, bool residual, bool misaligned, bool gate = false) {
    std::mt19937 rng(M * 131 + D); std::uniform_real_distribution<float> U(-2, 2);
    std::vector<float> X(M * D + 8), R(M * D + 8), W(D + 8), O(M * D + 8, NAN);
    const int off = misaligned ? 1 : 0;
    float* x = (float*)(((uintptr_t)X.data() + 15) & ~(uintptr_t)15) + off;
    float* r = (float*)(((uintptr_t)R.data() + 15) & ~(uintptr_t)15) + off;
    float* w = (float*)(((uintptr_t)W.data() + 15) & ~(uintptr_t)15);
    float* o = (float*)(((uintptr_t)O.data() + 15) & ~(uintptr_t)15) + off;
    for (int i = 0; i < M * D; i++) { x[i] = U(rng); r[i] = U(rng); } for (int j = 0; j < D; j++) w[j] = U(rng);
    std::vector<double> want(M * D), wantH(M * D);
    for (int m = 0; m < M; m++) {
        double ss = 0;
        for (int j = 0; j < D; j++) {
            const double z = r[m*D+j], h = gate ? (double)x[m*D+j] * z / (1 + std::exp(-z)) : (double)x[m*D+j] + (residual ? r[m*D+j] : 0.0);
            wantH[m*D+j] = h; ss += h * h;
        }
        const double inv = 1 / std::sqrt(ss / D + 1e-5);
        for (int j = 0; j < D; j++) want[m*D+j] = wantH[m*D+j] * inv * w[j];
    }
    RmsNormParams p{}; p.x = x; p.residual = residual ? r : nullptr; p.gate = gate ? r : nullptr; p.residual_out = residual ? x : nullptr; p.w = w; p.out = o;
    p.rows = M; p.dim = D; p.eps = 1e-5f; p.w_dtype = DTYPE_F32;
    const unsigned threads = std::min(1024, std::max(32, (D / 4 + 31) / 32 * 32));
    launch(rmsnorm, p, {(unsigned)M, 1, 1}, {threads, 1, 1});
    double md = 0, mh = 0;
    for (int i = 0; i < M * D; i++) { md = std::max(md, std::fabs(o[i] - want[i]) / (1 + std::fabs(want[i]))); if (residual) mh = std::max(mh, std::fabs(x[i] - wantH[i])); }
    printf("M%d D%d%s%s%s: max rel |dout| %.2e, max |dh| %.2e\n", M, D, residual ? " +residual (in place)" : "", gate ? " gated" : "",
           misaligned ? " misaligned" : "", md, mh);
    return md < 2e-6 && mh < 1e-6 && !std::isnan(md) ? 0 : 1;
}
int main() { int bad = 0;
    for (bool res : {false, true}) { bad += run(3, 4, res, false); bad += run(2, 768, res, false); bad += run(2, 4096, res, false);
        bad += run(2, 333, res, false); bad += run(1, 4100, res, false); bad += run(2, 768, res, true); }
    for (int d : {4, 768, 4096, 333, 4100}) bad += run(2, d, false, false, true);
    bad += run(2, 768, false, true, true);
    printf(bad ? "FAIL\n" : "ok\n"); return bad; }
