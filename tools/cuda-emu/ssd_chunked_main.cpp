#include "ssd_chunked.cpp"
#include <cstdio>
#include <random>
#include <cstdlib>
#include <algorithm>
#include <string>
static long long align16(long long b) { return (b + 15) & ~15LL; }
static int blocks(long long n, int per) { return (int)((n + per - 1) / per); }

// mirrors CudaOps.ssdChunked's launches, chunks of p.chunk steps
static void ssd_chunked(SsdChunkParams p) {
    int B = p.batch, L = p.length, H = p.heads, P = p.head_dim, G = p.groups, N = p.dstate, Q = p.chunk, nc = (L + Q - 1) / Q, tq = Q / 64;
    long long bh = (long long)B * H;
    int nT = (N + 63) / 64, pT = (P + 63) / 64;
    launch(ssd_chunk_cumsum, p, {(unsigned)blocks(bh * nc, 256), 1, 1}, {256, 1, 1});
    if (getenv("SSD_WALK")) launch(ssd_state_walk, p, {(unsigned)bh, (unsigned)(nT * pT), 1}, {256, 1, 1});
    else {
        launch(ssd_chunk_state, p, {(unsigned)bh, (unsigned)nc, (unsigned)(nT * pT)}, {256, 1, 1});
        launch(ssd_state_pass, p, {(unsigned)blocks(bh * N * P, 256), 1, 1}, {256, 1, 1});
    }
    launch(ssd_chunk_cb, p, {(unsigned)(B * G), (unsigned)nc, (unsigned)(tq * tq)}, {256, 1, 1});
    launch(ssd_chunk_scan, p, {(unsigned)bh, (unsigned)nc, (unsigned)(tq * pT)}, {256, 1, 1});
}

// mirrors CudaOps.ssdChunked's fused launches (ssdFusedSharedBytes for the shared size)
static bool fused_applies(int P, int N) { return N <= 128 && N % 8 == 0 && P % 4 == 0; }
static void ssd_fused(SsdChunkParams p) {
    int B = p.batch, L = p.length, H = p.heads, P = p.head_dim, G = p.groups, N = p.dstate, nc = (L + 63) / 64;
    long long bh = (long long)B * H;
    int n32 = (N + 31) / 32 * 32, n16 = (N + 15) / 16 * 16;
    size_t shared = 4 * (64 * (n32 + 4) + 64 * (n32 + 8) + 64 * 40 + n16 * 40 + 64 * 68 + 4 * 64);
    launch(ssd_chunk_cumsum, p, {(unsigned)blocks(bh * nc, 256), 1, 1}, {256, 1, 1});
    launch(ssd_chunk_cb, p, {(unsigned)(B * G), (unsigned)nc, 1}, {256, 1, 1});
    launch(ssd_chunk_fused, p, {(unsigned)bh, (unsigned)((P + 31) / 32), 1}, {256, 1, 1}, shared);
}

