package mamba4j.app;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import mamba4j.core.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

/**
 * The layering of DESIGN.md, enforced: {@code core ← {cpu, cuda, io} ← nn ← models ← app}; the Vector API only in
 * cpu; raw tensor memory only in core, the backends and io; app reaches backends only through the {@code Backend}
 * front. (Main classes only: tests may wire a backend directly.)
 */
class LayeringTest {
    static JavaClasses main;

    @BeforeAll
    static void load() {
        main = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages("mamba4j");
    }

    private static void check(ArchRule rule) { rule.check(main); }

    @Test
    void coreDependsOnNoOtherModule() {
        check(noClasses().that().resideInAPackage("mamba4j.core..").should().dependOnClassesThat()
                .resideInAnyPackage("mamba4j.cpu..", "mamba4j.cuda..", "mamba4j.io..", "mamba4j.nn..", "mamba4j.models..", "mamba4j.app..", "mamba4j.testkit.."));
    }

    @Test
    void backendsAndIoDependOnCoreOnly() {
        for (String m : new String[]{"mamba4j.cpu..", "mamba4j.cuda..", "mamba4j.io.."})
            check(noClasses().that().resideInAPackage(m).should().dependOnClassesThat()
                    .resideInAnyPackage(others(m, "mamba4j.cpu..", "mamba4j.cuda..", "mamba4j.io..", "mamba4j.nn..", "mamba4j.models..", "mamba4j.app..")));
    }

    @Test
    void nnAndModelsNeverReachABackendModule() {
        check(noClasses().that().resideInAnyPackage("mamba4j.nn..", "mamba4j.models..").should().dependOnClassesThat()
                .resideInAnyPackage("mamba4j.cpu..", "mamba4j.cuda..", "mamba4j.app.."));
        check(noClasses().that().resideInAPackage("mamba4j.nn..").should().dependOnClassesThat().resideInAPackage("mamba4j.models.."));
    }

    @Test
    void appReachesBackendsOnlyThroughTheFront() {
        check(noClasses().that().resideInAPackage("mamba4j.app..").should().dependOnClassesThat()
                .resideInAnyPackage("mamba4j.cpu..", "mamba4j.cuda.."));
    }

    @Test
    void theVectorApiStaysInCpu() {
        check(noClasses().that().resideOutsideOfPackage("mamba4j.cpu..").should().dependOnClassesThat()
                .resideInAPackage("jdk.incubator.vector.."));
    }

    @Test
    void rawTensorMemoryIsForBackendsAndIo() {
        check(noClasses().that().resideInAnyPackage("mamba4j.nn..", "mamba4j.models..", "mamba4j.app..").should()
                .callMethod(Tensor.class, "segment"));
    }

    private static String[] others(String self, String... all) {
        return java.util.Arrays.stream(all).filter(p -> !p.equals(self)).toArray(String[]::new);
    }
}
