package mamba4j.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.UserInputException;
import mamba4j.io.JsonConfig;
import mamba4j.models.CausalLM;
import mamba4j.models.Models;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.teachers.TeacherSpec;
import mamba4j.models.teachers.TransformerLM;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The headline comparison on the CPU backend: a Phi Transformer and a Mamba-1 model of about the same size, both
 * random (no download), measured for
 * <ol>
 *   <li>prefill (the whole-sequence forward over a prompt of L tokens, filling the KV cache / the recurrent state,
 *       logits of the last position) at batch 1: wall time and peak memory against L;</li>
 *   <li>decode at batch b after filling the cache to a context c: tok/s, best of 3 windows of N steps, and the bytes the decode state
 *       holds — analytic ({@link CausalLM.DecodeState#stateBytes}), allocated (the state object's tensors, capacity
 *       included) and the process's resident-memory growth while filling it.</li>
 * </ol>
 * Every point runs in a child JVM (this command with the hidden {@code --point}) so that its peak memory is that
 * process's {@code VmHWM} from /proc/self/status, reset just before the timed runs, and a point that runs past
 * {@code --point-timeout} is killed and recorded as skipped. Not a test: numbers go to docs/BENCHMARKS.md.
 */
@Command(name = "bench-scaling", description = "Transformer (Phi) vs Mamba-1 at matched size: prefill time and peak memory against L, decode tok/s and KV cache vs state bytes against context.")
final class ScalingBenchCommand implements Callable<Integer> {
    @Option(names = "--out", defaultValue = "bench-scaling", description = "Directory for scaling.json and scaling.png (default: ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--lengths", split = ",", defaultValue = "256,512,1024,2048,4096,8192,16384", description = "Prefill lengths L (default: ${DEFAULT-VALUE}).")
    List<Integer> lengths;

    @Option(names = "--contexts", split = ",", defaultValue = "256,1024,4096,16384", description = "Decode context lengths (default: ${DEFAULT-VALUE}).")
    List<Integer> contexts;

    @Option(names = "--batches", split = ",", defaultValue = "1,8", description = "Decode batch sizes (default: ${DEFAULT-VALUE}).")
    List<Integer> batches;

    @Option(names = "--decode-tokens", defaultValue = "32", description = "Decode steps per timed window; a point reports the best of 3 windows (default: ${DEFAULT-VALUE}).")
    int decodeTokens;

    @Option(names = "--d-model", defaultValue = "256", description = "D of both models (default: ${DEFAULT-VALUE}).")
    int dModel;

    @Option(names = "--teacher-layers", defaultValue = "4", description = "Phi blocks (default: ${DEFAULT-VALUE}).")
    int teacherLayers;

    @Option(names = "--heads", defaultValue = "4", description = "Phi attention heads, head dim D / heads (default: ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--mamba-layers", description = "Mamba-1 blocks (default: the count whose parameters are closest to the teacher's).")
    Integer mambaLayers;

    @Option(names = "--d-state", defaultValue = "16", description = "Mamba-1 N (default: ${DEFAULT-VALUE}).")
    int dState;

    @Option(names = "--vocab", defaultValue = "4096", description = "Vocabulary of both models, embedding tied to the head (default: ${DEFAULT-VALUE}).")
    int vocab;

    @Option(names = "--point-timeout", defaultValue = "150", description = "Seconds one point may take before it is killed and recorded as skipped (default: ${DEFAULT-VALUE}).")
    int pointTimeout;

    /**
     * The tensors live off-heap; the Java heap holds small objects and garbage. Unbounded (1/4 of RAM), the heap grows
     * with the garbage of kernels whose vectors the JIT leaves boxed, and the process peak then measures the GC's
     * laziness, not the model. Fixed and touched at start, the heap is a constant part of every RSS reading.
     */
    @Option(names = "--child-heap", defaultValue = "256m", description = "Java heap of each point's JVM, fixed and touched at start (-Xms = -Xmx, AlwaysPreTouch) so that RSS changes are native memory; 'default' keeps the JVM's own heap (default: ${DEFAULT-VALUE}).")
    String childHeap;

    @Option(names = "--threads", description = "Worker threads of each point (default: all cores).")
    Integer threads;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the random weights (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--plot-from", description = "Only re-render DIR/scaling.png (--out) from a scaling.json this command wrote.")
    Path plotFrom;

    /** "model,mode,length,batch": run one point in this process and print one line "POINT {json}" (the parent's child JVMs). */
    @Option(names = "--point", hidden = true)
    String point;

    /** The teacher checkpoint the parent saved (child JVMs only). */
    @Option(names = "--teacher-checkpoint", hidden = true)
    Path teacherCheckpoint;

    private static final ObjectMapper JSON = new ObjectMapper();
    static final String TEACHER = "teacher", MAMBA = "mamba";

    // ------------------------------------------------------------------ shapes

    /** Phi as transformers initialises it; positions cover the longest prompt or context plus the decode steps. */
    private TeacherSpec teacherSpec() {
        int longest = Math.max(lengths.stream().mapToInt(i -> i).max().orElse(1), contexts.stream().mapToInt(i -> i).max().orElse(1));
        int headDim = dModel / heads;
        return new TeacherSpec(TeacherSpec.Arch.PHI, vocab, dModel, 4 * dModel, teacherLayers, heads, heads, headDim,
                headDim / 2 / 2 * 2, 10000.0, longest + DECODE_WINDOWS * decodeTokens + WARM_STEPS + WARM_DECODE, 1e-5, true, -1);   // partial_rotary_factor 0.5, as phi-2
    }

    private Mamba1Config mambaConfig(int layers) {
        return new Mamba1Config(vocab, vocab, dModel, dState, layers, 2, 4, Mamba1Config.autoDtRank(dModel), false, true, 1e-5, true, 0);
    }

    private static long nonEmbedding(long total, int vocab, int d) { return total - (long) vocab * d; }   // both heads are tied

    private void validate() {
        if (dModel < 1 || teacherLayers < 1 || heads < 1 || dState < 1 || vocab < 2)
            throw new UserInputException("--d-model, --teacher-layers, --heads, --d-state must be >= 1 and --vocab >= 2");
        if (dModel % heads != 0) throw new UserInputException("--heads " + heads + " does not divide --d-model " + dModel);
        if (mambaLayers != null && mambaLayers < 1) throw new UserInputException("--mamba-layers must be >= 1, got " + mambaLayers);
        if (decodeTokens < 1) throw new UserInputException("--decode-tokens must be >= 1, got " + decodeTokens);
        if (pointTimeout < 1) throw new UserInputException("--point-timeout must be >= 1 second, got " + pointTimeout);
        if (threads != null && threads < 1) throw new UserInputException("--threads must be >= 1, got " + threads);
        if (!childHeap.equals("default") && !childHeap.matches("[1-9][0-9]*[kKmMgG]?"))
            throw new UserInputException("--child-heap " + childHeap + ": expected a size like 512m or 2g, or 'default'");
        for (int l : lengths) if (l < 2) throw new UserInputException("--lengths must be >= 2, got " + l);
        for (int c : contexts) if (c < 2) throw new UserInputException("--contexts must be >= 2, got " + c);
        for (int b : batches) if (b < 1) throw new UserInputException("--batches must be >= 1, got " + b);
    }

    @Override public Integer call() throws Exception {
        validate();
        if (point != null) return runPoint();
        if (plotFrom != null) {
            if (!Files.isRegularFile(plotFrom)) throw new UserInputException("--plot-from " + plotFrom + ": no such file");
            Files.createDirectories(out);
            ScalingPlot.plot(out.resolve("scaling.png"), JSON.readTree(plotFrom.toFile()));
            System.out.println("wrote " + out.resolve("scaling.png"));
            return 0;
        }
        if (threads != null) System.setProperty("mamba4j.threads", threads.toString());
        Backend be = Backends.get("cpu");
        TeacherSpec spec = teacherSpec();
        TransformerLM teacher = TransformerLM.random(spec, seed, be);
        long teacherParams = teacher.parameters().stream().mapToLong(p -> p.value().numel()).sum();
        long teacherBody = nonEmbedding(teacherParams, vocab, dModel);
        int ml = mambaLayers != null ? mambaLayers : matchLayers(teacherBody);
        Mamba1Config mc = mambaConfig(ml);
        long mambaParams = mc.parameterCount(), mambaBody = nonEmbedding(mambaParams, vocab, dModel);

        Machine machine = Machine.describe();
        System.out.printf("machine: %s, %d cores (%d threads per point), %.1f GB, %s%n", machine.cpu, machine.cores,
                threads != null ? threads : machine.cores, machine.memGb, machine.jvm);
        System.out.printf("teacher: Phi, D %d, %d blocks, %d heads of %d (rotary %d), MLP %d, vocab %d tied: %,d parameters (%,d without the embedding)%n",
                dModel, teacherLayers, heads, spec.headDim(), spec.rotaryDim(), spec.intermediate(), vocab, teacherParams, teacherBody);
        System.out.printf("mamba:   Mamba-1, D %d, %d blocks, E %d, N %d, R %d, vocab %d tied: %,d parameters (%,d without the embedding)%n",
                dModel, ml, mc.dInner(), dState, mc.dtRank(), vocab, mambaParams, mambaBody);
        System.out.printf("each point in its own JVM (Java heap %s%s); peak = that process's VmHWM; points past %d s are killed and skipped%n%n",
                childHeap, childHeap.equals("default") ? "" : ", touched at start", pointTimeout);

        Files.createDirectories(out);
        Path ckpt = Files.createTempDirectory("mamba4j-scaling-teacher");
        try {
            teacher.save(ckpt);
            teacher = null;
            List<String> pass = new ArrayList<>(List.of("--d-model=" + dModel, "--teacher-layers=" + teacherLayers, "--heads=" + heads,
                    "--mamba-layers=" + ml, "--d-state=" + dState, "--vocab=" + vocab, "--decode-tokens=" + decodeTokens,
                    "--seed=" + seed, "--teacher-checkpoint=" + ckpt, "--lengths=" + join(lengths), "--contexts=" + join(contexts)));

            // (a) prefill against L, batch 1
            System.out.println("prefill, batch 1 (best of up to 3 runs):");
            Map<String, List<ObjectNode>> forward = new LinkedHashMap<>();
            Map<String, String> stopped = new LinkedHashMap<>();
            for (int len : lengths)
                for (String m : List.of(TEACHER, MAMBA)) {
                    double est = extrapolate(forward.getOrDefault(m, List.of()), len);
                    ObjectNode r = stopped.containsKey(m) ? skipped(stopped.get(m))
                            : est > pointTimeout ? skipped(String.format(Locale.ROOT, "estimated at %.0f s (extrapolated from the last two lengths) > %d s", est, pointTimeout))
                            : child(pass, m, "forward", len, 1);
                    r.put("model", m).put("length", len).put("batch", 1);
                    if (r.has("skipped") && !stopped.containsKey(m)) stopped.put(m, r.get("skipped").asText() + " at L = " + len);
                    forward.computeIfAbsent(m, k -> new ArrayList<>()).add(r);
                    System.out.println("  " + describeForward(r));
                }

            // (b) decode against context, per batch
            System.out.printf("%ndecode (cache filled by a prefill of the context; best of %d windows of %d steps):%n", DECODE_WINDOWS, decodeTokens);
            List<ObjectNode> decode = new ArrayList<>();
            for (int b : batches)
                for (int c : contexts)
                    for (String m : List.of(TEACHER, MAMBA)) {
                        double est = estimateFill(forward.get(m), c) * b;
                        ObjectNode r = Double.isInfinite(est) ? skipped("the prefill of this length was skipped")
                                : est + POINT_OVERHEAD_S > pointTimeout ? skipped(String.format(Locale.ROOT,
                                        "fill estimated at %.0f s (batch × prefill time) + %d s > %d s", est, POINT_OVERHEAD_S, pointTimeout))
                                : child(pass, m, "decode", c, b);
                        r.put("model", m).put("context", c).put("batch", b);
                        decode.add(r);
                        System.out.println("  " + describeDecode(r));
                    }

            ObjectNode json = JsonNodeFactory.instance.objectNode();
            json.put("command", "bench-scaling");
            json.set("machine", machine.json());
            json.set("teacher", JsonNodeFactory.instance.objectNode().put("arch", "phi").put("d_model", dModel).put("n_layer", teacherLayers)
                    .put("n_head", heads).put("n_kv_head", spec.kvHeads()).put("head_dim", spec.headDim()).put("rotary_dim", spec.rotaryDim()).put("d_ff", spec.intermediate())
                    .put("vocab", vocab).put("parameters", teacherParams).put("non_embedding_parameters", teacherBody).put("weight_bytes", teacherParams * 4));
            json.set("mamba", JsonNodeFactory.instance.objectNode().put("arch", "mamba1").put("d_model", dModel).put("n_layer", ml)
                    .put("d_inner", mc.dInner()).put("d_state", dState).put("dt_rank", mc.dtRank()).put("d_conv", mc.convKernel())
                    .put("vocab", vocab).put("parameters", mambaParams).put("non_embedding_parameters", mambaBody).put("weight_bytes", mambaParams * 4));
            json.put("point_timeout_s", pointTimeout).put("decode_tokens", decodeTokens).put("child_heap", childHeap);
            ArrayNode fw = json.putArray("forward");
            forward.values().forEach(l -> l.forEach(fw::add));
            ArrayNode dec = json.putArray("decode");
            decode.forEach(dec::add);
            ObjectNode fits = json.putObject("time_slopes");
            for (String m : List.of(TEACHER, MAMBA)) {
                List<ObjectNode> ok = forward.get(m).stream().filter(r -> !r.has("skipped")).toList();
                ObjectNode f = fits.putObject(m);
                if (ok.size() >= 2) f.put("all", slope(ok, ok.size()));
                if (ok.size() > 3) f.put("largest_3", slope(ok, 3));
            }
            JsonConfig.write(out.resolve("scaling.json"), json);
            try {
                ScalingPlot.plot(out.resolve("scaling.png"), json);
            } catch (RuntimeException | Error e) {                          // no java.desktop or no fonts: the numbers stand
                if (e instanceof VirtualMachineError vm) throw vm;
                System.err.println("warning: cannot draw scaling.png (" + e + "); redraw later with --plot-from " + out.resolve("scaling.json"));
            }
            System.out.println();
            System.out.print(tables(forward, decode, fits));
            System.out.printf("%nwrote %s and %s%n", out.resolve("scaling.json"), out.resolve("scaling.png"));
        } finally {
            try (Stream<Path> s = Files.walk(ckpt)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
        return 0;
    }

    /** The Mamba-1 layer count whose non-embedding parameters are closest to {@code target}. */
    private int matchLayers(long target) {
        long perLayer = nonEmbedding(mambaConfig(2).parameterCount(), vocab, dModel) - nonEmbedding(mambaConfig(1).parameterCount(), vocab, dModel);
        long fixed = nonEmbedding(mambaConfig(1).parameterCount(), vocab, dModel) - perLayer;          // the final norm
        return (int) Math.max(1, Math.round((double) (target - fixed) / perLayer));
    }

    // ------------------------------------------------------------------ child JVMs

    /** Runs one point in a fresh JVM with this JVM's flags; kills it past the timeout. */
    private ObjectNode child(List<String> pass, String model, String mode, int len, int batch) throws IOException, InterruptedException {
        String javaBin = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(javaBin));
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments())
            if (!a.startsWith("-agentlib:jdwp") && !a.startsWith("-Dmamba4j.threads=")
                    && !((a.startsWith("-Xmx") || a.startsWith("-Xms")) && !childHeap.equals("default"))) cmd.add(a);
        if (!childHeap.equals("default"))   // tensors are direct memory, whose limit defaults to -Xmx: lift it to the machine's RAM
            cmd.addAll(List.of("-Xms" + childHeap, "-Xmx" + childHeap, "-XX:+AlwaysPreTouch", "-XX:MaxDirectMemorySize=" + Math.max(1, (long) Machine.describe().memGb) + "g"));
        if (threads != null) cmd.add("-Dmamba4j.threads=" + threads);
        else if (System.getProperty("mamba4j.threads") != null) cmd.add("-Dmamba4j.threads=" + System.getProperty("mamba4j.threads"));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "bench-scaling", "--debug"));
        cmd.addAll(pass);
        cmd.add("--point=" + model + "," + mode + "," + len + "," + batch);
        Path log = Files.createTempFile("mamba4j-scaling-point", ".log");
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!p.waitFor(pointTimeout, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                return skipped("> " + pointTimeout + " s");
            }
            List<String> lines = Files.readAllLines(log);
            for (String line : lines)
                if (line.startsWith("POINT ")) return (ObjectNode) JSON.readTree(line.substring(6));
            List<String> said = lines.stream().filter(l -> !l.startsWith("\tat ") && !l.startsWith("WARNING: Using incubator")).toList();
            throw new IllegalStateException("point " + model + " " + mode + " " + len + " × " + batch + " exited " + p.exitValue()
                    + " without a result; it said: " + String.join(" | ", said.subList(Math.max(0, said.size() - 5), said.size())));
        } finally {
            Files.deleteIfExists(log);
        }
    }

    private static ObjectNode skipped(String why) { return JsonNodeFactory.instance.objectNode().put("skipped", why); }

    /** Seconds a point spends besides its timed work: JVM start, building the model, JIT warm-up, decode steps. */
    private static final int POINT_OVERHEAD_S = 20;

    /** Seconds at {@code len} by the log-log line through the last two measured points (0 when there are fewer). */
    private static double extrapolate(List<ObjectNode> done, int len) {
        List<ObjectNode> ok = done.stream().filter(r -> !r.has("skipped")).toList();
        if (ok.size() < 2) return 0;
        ObjectNode a = ok.get(ok.size() - 2), b = ok.getLast();
        double p = Math.log(b.get("seconds").asDouble() / a.get("seconds").asDouble()) / Math.log(b.get("length").asDouble() / a.get("length").asDouble());
        return b.get("seconds").asDouble() * Math.pow(len / b.get("length").asDouble(), Math.max(p, 1));
    }

    /** Prefill seconds at {@code len} for batch 1 from the forward points (0 when not measured: then the child's timeout decides). */
    private static double estimateFill(List<ObjectNode> forward, int len) {
        for (ObjectNode r : forward) if (r.get("length").asInt() == len) return r.has("skipped") ? Double.POSITIVE_INFINITY : r.get("seconds").asDouble();
        return 0;
    }

    /** Untimed decode steps before the timed ones (the teacher's cache grows there), and steps of the JIT warm-up. */
    private static final int WARM_STEPS = 2, WARM_DECODE = 8;

    /** Decode is timed as the best of this many windows of --decode-tokens steps. */
    private static final int DECODE_WINDOWS = 3;

    /** The child side: builds the model, warms the JIT up, measures one point, prints "POINT {json}". */
    private int runPoint() throws Exception {
        String[] f = point.split(",");
        if (f.length != 4) throw new UserInputException("--point: expected model,mode,length,batch, got " + point);
        String model = f[0], mode = f[1];
        int len = Integer.parseInt(f[2]), batch = Integer.parseInt(f[3]);
        Backend be = Backends.get("cpu");
        Models.Loaded loaded = null;
        CausalLM lm;
        if (model.equals(TEACHER)) {
            if (teacherCheckpoint == null) throw new UserInputException("--point teacher needs --teacher-checkpoint");
            loaded = Models.load(teacherCheckpoint, be);               // TeacherLoader on the parent's random checkpoint
            lm = loaded.model();
        } else {
            lm = Mamba1Init.random(mambaConfig(mambaLayers), DType.F32, seed, be);
        }
        try {
            SplittableRandom rnd = new SplittableRandom(1);
            ObjectNode r = JsonNodeFactory.instance.objectNode();
            // warm-up: compile the prefill and step paths at a small size
            int[][] warm = prompts(rnd, batch, Math.min(len, 128), lm.vocabSize());
            for (int i = 0; i < 2; i++) {
                CausalLM.DecodeState s = lm.newState(batch);
                lm.prefill(s, warm);
                if (mode.equals("decode")) for (int j = 0; j < WARM_DECODE; j++) lm.step(s, new int[batch]);
            }
            int[][] prompt = prompts(rnd, batch, len, lm.vocabSize());
            settle();
            long base = status("VmRSS");
            BenchCommand.resetPeakRss();
            if (mode.equals("forward")) {
                double best = Double.MAX_VALUE, total = 0;
                int reps = 0;
                while (reps < 3 && (reps == 0 || total < 3.0)) {              // best of 3, or fewer when one run is long
                    long t0 = System.nanoTime();
                    lm.prefill(lm.newState(batch), prompt);
                    double s = (System.nanoTime() - t0) / 1e9;
                    best = Math.min(best, s);
                    total += s;
                    reps++;
                    settle();
                }
                r.put("seconds", best).put("tokens_per_s", (double) batch * len / best).put("reps", reps);
            } else {
                CausalLM.DecodeState st = lm.newState(batch);
                long t0 = System.nanoTime();
                lm.prefill(st, prompt);
                double fill = (System.nanoTime() - t0) / 1e9;
                settle();
                long afterFill = status("VmRSS");
                long[] held = {st.allocatedBytes(), st.bufferBytes()};
                r.put("fill_seconds", fill).put("state_bytes", st.stateBytes())
                        .put("state_allocated_bytes", held[0]).put("step_buffer_bytes", held[1])
                        .put("state_rss_growth_bytes", (afterFill - base) * 1024);
                int[] tok = new int[batch];
                for (int i = 0; i < WARM_STEPS; i++) lm.step(st, tok);          // the teacher's cache grows here, untimed
                double secs = Double.MAX_VALUE;
                for (int w = 0; w < DECODE_WINDOWS; w++) {                       // best window: the machine may be shared
                    long s0 = System.nanoTime();
                    for (int i = 0; i < decodeTokens; i++) lm.step(st, tok);
                    secs = Math.min(secs, (System.nanoTime() - s0) / 1e9);
                }
                r.put("ms_per_step", 1e3 * secs / decodeTokens).put("tokens_per_s", (double) batch * decodeTokens / secs).put("windows", DECODE_WINDOWS);
            }
            r.put("base_rss_mb", base / 1024.0).put("peak_rss_mb", status("VmHWM") / 1024.0)
                    .put("work_mb", (status("VmHWM") - base) / 1024.0);
            System.out.println("POINT " + JSON.writeValueAsString(r));
        } finally {
            if (loaded != null) loaded.close();
        }
        return 0;
    }

    private static int[][] prompts(SplittableRandom rnd, int batch, int len, int vocab) {
        int[][] p = new int[batch][];
        for (int i = 0; i < batch; i++) p[i] = rnd.ints(len, 0, vocab).toArray();
        return p;
    }

    /** Lets the GC run and the cleaner free the native memory of unreachable tensors, so VmRSS is what is live. */
    private static void settle() throws InterruptedException {
        for (int i = 0; i < 2; i++) {
            System.gc();
            Thread.sleep(100);
        }
    }

    /** A field of /proc/self/status in kB (VmRSS, VmHWM), or 0 where there is none. */
    static long status(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith(key + ":")) return Long.parseLong(line.replaceAll("\\D", ""));
        } catch (IOException ignored) {
            // not Linux: reported as 0
        }
        return 0;
    }


    // ------------------------------------------------------------------ results

    /** Least-squares slope of log(seconds) against log(L) over the {@code last} largest lengths. */
    static double slope(List<ObjectNode> rows, int last) {
        List<ObjectNode> r = rows.subList(rows.size() - last, rows.size());
        double n = r.size(), sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (ObjectNode o : r) {
            double x = Math.log(o.get("length").asDouble()), y = Math.log(o.get("seconds").asDouble());
            sx += x; sy += y; sxx += x * x; sxy += x * y;
        }
        return (n * sxy - sx * sy) / (n * sxx - sx * sx);
    }

    private static String describeForward(ObjectNode r) {
        String head = String.format(Locale.ROOT, "%-7s L %6d: ", r.get("model").asText(), r.get("length").asInt());
        if (r.has("skipped")) return head + "skipped: " + r.get("skipped").asText();
        return head + String.format(Locale.ROOT, "%8.3f s  %8.0f tok/s  peak %6.0f MB (base %.0f, +%.0f)", r.get("seconds").asDouble(),
                r.get("tokens_per_s").asDouble(), r.get("peak_rss_mb").asDouble(), r.get("base_rss_mb").asDouble(), r.get("work_mb").asDouble());
    }

    private static String describeDecode(ObjectNode r) {
        String head = String.format(Locale.ROOT, "%-7s batch %d, context %6d: ", r.get("model").asText(), r.get("batch").asInt(), r.get("context").asInt());
        if (r.has("skipped")) return head + "skipped: " + r.get("skipped").asText();
        return head + String.format(Locale.ROOT, "%8.1f tok/s (%.2f ms/step), state %s analytic, %s allocated, RSS +%s; fill %.2f s, peak %.0f MB",
                r.get("tokens_per_s").asDouble(), r.get("ms_per_step").asDouble(), bytes(r.get("state_bytes").asLong()),
                bytes(r.get("state_allocated_bytes").asLong()), bytes(r.get("state_rss_growth_bytes").asLong()),
                r.get("fill_seconds").asDouble(), r.get("peak_rss_mb").asDouble());
    }

    static String bytes(long b) {
        if (Math.abs(b) >= 1L << 30) return String.format(Locale.ROOT, "%.2f GiB", b / (double) (1L << 30));
        if (Math.abs(b) >= 1L << 20) return String.format(Locale.ROOT, "%.1f MiB", b / (double) (1L << 20));
        return String.format(Locale.ROOT, "%.0f KiB", b / 1024.0);
    }

    /** Markdown tables of both phases and the fitted slopes. */
    private static String tables(Map<String, List<ObjectNode>> forward, List<ObjectNode> decode, ObjectNode fits) {
        StringBuilder s = new StringBuilder();
        s.append("| L | Phi prefill s | Phi peak MB | Mamba prefill s | Mamba peak MB | time ratio Phi/Mamba |\n|---|---|---|---|---|---|\n");
        List<ObjectNode> t = forward.get(TEACHER), m = forward.get(MAMBA);
        for (int i = 0; i < t.size(); i++) {
            ObjectNode a = t.get(i), b = m.get(i);
            s.append(String.format(Locale.ROOT, "| %d | %s | %s | %s | %s | %s |%n", a.get("length").asInt(),
                    num(a, "seconds", "%.3f"), num(a, "peak_rss_mb", "%.0f", false), num(b, "seconds", "%.3f"), num(b, "peak_rss_mb", "%.0f", false),
                    a.has("seconds") && b.has("seconds") ? String.format(Locale.ROOT, "%.1f", a.get("seconds").asDouble() / b.get("seconds").asDouble()) : "—"));
        }
        s.append("\nfitted log-log slope of prefill time against L: ");
        for (String k : List.of(TEACHER, MAMBA)) {
            JsonNode f = fits.get(k);
            s.append(k.equals(TEACHER) ? "Phi " : "; Mamba ");
            s.append(f.has("all") ? String.format(Locale.ROOT, "%.2f (all lengths)", f.get("all").asDouble()) : "—");
            if (f.has("largest_3")) s.append(String.format(Locale.ROOT, ", %.2f (largest 3)", f.get("largest_3").asDouble()));
        }
        s.append("\n\n| batch | context | Phi tok/s | Phi KV cache (analytic / allocated / RSS growth) | Mamba tok/s | Mamba state (analytic / allocated / RSS growth) |\n|---|---|---|---|---|---|\n");
        for (int i = 0; i + 1 < decode.size(); i += 2) {
            ObjectNode a = decode.get(i), b = decode.get(i + 1);
            s.append(String.format(Locale.ROOT, "| %d | %d | %s | %s | %s | %s |%n", a.get("batch").asInt(), a.get("context").asInt(),
                    num(a, "tokens_per_s", "%.1f"), stateCell(a), num(b, "tokens_per_s", "%.1f"), stateCell(b)));
        }
        return s.toString();
    }

    private static String num(ObjectNode r, String key, String fmt) { return num(r, key, fmt, true); }

    /** The value, or for a skipped point "skipped: why" (or "—" where another cell of the row gives the reason). */
    private static String num(ObjectNode r, String key, String fmt, boolean why) {
        if (r.has(key)) return String.format(Locale.ROOT, fmt, r.get(key).asDouble());
        return why ? "skipped: " + r.get("skipped").asText() : "—";
    }

    private static String stateCell(ObjectNode r) {
        if (r.has("skipped")) return "—";
        return bytes(r.get("state_bytes").asLong()) + " / " + bytes(r.get("state_allocated_bytes").asLong()) + " / " + bytes(r.get("state_rss_growth_bytes").asLong());
    }

    private static String join(List<Integer> xs) { return String.join(",", xs.stream().map(String::valueOf).toList()); }

    // ------------------------------------------------------------------ the machine

    private record Machine(String cpu, int cores, double memGb, String jvm) {
        static Machine describe() {
            String cpu = "unknown CPU";
            double mem = 0;
            try {
                for (String l : Files.readAllLines(Path.of("/proc/cpuinfo")))
                    if (l.startsWith("model name")) { cpu = l.substring(l.indexOf(':') + 1).trim(); break; }
                for (String l : Files.readAllLines(Path.of("/proc/meminfo")))
                    if (l.startsWith("MemTotal:")) { mem = Long.parseLong(l.replaceAll("\\D", "")) / 1024.0 / 1024.0; break; }
            } catch (IOException ignored) {
                // not Linux: the description says unknown
            }
            return new Machine(cpu, Runtime.getRuntime().availableProcessors(), mem,
                    "JDK " + Runtime.version() + ", " + Backends.get("cpu").description());
        }

        ObjectNode json() {
            return JsonNodeFactory.instance.objectNode().put("cpu", cpu).put("cores", cores).put("memory_gb", memGb).put("jvm", jvm)
                    .put("threads", Backends.get("cpu").threads());
        }
    }
}
