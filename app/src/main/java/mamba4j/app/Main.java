package mamba4j.app;

import mamba4j.core.UserInputException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.UncheckedIOException;

/** The {@code mamba4j} command line. Bad input prints one line naming what is wrong and exits 2. */
@Command(name = "mamba4j", mixinStandardHelpOptions = true, version = "mamba4j 0.1.0",
        description = "Selective state space models (Mamba) on the JVM.",
        subcommands = {InspectCommand.class, ForwardCommand.class, GenerateCommand.class, GradCommand.class, TrainCommand.class, BenchCommand.class, TrainBenchCommand.class, ScanBenchCommand.class, ScalingBenchCommand.class, DistillCommand.class, DemoCommand.class, EvalTaskCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT, description = "Print stack traces of errors.")
    boolean debug;

    @Override public void run() { new CommandLine(this).usage(System.out); }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit status (0 ok, 1 internal error, 2 bad input or usage). */
    public static int run(String... args) {
        boolean debug = java.util.Arrays.asList(args).contains("--debug");
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            if (debug) ex.printStackTrace();
            if (ex instanceof UserInputException || ex instanceof UncheckedIOException && ex.getCause() instanceof java.nio.file.NoSuchFileException) {
                System.err.println("error: " + ex.getMessage());
                return 2;
            }
            if (ex instanceof IllegalArgumentException) {
                System.err.println("error: " + ex.getMessage());
                return 2;
            }
            System.err.println("internal error: " + ex + (debug ? "" : " (run with --debug for the stack trace)"));
            return 1;
        });
        try {
            return cli.execute(args);
        } catch (OutOfMemoryError e) {
            if (debug) e.printStackTrace();
            System.err.println(outOfMemory(e));
            return 2;
        }
    }

    /**
     * One line for an OutOfMemoryError: what was being allocated (the error's own message, which names the
     * allocation where mamba4j knows it) and how to give the JVM more memory.
     */
    static String outOfMemory(OutOfMemoryError e) {
        String what = e.getMessage() == null ? "" : e.getMessage();
        for (Throwable c = e.getCause(); c != null; c = c.getCause())
            if (c.getMessage() != null && !what.contains(c.getMessage())) what += (what.isEmpty() ? "" : ": ") + c.getMessage();
        long heap = Runtime.getRuntime().maxMemory() >> 20;
        return "error: out of memory" + (what.isEmpty() ? "" : " allocating " + what.replaceAll("\\s*\\R\\s*", " ")) + " (Java heap limit "
                + heap + " MiB); give the JVM more memory (MAMBA4J_JAVA_OPTS=-Xmx16g, and -XX:MaxDirectMemorySize for native "
                + "tensors) or choose a smaller model, batch_size or seq_len";
    }
}
