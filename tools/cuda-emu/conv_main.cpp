#include <mutex>
#include "conv.cpp"
#include <cstdio>
#include <random>
// causal_conv1d continuing a state (state_in == state_out, in place), x a strided view (every other C columns of a
// (B, L, 2C) buffer), against a float64 conv over [the state's last K − 1 inputs | x] and the state it must leave
// s1, s2: the output split by channels into three tensors (B, L, s1), (B, L, s2 - s1), (B, L, C - s2) (s1 = s2 = C: one)
int run(int B, int L, int C, int K, bool bias, bool silu, bool withState, int s1 = 0, int s2 = 0) {
    if (s1 == 0) s1 = s2 = C;
    std::mt19937 rng(B*1000+L*100+C*10+K); std::uniform_real_distribution<float> U(-1,1);
    std::vector<float> xz((size_t)B*L*2*C), w((size_t)C*K), bs(C), st((size_t)B*C*K), out((size_t)B*L*C, NAN);
    for (auto* v : {&xz,&w,&bs,&st}) for (auto& e : *v) e = U(rng);
    if (!withState) std::fill(st.begin(), st.end(), 0.0f);
    std::vector<double> want((size_t)B*L*C), wantS((size_t)B*C*K);
    for (int b = 0; b < B; b++) for (int c = 0; c < C; c++) {
        std::vector<double> in(K - 1 + L);
        for (int j = 1; j < K; j++) in[j - 1] = st[((size_t)b*C + c)*K + j];
        for (int t = 0; t < L; t++) in[K - 1 + t] = xz[((size_t)b*L + t)*2*C + c];
        for (int t = 0; t < L; t++) {
            double acc = bias ? bs[c] : 0;
            for (int j = 0; j < K; j++) acc += (double)w[(size_t)c*K + j] * in[t + j];
            want[((size_t)b*L + t)*C + c] = silu ? acc / (1 + std::exp(-acc)) : acc;
        }
        for (int j = 0; j < K; j++) wantS[((size_t)b*C + c)*K + j] = in[L - 1 + j];
    }
    Conv1dParams p{}; p.x = xz.data(); p.w = w.data(); p.bias = bias ? bs.data() : nullptr; p.out = out.data();
    p.state_out = st.data(); p.state_in = withState ? st.data() : nullptr; p.x_sb = (long long)L*2*C; p.x_st = 2*C;
    p.batch = B; p.length = L; p.channels = C; p.width = K; p.silu = silu; p.w_dtype = 0;
    std::vector<float> o2((size_t)B*L*(s2 - s1), NAN), o3((size_t)B*L*(C - s2), NAN), o1((size_t)B*L*s1, NAN);
    p.split1 = s1; p.split2 = s2;
    if (s1 < C) { p.out = o1.data(); p.out2 = o2.data(); p.out3 = o3.data(); }
    launch(causal_conv1d, p, {(unsigned)((C + 127)/128), (unsigned)((L + CONV_TILE - 1)/CONV_TILE), (unsigned)B}, {128,1,1});
    if (s1 < C)   // the parts side by side again
        for (size_t r = 0; r < (size_t)B*L; r++) for (int c = 0; c < C; c++)
            out[r*C + c] = c < s1 ? o1[r*s1 + c] : c < s2 ? o2[r*(s2 - s1) + c - s1] : o3[r*(C - s2) + c - s2];
    double my = 0, ms = 0;
    for (size_t i = 0; i < want.size(); i++) my = std::max(my, std::fabs(out[i]-want[i])/(1+std::fabs(want[i])));
    for (size_t i = 0; i < wantS.size(); i++) ms = std::max(ms, std::fabs(st[i]-wantS[i]));
    printf("B%d L%d C%d K%d%s%s%s parts at %d, %d: max rel |dy| %.2e, max |dstate| %.2e\n", B, L, C, K, bias ? " bias" : "", silu ? " silu" : "",
           withState ? " continuing" : " from zeros", s1, s2, my, ms);
    return my < 1e-5 && ms == 0 && !std::isnan(my) ? 0 : 1;
}
// causal_conv1d_step with its output in parts (out2 set): each part bit for bit what the one-output step writes, and
// the same state; against a float64 step as well
int run_step(int B, int C, int K, int s1, int s2) {
    std::mt19937 rng(B*100+C*10+K+s1); std::uniform_real_distribution<float> U(-1,1);
    std::vector<float> x((size_t)B*C), w((size_t)C*K), bs(C), st((size_t)B*C*K), whole((size_t)B*C, NAN);
    for (auto* v : {&x,&w,&bs,&st}) for (auto& e : *v) e = U(rng);
    std::vector<float> st2 = st, a((size_t)B*s1, NAN), b((size_t)B*(s2 - s1) + 1, NAN), c((size_t)B*(C - s2) + 1, NAN);
    std::vector<double> want((size_t)B*C);
    for (int r = 0; r < B; r++) for (int ch = 0; ch < C; ch++) {
        double acc = bs[ch];
        for (int k = 0; k < K; k++) acc += (double)w[(size_t)ch*K + k] * (k + 1 < K ? st[((size_t)r*C + ch)*K + k + 1] : x[(size_t)r*C + ch]);
        want[(size_t)r*C + ch] = acc / (1 + std::exp(-acc));
    }
    Conv1dStepParams p{}; p.state = st.data(); p.x = x.data(); p.w = w.data(); p.bias = bs.data(); p.out = whole.data();
    p.batch = B; p.channels = C; p.width = K; p.silu = 1; p.w_dtype = DTYPE_F32; p.split1 = C; p.split2 = C;
    Dim3 grid{(unsigned)((B*C + 127)/128),1,1};
    launch(causal_conv1d_step, p, grid, {128,1,1});
    Conv1dStepParams q = p; q.state = st2.data(); q.out = a.data(); q.out2 = b.data(); q.out3 = s2 < C ? c.data() : nullptr; q.split1 = s1; q.split2 = s2;
    launch(causal_conv1d_step, q, grid, {128,1,1});
    int differ = 0; double md = 0;
    for (int r = 0; r < B; r++) for (int ch = 0; ch < C; ch++) {
        float got = ch < s1 ? a[(size_t)r*s1 + ch] : ch < s2 ? b[(size_t)r*(s2-s1) + ch - s1] : c[(size_t)r*(C-s2) + ch - s2];
        differ += __float_as_uint(got) != __float_as_uint(whole[(size_t)r*C + ch]);
        md = std::max(md, std::fabs(whole[(size_t)r*C + ch] - want[(size_t)r*C + ch]) / (1 + std::fabs(want[(size_t)r*C + ch])));
    }
    for (size_t i = 0; i < st.size(); i++) differ += __float_as_uint(st[i]) != __float_as_uint(st2[i]);
    if (s2 == C && !(c[0] != c[0])) differ++;   // two parts: out3 untouched
    printf("step parts B%d C%d K%d [%d, %d, %d]: max rel %.2e, %d values differ from the one-output step\n", B, C, K, s1, s2 - s1, C - s2, md, differ);
    return md < 1e-5 && differ == 0 ? 0 : 1;
}
int main() { int bad = 0;
    bad += run_step(8, 4352, 4, 4096, 4224); bad += run_step(3, 40, 4, 24, 40); bad += run_step(5, 37, 3, 20, 29); bad += run_step(2, 5, 2, 1, 2);
    for (int L : {1, 2, 3, 70, 130}) { bad += run(2,L,5,4,true,true,true); bad += run(1,L,130,3,false,false,true); }
    bad += run(2,9,33,2,true,true,true); bad += run(3,4,17,4,true,false,false); bad += run(1,65,129,4,false,true,false);
    bad += run(2,70,200,4,true,true,true,128,164); bad += run(1,130,37,4,false,true,false,20,29); bad += run(2,3,40,4,true,true,true,24,40);
    printf(bad ? "FAIL\n" : "ok\n"); return bad; }
