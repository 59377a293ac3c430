package mamba4j.app.serve;

import mamba4j.core.Tensor;
import mamba4j.io.StreamingDecoder;
import mamba4j.io.Tokenizer;
import mamba4j.models.CausalLM;
import mamba4j.models.Sampler;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Continuous batching over a {@link CausalLM}: one decode thread owns the model and every decode state, and loops
 * <ol>
 * <li>admit: a queued request takes a free slot when no prompt is being prefilled; its prompt starts from the longest
 *     cached prefix state ({@link PrefixCache}) or from empty;</li>
 * <li>prefill one chunk of that prompt ({@link CausalLM#extend} on a batch-1 state, chunk boundaries at multiples of
 *     the chunk size counted from the prompt's start, so a cached prefix + the rest computes exactly what the whole
 *     prompt does); after the last chunk the first token is sampled and the state is copied into the slot
 *     ({@link CausalLM#copySequence});</li>
 * <li>one decode step over every page that holds an active sequence, then sampling, text, stop checks; a finished
 *     or cancelled (client gone) sequence frees its slot here, at the step boundary.</li>
 * </ol>
 * Slots live in pages: decode states of a fixed batch P ({@code stepBatch}), stepped whole, idle rows included, while
 * most of their rows are busy; a page with fewer busy rows is stepped at a smaller batch ({@link #workBatch}: their
 * count, for pages of up to 8 rows) with its rows copied into a state of that batch and back, on the host backend only, where each row of a step is
 * computed alike at any batch up to the GEMV's block (SequenceSlotsTest): a greedy request gives the same tokens alone
 * and among others, and one stream does not pay for eight. A KV cache (Transformers, and the
 * attention layers the hybrid students keep) steps each row at its own position, bounded by the max context, and
 * idle rows are cleared after every step so they never grow.
 *
 * <p>The engine talks to the model API only (extend, copySequence, step, logits); a CUDA backend plugs in beneath
 * it. HTTP threads only {@link #submit} and read their {@link Stream}'s events.
 */
public final class Engine implements AutoCloseable {
    /** Server-wide limits. */
    public record Settings(int maxSequences, int maxContext, int stepBatch, int prefillChunk, int maxQueue, long prefixCacheBytes,
                           long warmupMillis) {
        public Settings {
            if (maxSequences < 1) throw new IllegalArgumentException("--max-sequences must be >= 1, got " + maxSequences);
            if (maxContext < 2) throw new IllegalArgumentException("--max-context must be >= 2, got " + maxContext);
            if (stepBatch < 1) throw new IllegalArgumentException("--step-batch must be >= 1, got " + stepBatch);
            if (prefillChunk < 1) throw new IllegalArgumentException("--prefill-chunk must be >= 1, got " + prefillChunk);
            if (maxQueue < 0) throw new IllegalArgumentException("--max-queue must be >= 0, got " + maxQueue);
            if (prefixCacheBytes < 0) throw new IllegalArgumentException("--prefix-cache-mb must be >= 0");
        }
    }

    /** What one sequence asks for; validated by the HTTP layer. */
    public record Params(int maxTokens, float temperature, int topK, float topP, long seed, List<String> stop) {}

    /** Events of one sequence, in order: tokens, then exactly one Finished or Failed. */
    public sealed interface Event permits Token, Finished, Failed {}
    /** A sampled token and the text it completes (may be empty while a character or a possible stop string is held back). */
    public record Token(int id, String text) implements Event {}
    /** finishReason "stop" (EOS or a stop string) or "length". */
    public record Finished(String text, String finishReason, int promptTokens, int completionTokens) implements Event {}
    public record Failed(String message) implements Event {}

    /** The server is full: the queue holds {@code maxQueue} requests. */
    public static final class Overloaded extends Exception {
        Overloaded(String m) { super(m); }
    }

    /** One generation's handle: its events, and cancel (the client went away). */
    public static final class Stream {
        final int[] prompt;
        final Params params;
        final long submittedNanos;
        final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
        volatile boolean cancelled;

        Stream(int[] prompt, Params params) {
            this.prompt = prompt;
            this.params = params;
            submittedNanos = System.nanoTime();
        }

        /** The next event, waiting at most the timeout; null on timeout. */
        public Event next(long timeout, TimeUnit unit) throws InterruptedException { return events.poll(timeout, unit); }

        /** Frees the sequence's slot at the next step boundary. */
        public void cancel() { cancelled = true; }
    }

    /** A sequence the loop works on: its stream, sampler, text state and slot. */
    private final class Seq {
        final Stream s;
        final Sampler sampler;
        final StreamingDecoder decoder;
        final StringBuilder held = new StringBuilder();      // decoded, not yet emitted (may begin a stop string)
        final StringBuilder text = new StringBuilder();      // emitted so far
        int pos;                                             // prompt tokens prefilled
        int page = -1, row = -1;                             // the slot
        int generated, last;
        long lastTokenNanos;

        Seq(Stream s) {
            this.s = s;
            Params p = s.params;
            sampler = new Sampler(p.temperature(), p.topK(), p.topP(), p.seed());
            decoder = new StreamingDecoder(tokenizer);
        }
    }

    private final CausalLM model;
    private final Tokenizer tokenizer;
    private final Settings settings;
    private volatile ServeMetrics metrics;                   // swapped for a throwaway one while warm-up requests run
    private final PrefixCache cache;
    private final int eos, pageSize;
    private final boolean clearIdleRows;                     // KV caches: an idle row is reset each step so it never grows
    private final CausalLM.DecodeState[] pages;
    private final Seq[][] slots;                             // [page][row], null = free
    private final int[][] pageTokens;
    private final CausalLM.DecodeState scratch, empty;       // batch 1: the prompt being prefilled; an empty state
    private final boolean compact;                           // step a lightly used page at a smaller batch (host backends)
    private final CausalLM.DecodeState[] work;               // [w]: a batch-w state for compacted steps, made when first needed
    private final int[][] workTokens;
    private final ArrayBlockingQueue<Stream> queue;
    private final Object wake = new Object();
    private final Thread loop;
    private final ArrayDeque<Seq> prefilling = new ArrayDeque<>();
    private volatile boolean running = true;
    private volatile Throwable fatal;
    private int active;
    private float[] logitsHost = new float[0];

    public Engine(CausalLM model, Tokenizer tokenizer, Settings settings, ServeMetrics metrics) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.settings = settings;
        this.metrics = metrics;
        this.eos = tokenizer.eosTokenId().orElse(model.eosTokenId());
        empty = model.newState(1);
        scratch = model.newState(1);
        pageSize = Math.min(settings.stepBatch(), settings.maxSequences());
        clearIdleRows = empty.growsWithLength();
        compact = model.backend().device().isHost() && pageSize > 1;
        work = new CausalLM.DecodeState[pageSize];
        workTokens = new int[pageSize][];
        int n = (settings.maxSequences() + pageSize - 1) / pageSize;
        pages = new CausalLM.DecodeState[n];
        slots = new Seq[n][];
        pageTokens = new int[n][];
        for (int i = 0; i < n; i++) {
            pages[i] = model.newState(pageSize);
            slots[i] = new Seq[pageSize];
            pageTokens[i] = new int[pageSize];
        }
        cache = new PrefixCache(model, settings.prefixCacheBytes(), metrics);
        queue = new ArrayBlockingQueue<>(Math.max(1, settings.maxQueue()));
        long stateBytes = 0;
        for (CausalLM.DecodeState p : pages) stateBytes += p.allocatedBytes() + p.bufferBytes();
        metrics.slotBytes.set(stateBytes);
        warmUp(settings.warmupMillis() * 2 / 3);
        loop = Thread.ofPlatform().name("mamba4j-decode").daemon().start(this::run);
        warmUpRequests(settings.warmupMillis() / 3);
    }

    /**
     * The second part of the warm-up, once the loop runs: short generations submitted as a request is (1, 2 and 4 at
     * once; sampled and greedy), so the paths only a request takes — admission, sampling, the streaming decoder, the
     * compacted steps' row copies — are compiled too (after the model-only part, the first request still ran at ~5.5 ms
     * a token against 1.5 ms for the next ones). Counted in a throwaway metrics registry; prompts shorter than a prefill
     * chunk, so the prefix cache keeps nothing of them.
     */
    private void warmUpRequests(long millis) {
        if (millis <= 0) return;
        ServeMetrics live = metrics;
        metrics = new ServeMetrics();
        try {
            long t0 = System.nanoTime();
            int len = Math.max(1, Math.min(16, Math.min(settings.prefillChunk() - 1, settings.maxContext() / 2)));
            int tokens = Math.max(1, Math.min(24, settings.maxContext() - len - 1));
            java.util.Random r = new java.util.Random(1);
            int vocab = Math.min(256, model.vocabSize());
            for (int round = 0; System.nanoTime() - t0 < millis * 1_000_000L; round++) {
                int n = Math.min(settings.maxSequences(), 1 << (round % 3));
                List<Stream> streams = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    int[] prompt = r.ints(len, 0, vocab).toArray();
                    Params p = round % 2 == 0 ? new Params(tokens, 0.8f, 40, 0.95f, round * 8L + i, List.of()) : new Params(tokens, 0f, 0, 1f, 0, List.of());
                    streams.add(submit(prompt, p));
                }
                for (Stream st : streams)
                    for (Event e; (e = st.next(30, TimeUnit.SECONDS)) != null && !(e instanceof Finished) && !(e instanceof Failed); ) { }
            }
        } catch (Overloaded | IllegalStateException | mamba4j.core.UserInputException e) {
            // a server too small for the warm-up's requests (or one whose loop failed: reported by the next request)
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            metrics = live;
        }
    }

    /**
     * Runs prefills and decode steps at every batch the loop will step ({@link #workBatches}) on states of their own,
     * for about {@code millis}, before the first request: the JIT compiles the decode kernels over the first few hundred
     * steps (a fresh server streamed the demo teacher at ~10 ms a token for its first ~200 tokens against 0.5 ms a
     * step once compiled). As llama-server's start-up warm-up; serve --no-warmup skips it. Touches no slot. At most
     * 48 positions (a 32-token prompt, the packed-GEMM size, then 16 steps); a model with fewer positions than that is
     * warmed as far as its positions go.
     */
    private void warmUp(long millis) {
        if (millis <= 0) return;
        long t0 = System.nanoTime();
        int promptLen = Math.max(1, Math.min(Math.min(settings.prefillChunk(), 32), settings.maxContext() / 2));
        int steps = Math.max(0, Math.min(16, settings.maxContext() - promptLen - 1));
        java.util.SortedSet<Integer> sizes = workBatches();
        try {
            do {
                for (int w : sizes) {
                    CausalLM.DecodeState s = model.newState(w);
                    hostLogits(model.extend(s, new int[w][promptLen]), w);
                    if (w == 1 && promptLen > 16) hostLogits(model.extend(model.newState(1), new int[1][16]), 1);   // short prompts: the small-M matmul
                    for (int i = 0; i < steps; i++) hostLogits(model.step(s, new int[w]), w);
                }
            } while (System.nanoTime() - t0 < millis * 1_000_000L);
        } catch (mamba4j.core.UserInputException tooLong) {
            // the model has fewer positions than the warm-up used: requests are bounded by them all the same
        }
    }

    public Settings settings() { return settings; }
    public int pageSize() { return pageSize; }
    public PrefixCache prefixCache() { return cache; }

    /** Queues a generation; throws Overloaded when the queue is full, IllegalStateException when the engine died. */
    public Stream submit(int[] prompt, Params params) throws Overloaded {
        if (fatal != null) throw new IllegalStateException("the decode loop stopped: " + fatal);
        Stream s = new Stream(prompt, params);
        if (settings.maxQueue() == 0 && active + prefilling.size() >= settings.maxSequences() || !queue.offer(s))
            throw new Overloaded("the server is busy: " + settings.maxSequences() + " sequences run and " + queue.size()
                    + " requests wait (--max-queue " + settings.maxQueue() + "); retry later");
        metrics.queueDepth.set(queue.size());
        synchronized (wake) { wake.notifyAll(); }
        return s;
    }

    @Override public void close() {
        running = false;
        synchronized (wake) { wake.notifyAll(); }
        try { loop.join(10_000); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
    }

    // ------------------------------------------------------------------ the decode loop (one thread)

    private void run() {
        try {
            while (running) {
                boolean worked = admit();
                worked |= prefillChunk();
                worked |= decodeStep();
                metrics.activeSequences.set(active);
                metrics.queueDepth.set(queue.size());
                if (!worked) synchronized (wake) {
                    if (running && queue.isEmpty() && active == 0 && prefilling.isEmpty()) wake.wait(50);
                }
            }
        } catch (Throwable t) {
            fatal = t;
            failAll("internal error in the decode loop: " + t);
            if (t instanceof Error e) throw e;
            throw new RuntimeException(t);
        }
    }

    private void failAll(String message) {
        for (Seq[] page : slots) for (Seq q : page) if (q != null) q.s.events.add(new Failed(message));
        for (Seq q : prefilling) q.s.events.add(new Failed(message));
        for (Stream s; (s = queue.poll()) != null; ) s.events.add(new Failed(message));
    }

    /** Moves one queued request into prefill when a slot is free and nothing else is being prefilled. */
    private boolean admit() {
        if (!prefilling.isEmpty() || active >= settings.maxSequences()) return false;
        Stream s = queue.poll();
        if (s == null) return false;
        if (s.cancelled) { dropCancelled(s); return true; }
        Seq q = new Seq(s);
        PrefixCache.Hit hit = cache.lookup(s.prompt, settings.prefillChunk());
        if (hit == null) model.copySequence(empty, 0, scratch, 0);
        else {
            model.copySequence(hit.state(), 0, scratch, 0);
            q.pos = hit.length();
        }
        prefilling.add(q);
        return true;
    }

    /** One chunk of the prompt being prefilled; after its last chunk the sequence takes its slot and its first token. */
    private boolean prefillChunk() {
        Seq q = prefilling.peek();
        if (q == null) return false;
        if (q.s.cancelled) {
            prefilling.poll();
            dropCancelled(q.s);
            return true;
        }
        int c = settings.prefillChunk(), len = q.s.prompt.length;
        int end = Math.min(len, (q.pos / c + 1) * c);
        Tensor logits = model.extend(scratch, new int[][]{Arrays.copyOfRange(q.s.prompt, q.pos, end)});
        metrics.promptTokens.inc(end - q.pos);
        q.pos = end;
        if (end % c == 0) cache.put(Arrays.copyOf(q.s.prompt, end), scratch);
        if (end < len) return true;
        prefilling.poll();
        int[] where = freeSlot();
        q.page = where[0];
        q.row = where[1];
        slots[q.page][q.row] = q;
        active++;
        model.copySequence(scratch, 0, pages[q.page], q.row);
        float[] row = hostLogits(logits, 1);
        accept(q, q.sampler.sample(row, 0, model.vocabSize()));
        return true;
    }

    /** A cancelled sequence leaves; its stream still gets an end, in case someone reads it. */
    private void dropCancelled(Stream s) {
        metrics.cancelled.inc();
        s.events.add(new Failed("the request was cancelled (its client went away or timed out)"));
    }

    private int[] freeSlot() {
        for (int p = 0; p < pages.length; p++)
            for (int r = 0; r < pageSize; r++)
                if (slots[p][r] == null && p * pageSize + r < settings.maxSequences()) return new int[]{p, r};
        throw new IllegalStateException("no free slot with " + active + " active of " + settings.maxSequences());
    }

    /** One step of every page that holds an active sequence. */
    private boolean decodeStep() {
        if (active == 0) return false;
        int v = model.logitsSize();
        for (int p = 0; p < pages.length; p++) {
            Seq[] rows = slots[p];
            boolean any = false;
            for (int r = 0; r < pageSize; r++) {
                Seq q = rows[r];
                if (q != null && q.s.cancelled) { free(q); dropCancelled(q.s); q = null; }
                pageTokens[p][r] = q == null ? 0 : q.last;      // idle rows step a dummy token; their state is overwritten on admission
                any |= q != null;
            }
            if (!any) continue;
            int busy = 0;
            for (Seq q : rows) if (q != null) busy++;
            int w = compact ? workBatch(busy) : pageSize;
            if (w < pageSize) {
                compactStep(p, rows, w, v);
                continue;
            }
            float[] logits = hostLogits(model.step(pages[p], pageTokens[p]), pageSize);
            if (clearIdleRows) for (int r = 0; r < pageSize; r++) if (rows[r] == null) model.copySequence(empty, 0, pages[p], r);
            for (int r = 0; r < pageSize; r++) {
                Seq q = rows[r];
                if (q != null) accept(q, q.sampler.sample(logits, r * v, model.vocabSize()));
            }
        }
        return true;
    }

    /**
     * The batch a page with {@code busy} active rows steps at. A step's cost grows with its rows on the CPU (mamba-130m
     * f32: 17.5 ms at 1 row, 28.9 at 4, 33.9 at 5, 37.8 at 6, 46.0 at 8), against two state copies per busy row
     * (~0.2 ms each for mamba-130m). Pages of at most {@link #EXACT_PAGE} rows, whose rows the decode GEMV computes alike
     * at every batch, step at exactly their busy count while it is at most three quarters of the page (past that the
     * copies eat the saving); larger pages at the smallest power of two holding the busy rows while that is at most
     * half the page. Else the whole page.
     */
    private int workBatch(int busy) {
        if (pageSize <= EXACT_PAGE) return 4 * busy <= 3 * pageSize ? busy : pageSize;
        int w = Integer.highestOneBit(busy);
        if (w < busy) w <<= 1;
        return 2 * w <= pageSize ? w : pageSize;
    }

    /** The decode GEMV's block of rows: a row of a step is computed alike at any batch up to it (SequenceSlotsTest). */
    static final int EXACT_PAGE = 8;

    /** Every batch {@link #workBatch} may return, the page's included. */
    private java.util.SortedSet<Integer> workBatches() {
        java.util.TreeSet<Integer> sizes = new java.util.TreeSet<>(List.of(pageSize));
        if (compact) for (int busy = 1; busy < pageSize; busy++) sizes.add(workBatch(busy));
        return sizes;
    }

    /**
     * One step of a page's busy rows at batch w: copied into a batch-w state, stepped, copied back. On the host
     * backend each row of a decode step is computed alike at any batch up to the GEMV's block (SequenceSlotsTest), so
     * this gives the tokens the whole page's step would, at a fraction of its cost; the copies are one state per row.
     */
    private void compactStep(int p, Seq[] rows, int w, int v) {
        if (work[w] == null) {
            work[w] = model.newState(w);
            workTokens[w] = new int[w];
        }
        CausalLM.DecodeState ws = work[w];
        int[] tokens = workTokens[w];
        int[] at = new int[w];
        int k = 0;
        for (int r = 0; r < pageSize; r++)
            if (rows[r] != null) {
                model.copySequence(pages[p], r, ws, k);
                tokens[k] = rows[r].last;
                at[k++] = r;
            }
        for (int i = k; i < w; i++) {                        // spare rows step a dummy token from an empty state
            model.copySequence(empty, 0, ws, i);
            tokens[i] = 0;
        }
        float[] logits = hostLogits(model.step(ws, tokens), w);
        for (int i = 0; i < k; i++) {
            model.copySequence(ws, i, pages[p], at[i]);
            Seq q = rows[at[i]];
            accept(q, q.sampler.sample(logits, i * v, model.vocabSize()));
        }
    }

    private float[] hostLogits(Tensor logits, int rows) {
        int n = rows * model.logitsSize();
        if (logitsHost.length != n) logitsHost = new float[n];
        model.backend().download(logits).readFloats(logitsHost);   // no copy on a host backend
        return logitsHost;
    }

    /** A sampled token: metrics, text, stop conditions; frees the slot when the sequence is done. */
    private void accept(Seq q, int id) {
        long now = System.nanoTime();
        if (q.generated == 0) metrics.timeToFirstToken.observe((now - q.s.submittedNanos) / 1e9);
        else metrics.interTokenLatency.observe((now - q.lastTokenNanos) / 1e9);
        q.lastTokenNanos = now;
        q.generated++;
        q.last = id;
        metrics.generationTokens.inc();
        Params p = q.s.params;
        if (id == eos) { finish(q, "stop", true); return; }
        q.held.append(q.decoder.push(id));
        if (stopAt(q)) return;
        String out = releasable(q);
        q.s.events.add(new Token(id, out));
        if (q.generated >= p.maxTokens() || q.s.prompt.length + q.generated >= settings.maxContext()) finish(q, "length", true);
    }

    /** True (and finished) when the held text contains a stop string; the text before it is emitted. */
    private boolean stopAt(Seq q) {
        List<String> stop = q.s.params.stop();
        if (stop.isEmpty()) return false;
        int at = -1;
        for (String s : stop) {
            int i = q.held.indexOf(s);
            if (i >= 0 && (at < 0 || i < at)) at = i;
        }
        if (at < 0) return false;
        q.held.setLength(at);
        q.s.events.add(new Token(q.last, releaseAll(q)));
        finish(q, "stop", false);
        return true;
    }

    /** The held text minus its longest suffix that could begin a stop string (emitted later or dropped at a stop). */
    private String releasable(Seq q) {
        int keep = 0;
        for (String s : q.s.params.stop())
            for (int k = Math.min(s.length() - 1, q.held.length()); k > keep; k--)
                if (q.held.substring(q.held.length() - k).equals(s.substring(0, k))) { keep = k; break; }
        String out = q.held.substring(0, q.held.length() - keep);
        q.held.delete(0, q.held.length() - keep);
        q.text.append(out);
        return out;
    }

    private String releaseAll(Seq q) {
        String out = q.held.toString();
        q.held.setLength(0);
        q.text.append(out);
        return out;
    }

    /** Ends the sequence; with flushDecoder the text the decoder still holds is emitted first (up to a stop string in it). */
    private void finish(Seq q, String reason, boolean flushDecoder) {
        if (flushDecoder) {
            q.held.append(q.decoder.flush());
            for (String s : q.s.params.stop()) {
                int i = q.held.indexOf(s);
                if (i >= 0) { q.held.setLength(i); reason = "stop"; }
            }
            String tail = releaseAll(q);
            if (!tail.isEmpty()) q.s.events.add(new Token(-1, tail));
        }
        q.s.events.add(new Finished(q.text.toString(), reason, q.s.prompt.length, q.generated));
        metrics.requestsFinished.labelValues(reason).inc();
        free(q);
    }

    private void free(Seq q) {
        if (q.page >= 0 && slots[q.page][q.row] == q) {
            slots[q.page][q.row] = null;
            active--;
        }
    }
}