int main(int argc, char** argv) {
    int B = atoi(argv[1]), L = atoi(argv[2]), H = atoi(argv[3]), P = atoi(argv[4]), G = atoi(argv[5]), N = atoi(argv[6]);
    bool wS = atoi(argv[7]), wD = atoi(argv[8]), wSt = atoi(argv[9]);
    double slow = argc > 10 ? atof(argv[10]) : 0.3;
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<float> U(-1, 1);
    std::normal_distribution<double> Gs(0, 1);
    std::vector<float> x((size_t)B*L*H*P), la((size_t)B*L*H), sc((size_t)B*L*H), bm((size_t)B*L*G*N), cm((size_t)B*L*G*N), d(H), st((size_t)B*H*P*N);
    for (auto& v : x) v = U(rng);
    for (size_t i = 0; i < la.size(); ++i) { int h = i % H; la[i] = (float)-(0.002 + std::fabs(Gs(rng)) * (h % 2 ? 0.02 : slow)); }
    for (auto& v : sc) v = 0.55f + 0.5f * U(rng);
    for (auto& v : bm) v = U(rng);
    for (auto& v : cm) v = U(rng);
    for (auto& v : d) v = 1 + 0.5f * U(rng);
    for (auto& v : st) v = U(rng);
    // reference recurrence in double
    std::vector<double> yr(x.size()), sr((size_t)B*H*P*N);
    for (int b = 0; b < B; ++b) for (int h = 0; h < H; ++h) {
        int g = h / (H / G);
        std::vector<double> S((size_t)P*N);
        for (int k = 0; k < P*N; ++k) S[k] = wSt ? st[((size_t)b*H + h)*P*N + k] : 0;
        for (int t = 0; t < L; ++t) {
            size_t ih = ((size_t)b*L + t)*H + h, ig = (((size_t)b*L + t)*G + g)*N;
            double a = std::exp((double)la[ih]), s = wS ? sc[ih] : 1;
            for (int pp = 0; pp < P; ++pp) {
                double xv = x[ih*P + pp], y = wD ? d[h]*xv : 0;
                for (int n = 0; n < N; ++n) { double& v = S[pp*N + n]; v = a*v + s*xv*bm[ig + n]; y += v*cm[ig + n]; }
                yr[ih*P + pp] = y;
            }
        }
        for (int k = 0; k < P*N; ++k) sr[((size_t)b*H + h)*P*N + k] = S[k];
    }
    int nc = (L + 63) / 64, nc256 = (L + 255) / 256;   // the most chunk states (Q 64), the largest cb (Q 256)
    long long bytes = align16(4LL*B*H*L) + align16(4LL*B*nc*H*N*P) + align16(4LL*B*nc256*G*256*256);
    std::vector<float> scratch(bytes / 4 + 4, NAN), out(x.size(), NAN), stc = st;
    SsdChunkParams p{};
    p.x = x.data(); p.logA = la.data(); p.scale = wS ? sc.data() : nullptr; p.Bm = bm.data(); p.Cm = cm.data();
    p.D = wD ? d.data() : nullptr; p.state = wSt ? stc.data() : nullptr; p.out = out.data();
    p.acum = scratch.data(); p.states = scratch.data() + align16(4LL*B*H*L)/4; p.cb = p.states + align16(4LL*B*nc*H*N*P)/4;
    p.batch = B; p.length = L; p.heads = H; p.head_dim = P; p.groups = G; p.dstate = N;
    // SSD_TOL="atol rtol" (the bf16 tiles' build: bf16 operands); default float32's 5e-4 5e-4
    double atol = 5e-4, rtol = 5e-4;
    if (getenv("SSD_TOL")) sscanf(getenv("SSD_TOL"), "%lf %lf", &atol, &rtol);
    auto cmp = [atol, rtol](const char* what, const float* got, const double* want, size_t n) {
        double ma = 0, mr = 0, mw = 0; long bad = -1;
        for (size_t i = 0; i < n; ++i) {
            double dd = std::fabs(got[i] - want[i]);
            if (!(dd == dd)) { bad = i; ma = INFINITY; break; }
            ma = std::max(ma, dd); mw = std::max(mw, std::fabs(want[i]));
            if (want[i] != 0) mr = std::max(mr, dd / std::fabs(want[i]));
            if (bad < 0 && !(dd <= atol + rtol * std::fabs(want[i]))) bad = i;
        }
        printf("  %-12s max abs %.2e max rel %.2e (max |want| %.3g) %s", what, ma, mr, mw, bad < 0 ? "PASS\n" : "FAIL");
        if (bad >= 0) printf(" first bad [%ld] got %.8g want %.8g\n", bad, got[bad], want[bad]);
        return bad < 0;
    };
    printf("B %d L %d H %d P %d G %d N %d scale %d D %d state %d\n", B, L, H, P, G, N, wS, wD, wSt);
    bool ok = true;
    const int chunks[] = {64, 128, 256, 64};   // the five kernels in chunks of 64, 128, 256, then the fused kernel
    for (int k = 0; k < 4; ++k) {
        const bool fused = k == 3;
        if (fused && (!fused_applies(P, N) || (argc > 11 && std::string(argv[11]) == "nofused"))) break;
        std::fill(scratch.begin(), scratch.end(), NAN);
        std::fill(out.begin(), out.end(), NAN);
        stc = st;
        p.chunk = chunks[k];
        if (fused) ssd_fused(p); else ssd_chunked(p);
        if (fused) printf(" fused (tensor cores, emulated)\n"); else printf(" five kernels, Q %d\n", chunks[k]);
        ok &= cmp("out", out.data(), yr.data(), out.size());
        if (wSt) ok &= cmp("final state", stc.data(), sr.data(), stc.size());
    }
    return ok ? 0 : 1;
}
