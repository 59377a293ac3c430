#include <mutex>
#include "ssd_step.cpp"
#include <cstdio>
#include <random>
// ssd_step (one decode step, 16-byte state rows) against a float64 step of the recurrence, and against ssd_scan at L = 1
// withDt: the step computes dt = clamp(softplus(raw + bias), 0, hi) and logA = dt·a itself (Mamba-2's decode)
int run(int B, int H, int P, int G, int N, bool scale, bool D, bool withDt = false) {
    std::mt19937 rng(B*1000+H*100+P*10+N); std::uniform_real_distribution<float> U(-1,1);
    std::vector<float> x(B*H*P), logA(B*H), sc(B*H), Bm(B*G*N), Cm(B*G*N), Dv(H), st(B*H*P*N), out(B*H*P, NAN), out2(B*H*P, NAN);
    for (auto* v : {&x,&Bm,&Cm,&Dv,&st}) for (auto& e : *v) e = U(rng);
    for (auto& e : logA) e = -std::fabs(U(rng)); for (auto& e : sc) e = std::fabs(U(rng)) + 0.1f;
    std::vector<float> raw(B*H), bias(H), av(H), dtOut(B*H, NAN), logAOut(B*H, NAN);
    const float hi = 0.9f;
    if (withDt) {
        for (auto& e : raw) e = 2 * U(rng); for (auto& e : bias) e = U(rng); for (auto& e : av) e = -std::fabs(U(rng)) - 0.1f;
        for (int i = 0; i < B*H; i++) {   // the same float ops as the kernel, so the reference's inputs are exact
            float v = raw[i] + bias[i % H]; v = v <= 20.0f ? log1pf(expf(v)) : v;
            sc[i] = fminf(fmaxf(v, 0.0f), hi); logA[i] = sc[i] * av[i % H];
        }
        scale = true;
    }
    std::vector<float> st2 = st; std::vector<double> want(B*H*P), wantS(B*H*P*N);
    for (int b = 0; b < B; b++) for (int h = 0; h < H; h++) for (int p = 0; p < P; p++) {
        int g = h / (H / G); long bh = (long)b*H + h, row = bh*P + p;
        double dec = std::exp((double)logA[bh]), u = (scale ? sc[bh] : 1.0) * x[row], y = 0;
        for (int n = 0; n < N; n++) { double s = dec*st[row*N+n] + u*Bm[(b*G+g)*N+n]; wantS[row*N+n] = s; y += s*Cm[(b*G+g)*N+n]; }
        want[row] = y + (D ? Dv[h] : 0) * x[row];
    }
    SsdParams p{}; p.x = x.data(); p.logA = logA.data(); p.scale = scale ? sc.data() : nullptr; p.Bm = Bm.data(); p.Cm = Cm.data();
    p.D = D ? Dv.data() : nullptr; p.state = st.data(); p.out = out.data(); p.batch = B; p.length = 1; p.heads = H; p.head_dim = P; p.groups = G; p.dstate = N;
    if (withDt) { p.dt_raw = raw.data(); p.dt_bias = bias.data(); p.a = av.data(); p.dt_out = dtOut.data(); p.logA_out = logAOut.data(); p.dt_lo = 0.0f; p.dt_hi = hi; }
    long rows = (long)B*H*P;
    launch(ssd_step, p, {(unsigned)(((rows + SSD_STEP_ROWS - 1)/SSD_STEP_ROWS + SSD_WARPS - 1)/SSD_WARPS),1,1}, {32*SSD_WARPS,1,1});
    SsdParams q = p; q.state = st2.data(); q.out = out2.data(); q.dt_raw = nullptr;
    launch(ssd_scan, q, {(unsigned)((rows + SSD_WARPS - 1)/SSD_WARPS),1,1}, {32*SSD_WARPS,1,1});
    double my = 0, ms = 0, mv = 0;
    for (long i = 0; i < rows; i++) { my = std::max(my, std::fabs(out[i]-want[i])/(1+std::fabs(want[i]))); mv = std::max(mv, (double)std::fabs(out[i]-out2[i])); }
    for (long i = 0; i < rows*N; i++) ms = std::max(ms, std::fabs(st[i]-wantS[i]));
    if (withDt) for (int i = 0; i < B*H; i++) if (dtOut[i] != sc[i] || logAOut[i] != logA[i]) ms = INFINITY;   // written, bit for bit
    printf("B%d H%d P%d G%d N%d%s%s%s: max rel |dy| %.2e, max |dstate| %.2e, vs ssd_scan %.2e\n", B, H, P, G, N, scale ? " scale" : "", D ? " D" : "", withDt ? " dt in the step" : "", my, ms, mv);
    return my < 1e-5 && ms < 1e-6 && mv < 1e-4 && !std::isnan(my) ? 0 : 1;
}
// Rows (B·H·P) a multiple of SSD_STEP_ROWS · SSD_WARPS: the shim's shuffles are barriers of the whole block, so a warp
// that has no row (and leaves its loop) would stall the others there; on a GPU a shuffle involves its warp only.
int main() { int bad = 0;
    bad += run(3,4,6,2,16,true,true); bad += run(1,3,8,1,4,false,false); bad += run(2,6,4,3,12,true,false);
    bad += run(1,2,64,1,128,false,true); bad += run(4,4,10,2,20,true,true); bad += run(1,8,64,1,128,true,true);
    bad += run(3,4,6,2,16,true,true,true); bad += run(1,8,64,1,128,false,true,true);
    printf(bad ? "FAIL\n" : "ok\n"); return bad; }
