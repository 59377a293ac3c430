package mamba4j.cuda;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Java mirrors of the kernels' parameter structs against params.cuh, laid out here by the C rules of the x86-64
 * and CUDA ABIs (each member at a multiple of its alignment = its size for these scalar types; the struct padded to a
 * multiple of its largest alignment). SelfTest checks the same layouts against NVRTC's sizeof/offsetof on the GPU.
 */
class KernelParamsTest {
    record CMember(String name, String type, long size, long offset, Class<?> carrier) {}
    record CStruct(String name, List<CMember> members, long size) {}

    /** Parses the structs of a C header (one or more declarators per member; comments stripped). */
    static Map<String, CStruct> parseHeader(String text) {
        String src = text.replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\n]*", "");
        Map<String, CStruct> out = new LinkedHashMap<>();
        Matcher m = Pattern.compile("struct\\s+(\\w+)\\s*\\{([^}]*)\\}\\s*;").matcher(src);
        while (m.find()) {
            List<CMember> members = new ArrayList<>();
            long off = 0, maxAlign = 1;
            for (String decl : m.group(2).split(";")) {
                decl = decl.strip();
                if (decl.isEmpty()) continue;
                Matcher d = Pattern.compile("^((?:const\\s+)?(?:unsigned\\s+)?(?:long\\s+long|int|float|double|short|char|void|unsigned))\\s*(.*)$").matcher(decl);
                if (!d.matches()) throw new AssertionError("cannot parse member '" + decl + "' of " + m.group(1));
                for (String declarator : d.group(2).split(",")) {
                    declarator = declarator.strip();
                    boolean pointer = d.group(1).contains("*") || declarator.startsWith("*") || d.group(2).startsWith("*");
                    String name = declarator.replace("*", "").strip();
                    String base = d.group(1).replace("const", "").strip();
                    long size;
                    Class<?> carrier;
                    if (pointer) { size = 8; carrier = long.class; }
                    else {
                        switch (base) {
                            case "long long", "unsigned long long" -> { size = 8; carrier = long.class; }
                            case "int", "unsigned int", "unsigned" -> { size = 4; carrier = int.class; }
                            case "float" -> { size = 4; carrier = float.class; }
                            default -> throw new AssertionError("type " + base + " of " + m.group(1) + "." + name + " has no Java mirror yet");
                        }
                    }
                    off = (off + size - 1) / size * size;
                    members.add(new CMember(name, (pointer ? base + "*" : base), size, off, carrier));
                    off += size;
                    maxAlign = Math.max(maxAlign, size);
                }
            }
            out.put(m.group(1), new CStruct(m.group(1), members, (off + maxAlign - 1) / maxAlign * maxAlign));
        }
        return out;
    }

    static Map<String, CStruct> header() { return parseHeader(KernelSources.read("params.cuh")); }

    @Test void theParserFollowsTheCRules() {
        Map<String, CStruct> s = parseHeader("struct T { int a; const float* p; float b, c; long long d; int e; };");
        CStruct t = s.get("T");
        assertEquals(List.of(0L, 8L, 16L, 20L, 24L, 32L), t.members().stream().map(CMember::offset).toList());
        assertEquals(40, t.size());
        assertEquals(List.of("a", "p", "b", "c", "d", "e"), t.members().stream().map(CMember::name).toList());
    }

    @Test void everyHeaderStructHasAJavaMirrorInOrder() {
        assertEquals(List.copyOf(header().keySet()), KernelParams.ALL.stream().map(l -> l.name().orElseThrow()).toList());
    }

    @Test void javaLayoutsEqualTheCLayouts() {
        Map<String, CStruct> h = header();
        for (StructLayout j : KernelParams.ALL) {
            CStruct c = h.get(j.name().orElseThrow());
            List<ValueLayout> jm = KernelParams.members(j);
            assertEquals(c.members().stream().map(CMember::name).toList(), jm.stream().map(m -> m.name().orElseThrow()).toList(), c.name() + " members");
            for (int i = 0; i < jm.size(); i++) {
                CMember cm = c.members().get(i);
                String where = c.name() + "." + cm.name() + " (" + cm.type() + ")";
                assertEquals(cm.offset(), KernelParams.offset(j, cm.name()), where + " offset");
                assertEquals(cm.size(), jm.get(i).byteSize(), where + " size");
                assertEquals(cm.carrier(), jm.get(i).carrier(), where + " Java type");
            }
            assertEquals(c.size(), j.byteSize(), c.name() + " sizeof");
        }
    }

    /** Each kernel takes exactly the struct CudaOps fills for it. */
    @Test void kernelsTakeTheStructTheirLaunchersFill() {
        Map<String, String> want = new LinkedHashMap<>();
        want.put("rmsnorm.cu:rmsnorm", KernelParams.RMSNORM.name().orElseThrow());
        want.put("embedding.cu:embedding", KernelParams.EMBEDDING.name().orElseThrow());
        want.put("conv1d.cu:causal_conv1d", KernelParams.CONV1D.name().orElseThrow());
        want.put("conv1d.cu:causal_conv1d_step", KernelParams.CONV1D_STEP.name().orElseThrow());
        want.put("scan.cu:selective_scan_fwd", KernelParams.SCAN.name().orElseThrow());
        want.put("scan.cu:selective_scan_step", KernelParams.SCAN_STEP.name().orElseThrow());
        want.put("scan_lab.cu:selective_scan_fwd_v1", KernelParams.SCAN.name().orElseThrow());
        want.put("elementwise.cu:add", KernelParams.ELTWISE.name().orElseThrow());
        want.put("elementwise.cu:silu", KernelParams.ELTWISE.name().orElseThrow());
        want.put("elementwise.cu:mul_silu", KernelParams.ELTWISE.name().orElseThrow());
        want.put("elementwise.cu:cast_f32", KernelParams.CAST.name().orElseThrow());
        want.put("elementwise.cu:fill_uniform", KernelParams.FILL.name().orElseThrow());
        for (String e : List.of("mul", "neg_exp", "softplus", "gelu_tanh")) want.put("elementwise.cu:" + e, KernelParams.ELTWISE.name().orElseThrow());
        want.put("ops.cu:add_row", KernelParams.ROW.name().orElseThrow());
        want.put("ops.cu:mul_row", KernelParams.ROW.name().orElseThrow());
        want.put("ops.cu:softplus_clamp", KernelParams.CLAMP.name().orElseThrow());
        want.put("ops.cu:fill_bits", KernelParams.FILL_BITS.name().orElseThrow());
        want.put("ops.cu:copy_strided", KernelParams.COPY.name().orElseThrow());
        want.put("ops.cu:layernorm", KernelParams.LAYERNORM.name().orElseThrow());
        want.put("ops.cu:rotary", KernelParams.ROTARY.name().orElseThrow());
        want.put("ops.cu:linear_rows", KernelParams.GEMV.name().orElseThrow());
        want.put("ops.cu:linear_rows_1", KernelParams.GEMV.name().orElseThrow());
        want.put("ops.cu:linear_rows_1_conv", KernelParams.GEMV.name().orElseThrow());
        want.put("ops.cu:linear_rows_cols", KernelParams.GEMV.name().orElseThrow());
        for (String e : List.of("cross_entropy_count", "cross_entropy_rows", "cross_entropy_mean"))
            want.put("ops.cu:" + e, KernelParams.CROSS_ENTROPY.name().orElseThrow());
        want.put("attention.cu:attention_rows", KernelParams.ATTENTION.name().orElseThrow());
        want.put("ssd.cu:ssd_scan", KernelParams.SSD.name().orElseThrow());
        want.put("ssd.cu:ssd_step", KernelParams.SSD.name().orElseThrow());
        for (String e : List.of("ssd_chunk_cumsum", "ssd_chunk_state", "ssd_state_pass", "ssd_state_walk", "ssd_chunk_cb", "ssd_chunk_scan", "ssd_chunk_fused"))
            want.put("ssd_chunked.cu:" + e, KernelParams.SSD_CHUNKED.name().orElseThrow());
        want.put("sample.cu:sample_rows", KernelParams.SAMPLE.name().orElseThrow());
        Map<String, String> got = new LinkedHashMap<>();
        Pattern k = Pattern.compile("extern \"C\" __global__ (?:__launch_bounds__\\([^)]*\\) )?void (?:__launch_bounds__\\([^)]*\\) )?(\\w+)\\((\\w+) p\\)");
        for (String f : List.of("rmsnorm.cu", "embedding.cu", "conv1d.cu", "scan.cu", "scan_lab.cu", "elementwise.cu", "ops.cu",
                "attention.cu", "ssd.cu", "ssd_chunked.cu", "sample.cu")) {
            Matcher m = k.matcher(KernelSources.read(f));
            while (m.find()) got.put(f + ":" + m.group(1), m.group(2));
        }
        assertEquals(want, got);
    }

    @Test void aBlockMustSetEveryMemberOnceWithItsType() {
        try (Arena a = Arena.ofConfined()) {
            var b = new KernelParams.Block(KernelParams.ELTWISE, a).set("a", 16L).set("b", 0L).set("out", 32L);
            IllegalStateException e = assertThrows(IllegalStateException.class, b::segment);
            assertEquals("EltwiseParams: members not set: [n]", e.getMessage());
            b.set("n", 7L);
            var seg = b.segment();
            assertEquals(7L, seg.get(ValueLayout.JAVA_LONG, KernelParams.offset(KernelParams.ELTWISE, "n")));
            assertThrows(IllegalArgumentException.class, () -> b.set("n", 8L));
            var r = new KernelParams.Block(KernelParams.RMSNORM, a);
            IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class, () -> r.set("eps", 1));
            assertTrue(wrong.getMessage().startsWith("RmsNormParams.eps is float"), wrong.getMessage());
            assertThrows(IllegalArgumentException.class, () -> r.set("nope", 1));
        }
    }
}
