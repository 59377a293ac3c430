#include <mutex>
#include "scan_step.cpp"
#include <cstdio>
#include <random>
static unsigned short to_bf16(float f) { unsigned u; std::memcpy(&u, &f, 4); u += 0x7fffu + ((u >> 16) & 1u); return (unsigned short)(u >> 16); }
// R > 0: delta = dt_low . dt_w^T inside the step (dt_w f32, or bf16 when bf), written back to delta
int run(int B, int E, int N, bool bias, bool Dz, int R = 0, bool bf = false) {
    std::mt19937 rng(B*1000+E*10+N); std::uniform_real_distribution<float> U(-1,1);
    std::vector<float> st(B*E*N), u(B*E), dl(B*E), db(E), A(E*N), Bm(B*(N+3)), Cm(B*(N+5)), D(E), z(B*E), out(B*E, NAN);
    for (auto* v : {&st,&u,&dl,&db,&Bm,&Cm,&D,&z}) for (auto& x : *v) x = U(rng);
    for (int i = 0; i < E*N; i++) A[i] = -(float)(i % N + 1);
    std::vector<float> xl(B*(R+2)), w(E*R); std::vector<unsigned short> wb(E*R);
    for (auto& x : xl) x = U(rng);
    for (int i = 0; i < E*R; i++) { w[i] = 0.5f*U(rng); wb[i] = to_bf16(w[i]); if (bf) w[i] = bf16_to_f32(wb[i]); }
    std::vector<double> wantDelta(B*E);
    if (R > 0) for (int b = 0; b < B; b++) for (int e = 0; e < E; e++) {
        double a = 0; for (int r = 0; r < R; r++) a += (double)xl[b*(R+2)+r]*w[e*R+r];
        wantDelta[b*E+e] = a; dl[b*E+e] = (float)a;   // the reference reads delta; the kernel must compute it
    }
    std::vector<float> st2 = st; std::vector<double> want(B*E);
    for (int b = 0; b < B; b++) for (int e = 0; e < E; e++) {
        int idx = b*E+e; double d = dl[idx] + (bias ? db[e] : 0); d = d <= 20 ? std::log1p(std::exp(d)) : d;
        double y = Dz ? D[e]*u[idx] : 0;
        for (int n = 0; n < N; n++) { double h = std::exp(d*A[e*N+n])*st2[idx*N+n] + d*u[idx]*Bm[b*(N+3)+n]; st2[idx*N+n] = (float)h; y += h*Cm[b*(N+5)+n]; }
        if (Dz) y *= z[idx]/(1+std::exp(-z[idx]));
        want[idx] = y;
    }
    ScanStepParams p{}; p.state = st.data(); p.u = u.data(); p.delta = dl.data(); p.delta_bias = bias ? db.data() : nullptr; p.A = A.data();
    p.Bm = Bm.data(); p.Cm = Cm.data(); p.D = Dz ? D.data() : nullptr; p.z = Dz ? z.data() : nullptr; p.out = out.data();
    p.b_sb = N+3; p.c_sb = N+5; p.batch = B; p.channels = E; p.dstate = N; p.delta_softplus = 1;
    if (R > 0) {
        p.dt_w = bf ? (const void*)wb.data() : (const void*)w.data(); p.dt_w_dtype = bf ? DTYPE_BF16 : DTYPE_F32;
        p.dt_low = xl.data(); p.dt_sb = R+2; p.dt_rank = R;
        for (auto& x : dl) x = NAN;   // overwritten by the step
    }
    int gs = scan_step_group(N, (long long)B*E);
    long long n = (long long)B*E*gs; int blocks = (int)((n + 255)/256);
    launch(selective_scan_step, p, {(unsigned)blocks,1,1}, {256,1,1});
    double md = 0, ms = 0;
    for (int i = 0; i < B*E; i++) md = std::max(md, std::fabs(out[i]-want[i]));
    for (int i = 0; i < B*E*N; i++) ms = std::max(ms, (double)std::fabs(st[i]-st2[i]));
    double mdl = 0;
    if (R > 0) for (int i = 0; i < B*E; i++) mdl = std::max(mdl, std::fabs(dl[i]-wantDelta[i]) / (1 + std::fabs(wantDelta[i])));
    printf("B%d E%d N%d R%d%s: max |dy| %.2e, max |dstate| %.2e, max rel delta %.2e\n", B, E, N, R, bf ? " bf16" : "", md, ms, mdl);
    return md < 1e-4 && ms < 1e-5 && mdl < 1e-5 && !std::isnan(md) ? 0 : 1;
}
int main() { int bad = 0; bad += run(3,70,16,true,true); bad += run(1,33,3,false,false); bad += run(2,17,64,true,true); bad += run(1,40,40,true,false); bad += run(2,9,1,false,true); bad += run(70,4096,16,true,true); bad += run(9,4000,128,true,false);
    bad += run(3,70,16,true,true,8); bad += run(1,33,3,false,false,5,true); bad += run(2,9,1,true,true,3); bad += run(1,48,16,true,true,128,true);
    bad += run(70,4096,16,true,true,128,true); bad += run(2,40,19,true,false,40); printf(bad ? "FAIL\n" : "ok\n"); return bad; }
