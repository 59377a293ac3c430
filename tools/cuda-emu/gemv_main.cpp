#include <mutex>
#include <bit>
#include "gemv.cpp"
#include <cstdio>
#include <random>
int split_of(int n, int k, int dt) { int per = dt == DTYPE_F32 ? 4 : 8; long chunks = k / per; int s = 1; while (s < 8 && (long)n * s < 32L * 132 && chunks >= 2L * 32 * s * 2) s *= 2; return s; }
int run(int m, int n, int k, int dt, bool unaligned, bool cols = false) {
    std::mt19937 rng(m*7+n*3+k); std::uniform_real_distribution<float> U(-1,1);
    std::vector<float> xs(m*k + 8), wf(n*k), bias(n), out(m*n, NAN);
    for (auto& v : xs) v = U(rng); for (auto& v : wf) v = U(rng); for (auto& v : bias) v = U(rng);
    std::vector<unsigned short> wh(n*k + 8);
    for (int i = 0; i < n*k; i++) { if (dt == DTYPE_BF16) { unsigned u = __float_as_uint(wf[i]); wh[i] = u >> 16; wf[i] = __uint_as_float(u & 0xffff0000u); } else if (dt == DTYPE_F16) { _Float16 h = (_Float16)wf[i]; wh[i] = std::bit_cast<unsigned short>(h); wf[i] = (float)h; } }
    float* x = xs.data() + (unaligned ? 1 : 0);
    std::vector<double> want(m*n);
    for (int r = 0; r < m; r++) for (int c = 0; c < n; c++) { double a = bias[c]; for (int j = 0; j < k; j++) a += (double)x[r*k+j]*wf[c*k+j]; want[r*n+c] = a; }
    GemvParams p{}; p.x = x; p.w = dt == DTYPE_F32 ? (const void*)wf.data() : (const void*)wh.data(); p.bias = bias.data(); p.out = out.data();
    p.m = m; p.n = n; p.k = k; p.w_dtype = dt; p.split = split_of(n, k, dt);
    int cpb = 8 / p.split * (cols ? GEMV_COLS : 1);
    launch(m == 1 ? linear_rows_1 : cols ? linear_rows_cols : linear_rows, p, {(unsigned)((n + cpb - 1)/cpb),1,1}, {256,1,1});
    double md = 0; for (int i = 0; i < m*n; i++) md = std::max(md, std::fabs(out[i]-want[i]) / (1 + std::fabs(want[i])));
    // each row bit for bit as linear_rows_1 computes it alone (batch invariance)
    int differ = 0;
    for (int r = 0; r < m; r++) {
        std::vector<float> one(n, NAN); GemvParams q = p; q.x = x + r*k; q.m = 1; q.out = one.data();
        int cpb1 = 8 / q.split; launch(linear_rows_1, q, {(unsigned)((n + cpb1 - 1)/cpb1),1,1}, {256,1,1});
        for (int c = 0; c < n; c++) differ += __float_as_uint(one[c]) != __float_as_uint(out[r*n+c]);
    }
    printf("m%d n%d k%d dt%d split%d%s%s: max rel %.2e, %d outputs differ from the row alone\n", m, n, k, dt, p.split, cols ? " cols" : "",
           unaligned ? " unaligned x" : "", md, differ);
    return md < 1e-4 && differ == 0 ? 0 : 1;
}
// linear_rows_1_conv: the GEMV of one row, then the conv step of columns [from, from + c) (state (c, K) in place)
int run_conv(int n, int k, int dt, int from, int c, int K, bool bias, bool silu) {
    std::mt19937 rng(n*5+k+from); std::uniform_real_distribution<float> U(-1,1);
    std::vector<float> x(k), wf((size_t)n*k), b(n), out(n, NAN), cw(c*K), cb(c), st(c*K), conv(c, NAN);
    for (auto& v : x) v = U(rng); for (auto& v : wf) v = U(rng); for (auto& v : b) v = U(rng);
    for (auto& v : cw) v = U(rng); for (auto& v : cb) v = U(rng); for (auto& v : st) v = U(rng);
    std::vector<unsigned short> wh((size_t)n*k);
    for (size_t i = 0; i < wf.size(); i++) if (dt == DTYPE_BF16) { unsigned u = __float_as_uint(wf[i]); wh[i] = u >> 16; wf[i] = __uint_as_float(u & 0xffff0000u); }
    std::vector<double> want(n), wantConv(c), wantSt(st.begin(), st.end());
    for (int col = 0; col < n; col++) { double a = bias ? b[col] : 0; for (int j = 0; j < k; j++) a += (double)x[j]*wf[(size_t)col*k+j]; want[col] = a; }
    for (int i = 0; i < c; i++) {
        double a = bias ? cb[i] : 0;
        for (int j = 0; j < K; j++) { double v = j + 1 < K ? wantSt[i*K + j + 1] : want[from + i]; wantSt[i*K + j] = v; a += v * cw[i*K + j]; }
        wantConv[i] = silu ? a / (1 + std::exp(-a)) : a;
    }
    GemvParams p{}; p.x = x.data(); p.w = dt == DTYPE_F32 ? (const void*)wf.data() : (const void*)wh.data(); p.bias = bias ? b.data() : nullptr;
    p.out = out.data(); p.m = 1; p.n = n; p.k = k; p.w_dtype = dt; p.split = split_of(n, k, dt);
    p.conv_state = st.data(); p.conv_w = cw.data(); p.conv_bias = bias ? cb.data() : nullptr; p.conv_out = conv.data();
    p.conv_from = from; p.conv_channels = c; p.conv_width = K; p.conv_silu = silu; p.conv_w_dtype = DTYPE_F32;
    int cpb = 8 / p.split;
    launch(linear_rows_1_conv, p, {(unsigned)((n + cpb - 1)/cpb),1,1}, {256,1,1});
    double md = 0;
    for (int i = 0; i < n; i++) md = std::max(md, std::fabs(out[i]-want[i]) / (1 + std::fabs(want[i])));
    for (int i = 0; i < c; i++) md = std::max(md, std::fabs(conv[i]-wantConv[i]) / (1 + std::fabs(wantConv[i])));
    for (int i = 0; i < c*K; i++) md = std::max(md, std::fabs(st[i]-wantSt[i]) / (1 + std::fabs(wantSt[i])));
    for (int i = 0; i < c; i++) if (!(conv[i] == conv[i])) md = INFINITY;
    printf("conv m1 n%d k%d dt%d split%d conv [%d, %d) K%d%s%s: max rel %.2e\n", n, k, dt, p.split, from, from + c, K, bias ? "" : " no bias", silu ? " silu" : "", md);
    return md < 1e-4 ? 0 : 1;
}
// column parts (out1 != NULL): each part holds bit for bit the columns the single-output launch writes
int run_parts(int m, int n0, int n1, int n2, int k, int dt) {
    int n = n0 + n1 + n2;
    std::mt19937 rng(m*11+n+k); std::uniform_real_distribution<float> U(-1,1);
    std::vector<float> x(m*k), wf(n*k), bias(n), whole(m*n, NAN), a(m*n0, NAN), b(m*n1, NAN), c(m*n2 + 1, NAN);
    for (auto& v : x) v = U(rng); for (auto& v : wf) v = U(rng); for (auto& v : bias) v = U(rng);
    std::vector<unsigned short> wh(n*k + 8);
    for (int i = 0; i < n*k; i++) { unsigned u = __float_as_uint(wf[i]); wh[i] = u >> 16; }
    GemvParams p{}; p.x = x.data(); p.w = dt == DTYPE_F32 ? (const void*)wf.data() : (const void*)wh.data(); p.bias = bias.data(); p.out = whole.data();
    p.m = m; p.n = n; p.k = k; p.w_dtype = dt; p.split = split_of(n, k, dt);
    int cpb = 8 / p.split * (m > 1 ? GEMV_COLS : 1);
    Dim3 grid{(unsigned)((n + cpb - 1)/cpb),1,1};
    launch(m == 1 ? linear_rows_1 : linear_rows_cols, p, grid, {256,1,1});
    GemvParams q = p; q.out = a.data(); q.out1 = b.data(); q.out2 = n2 ? c.data() : nullptr; q.n0 = n0; q.n1 = n1;
    launch(m == 1 ? linear_rows_1 : linear_rows_cols, q, grid, {256,1,1});
    int differ = 0;
    for (int r = 0; r < m; r++)
        for (int col = 0; col < n; col++) {
            float got = col < n0 ? a[r*n0 + col] : col < n0 + n1 ? b[r*n1 + col - n0] : c[r*n2 + col - n0 - n1];
            differ += __float_as_uint(got) != __float_as_uint(whole[r*n + col]);
        }
    if (!n2 && !(c[0] != c[0])) differ++;   // two parts: out2 untouched
    printf("parts m%d [%d, %d, %d] k%d dt%d: %d outputs differ from the single-output launch\n", m, n0, n1, n2, k, dt, differ);
    return differ == 0 ? 0 : 1;
}
int main() { int bad = 0;
  bad += run_parts(8, 4096, 4096, 0, 512, DTYPE_BF16); bad += run_parts(3, 48, 16, 16, 1536, DTYPE_F32); bad += run_parts(1, 5, 16, 3, 40, DTYPE_BF16);
  bad += run_parts(2, 64, 1, 31, 40, DTYPE_F32); bad += run_parts(5, 4096, 4352, 64, 256, DTYPE_BF16);
  bad += run_conv(3072, 768, DTYPE_BF16, 0, 1536, 4, true, true); bad += run_conv(200, 512, DTYPE_F32, 40, 100, 3, false, false);
  bad += run_conv(97, 256, DTYPE_BF16, 60, 37, 4, true, false);
  bad += run(1,160,4096,DTYPE_BF16,false); bad += run(3,200,4096,DTYPE_F16,false); bad += run(8,97,2048,DTYPE_F32,false);
  bad += run(2,100,1000,DTYPE_BF16,false); bad += run(5,5,4099,DTYPE_F32,false); bad += run(1,300,128,DTYPE_BF16,false);
  bad += run(1,33,1024,DTYPE_F32,true); bad += run(4,40,2048,DTYPE_BF16,true);
  // linear_rows_cols: four columns a warp (N not a multiple of the columns a block covers; every dtype; split 1 .. 8)
  bad += run(8,3072,768,DTYPE_BF16,false,true); bad += run(8,97,2048,DTYPE_F32,false,true); bad += run(3,200,4096,DTYPE_F16,false,true);
  bad += run(2,100,1000,DTYPE_BF16,false,true); bad += run(5,5,4099,DTYPE_F32,false,true); bad += run(4,40,2048,DTYPE_BF16,true,true);
  bad += run(8,1,512,DTYPE_BF16,false,true); bad += run(7,2562,1536,DTYPE_F16,false,true); bad += run(8,50,8192,DTYPE_BF16,false,true);
  printf(bad ? "FAIL\n" : "ok\n"); return bad; }
