#include <mutex>
#include "sample.cpp"
#include <cstdio>
#include <random>
// Sampling.pick of core, ported line by line
static int pick(const float* logits, int vocab, float T, int topK, float topP, double uniform) {
    if (T == 0.0f) { int best = 0; float bv = logits[0]; for (int i = 1; i < vocab; i++) if (logits[i] > bv) { bv = logits[i]; best = i; } return best; }
    std::vector<float> s(vocab); float mx = -__builtin_inff();
    for (int i = 0; i < vocab; i++) { s[i] = logits[i] / T; mx = std::max(mx, s[i]); }
    double sum = 0; std::vector<double> w(vocab);
    for (int i = 0; i < vocab; i++) { w[i] = std::exp((double)(s[i] - mx)); sum += w[i]; }
    std::vector<char> keep(vocab, 0);
    bool filters = (topK > 0 && topK < vocab) || topP < 1.0f;
    if (!filters) std::fill(keep.begin(), keep.end(), 1);
    else {
        std::vector<int> order(vocab); for (int i = 0; i < vocab; i++) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return s[a] != s[b] ? s[a] > s[b] : a < b; });
        int kept = topK > 0 ? std::min(topK, vocab) : vocab; double cum = 0;
        for (int r = 0; r < kept; r++) { int id = order[r]; keep[id] = 1; cum += w[id] / sum; if (cum >= topP) break; }
    }
    double total = 0; for (int i = 0; i < vocab; i++) if (keep[i]) total += w[i];
    double u = uniform * total; int last = -1;
    for (int i = 0; i < vocab; i++) { if (!keep[i]) continue; last = i; u -= w[i]; if (u < 0) return i; }
    return last;
}
int main() {
    std::mt19937_64 rng(7);
    std::normal_distribution<double> G(0, 3);
    std::uniform_real_distribution<double> U(0, 1);
    int rows = 7, width = 1030, vocab = 1000;
    std::vector<float> logits(rows * width);
    for (int i = 0; i < rows; i++) for (int j = 0; j < width; j++) {
        float g = (float)G(rng);
        logits[i * width + j] = j >= vocab ? 100.f : i % 3 == 1 ? std::round(g) / 2.f : g;
    }
    float settings[][3] = {{0, 0, 1}, {1, 0, 1}, {0.7f, 5, 1}, {1.3f, 0, 0.9f}, {1, 1, 1}, {0.9f, 50, 0.5f}, {1, 0, 0.01f}, {2, 3, 0.99f}, {0.5f, 1000, 1}, {1, 0, 0.3f}};
    int bad = 0, total = 0;
    for (int round = 0; round < 6; round++) {
        std::vector<double> uni(rows); std::vector<float> temp(rows), tp(rows); std::vector<int> tk(rows), ids(rows, -7);
        for (int i = 0; i < rows; i++) { float* s = settings[(i + round * 3) % 10]; temp[i] = s[0]; tk[i] = (int)s[1]; tp[i] = s[2]; uni[i] = U(rng); }
        SampleParams p{}; p.logits = logits.data(); p.uniform = uni.data(); p.temperature = temp.data(); p.top_p = tp.data(); p.top_k = tk.data();
        p.ids = ids.data(); p.width = width; p.vocab = vocab;
        launch(sample_rows, p, {(unsigned)rows, 1, 1}, {1024, 1, 1});
        for (int i = 0; i < rows; i++) {
            int want = pick(&logits[i * width], vocab, temp[i], tk[i], tp[i], uni[i]);
            total++;
            if (want != ids[i]) { bad++; printf("round %d row %d T %g k %d p %g u %g: want %d got %d\n", round, i, temp[i], tk[i], tp[i], uni[i], want, ids[i]); }
        }
    }
    printf("%d of %d differ\n", bad, total);
    return bad != 0;
}
