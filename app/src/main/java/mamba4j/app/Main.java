package mamba4j.app;

import mamba4j.core.UserInputException;
import mamba4j.nn.TrainingStoppedException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.FileNotFoundException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code mamba4j} command line. Every command answers {@code --help} (options and an example); options take
 * {@code --key value} and {@code --key=value} alike. Bad input ({@link UserInputException}, a missing file, a bad
 * flag) prints one line {@code error: …} and exits 2; anything else is a bug in mamba4j: its stack trace, a request
 * to report it, exit 1.
 */
@Command(name = "mamba4j", mixinStandardHelpOptions = true, version = "mamba4j 0.1.0",
        description = "Selective state space models (Mamba) on the JVM.",
        footerHeading = "%nExample:%n", footer = "  mamba4j demo%n  mamba4j generate --help",
        subcommands = {InspectCommand.class, ConvertCommand.class, ForwardCommand.class, GenerateCommand.class, PerplexityCommand.class, GradCommand.class,
                mamba4j.app.serve.ServeCommand.class, mamba4j.app.serve.ServeBenchCommand.class,
                TrainCommand.class, BenchCommand.class, TrainBenchCommand.class, ScanBenchCommand.class, ScalingBenchCommand.class,
                DistillCommand.class, DemoCommand.class, EvalTaskCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    static final String BUG_REPORT = "this is a bug in mamba4j, not in your input: please report it with the command line "
            + "and the stack trace above (https://github.com/mamba4j/mamba4j/issues)";

    /** One example per command, shown under its --help (commands a user can paste from the checkout). */
    static final Map<String, List<String>> EXAMPLES = new LinkedHashMap<>();
    static {
        EXAMPLES.put("inspect", List.of("mamba4j inspect --model testdata/golden/mamba1/orig_layout"));
        EXAMPLES.put("convert", List.of("mamba4j convert --model testdata/golden/mamba1/tied --out /tmp/tied.gguf",
                "mamba4j convert --model testdata/golden/mamba1/tied --out /tmp/tied-bf16 --dtype bf16 --layout original"));
        EXAMPLES.put("forward", List.of("mamba4j forward --model testdata/golden/mamba1/tied "
                + "--input testdata/golden/mamba1/tied/input.safetensors --output /tmp/out.safetensors"));
        EXAMPLES.put("generate", List.of("mamba4j generate --model docs/llama-teacher --prompt \"It is a truth\" --max-new-tokens 60",
                "mamba4j generate --model testdata/golden/mamba1/tied --prompt-ids 107,170,70 --max-new-tokens 12 --ids",
                "mamba4j generate --model docs/llama-teacher --prompts-file docs/prompts.txt --max-new-tokens 40 --json"));
        EXAMPLES.put("perplexity", List.of("mamba4j perplexity --model docs/llama-teacher --text data/austen.txt --context 256 --stride 128 --max-tokens 20000"));
        EXAMPLES.put("grad", List.of("mamba4j grad --model testdata/golden/mamba2/g2_untied "
                + "--input testdata/golden/mamba2/g2_untied/input.safetensors --output /tmp/grads.safetensors"));
        EXAMPLES.put("train", List.of("mamba4j train --preset austen-bytes --out runs/austen --steps 500",
                "mamba4j train --out runs/austen --resume"));
        EXAMPLES.put("bench", List.of("mamba4j bench --shape mamba-130m --batch 1,8"));
        EXAMPLES.put("bench-train", List.of("mamba4j bench-train --seq-lens 256,1024"));
        EXAMPLES.put("bench-scan", List.of("mamba4j bench-scan --state 16,128 --lengths 1024,4096"));
        EXAMPLES.put("bench-scaling", List.of("mamba4j bench-scaling --lengths 256,1024,4096 --contexts 256,4096"));
        EXAMPLES.put("distill", List.of("mamba4j distill --teacher docs/llama-teacher --plan demo --data data/austen.txt --out runs/distill"));
        EXAMPLES.put("demo", List.of("mamba4j demo", "mamba4j demo --teacher docs/llama-teacher"));
        EXAMPLES.put("eval-task", List.of("mamba4j eval-task --model docs/induction-heads-64x --task induction-heads --lengths 256,4096"));
        EXAMPLES.put("serve", List.of("mamba4j serve --model docs/llama-teacher --port 8080"));
        EXAMPLES.put("bench-serve", List.of("mamba4j bench-serve --model docs/llama-teacher --clients 1,8"));
        EXAMPLES.put("help", List.of("mamba4j help train"));
    }

    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT, description = "Also print the stack trace of a user error.")
    boolean debug;

    @Override public void run() { new CommandLine(this).usage(System.out); }

    public static void main(String[] args) {
        int status = run(args);
        System.out.flush();
        System.err.flush();
        System.exit(status);
    }

    /** The configured command line (help on every command, the examples); tests use it to walk every command. */
    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main());
        for (CommandLine sub : cli.getSubcommands().values()) {
            var spec = sub.getCommandSpec();
            if (!(sub.getCommand() instanceof CommandLine.HelpCommand)) spec.mixinStandardHelpOptions(true);
            List<String> ex = EXAMPLES.get(sub.getCommandName());
            if (ex != null) {
                spec.usageMessage().footerHeading("%nExample" + (ex.size() > 1 ? "s" : "") + ":%n");
                spec.usageMessage().footer(ex.stream().map(s -> "  " + s.replace("%", "%%")).toArray(String[]::new));
            }
        }
        return cli;
    }

    /** Runs the CLI and returns its exit status (0 ok, 1 internal error, 2 bad input or usage). */
    public static int run(String... args) {
        boolean debug = java.util.Arrays.asList(args).contains("--debug");
        CommandLine cli = commandLine();
        cli.setParameterExceptionHandler((ex, a) -> {
            PrintStream err = System.err;
            CommandLine c = ex.getCommandLine();
            String where = c.getCommandSpec().qualifiedName(" ");
            String hint = "";
            if (ex instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty())
                hint = "; did you mean " + String.join(" or ", u.getSuggestions().stream().limit(3).toList()) + "?";
            err.println("error: " + ex.getMessage() + hint + " ('" + where + " --help' lists the options)");
            err.flush();
            return 2;
        });
        cli.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            PrintStream err = System.err;
            if (isUserError(ex)) {
                if (debug) ex.printStackTrace();
                err.println("error: " + userMessage(ex));
                err.flush();
                return 2;
            }
            if (ex instanceof mamba4j.nn.TrainingInterruptedException) return 130;   // the trainer printed where it stopped
            if (ex instanceof TrainingStoppedException) {   // the run diverged: named, with what to do, not a bug
                err.println("error: " + ex.getMessage());
                err.flush();
                return 1;
            }
            ex.printStackTrace(err);
            err.println("internal error: " + ex + "\n" + BUG_REPORT);
            err.flush();
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

    /** A user mistake: named input that is wrong, or a file that is not there. */
    static boolean isUserError(Throwable ex) {
        if (ex instanceof UserInputException || ex instanceof NoSuchFileException || ex instanceof FileNotFoundException) return true;
        return ex instanceof UncheckedIOException u && (u.getCause() instanceof NoSuchFileException || u.getCause() instanceof FileNotFoundException);
    }

    private static String userMessage(Throwable ex) {
        if (ex instanceof NoSuchFileException n) return "no such file: " + n.getFile();
        if (ex instanceof UncheckedIOException u && u.getCause() instanceof NoSuchFileException n
                && (u.getMessage() == null || !u.getMessage().contains(n.getFile())))
            return (u.getMessage() == null ? "" : u.getMessage() + ": ") + "no such file: " + n.getFile();
        return ex.getMessage();
    }
}
