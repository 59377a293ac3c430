package mamba4j.app;

import mamba4j.core.UserInputException;
import mamba4j.io.hub.DownloadListener;
import mamba4j.io.hub.HubModels;
import mamba4j.io.hub.HubSettings;
import mamba4j.io.hub.RepoId;
import mamba4j.nn.Progress;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Where a command's model comes from: a checkpoint folder, or — when no such folder exists and the text reads
 * {@code ORG/NAME[@REVISION]} — a Hugging Face model, found in the Hugging Face cache (files fetched by transformers or
 * {@code huggingface-cli} are used as they are) or downloaded into it ({@link HubModels}). A folder wins over a hub
 * model of the same name, as in transformers' {@code from_pretrained}.
 */
public final class ModelSource {
    private ModelSource() {}

    /** The hub settings: the environment's (HF_HUB_CACHE, HF_HOME, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE); tests point them at a loopback hub. */
    static volatile Supplier<HubSettings> settings = HubSettings::fromEnvironment;

    /**
     * The folder of {@code given} (the value of {@code flag}): itself when it exists or is no hub id (the command then
     * reports the missing folder), else the hub model's snapshot folder in the cache, downloaded with progress on stderr.
     *
     * @throws UserInputException naming the flag and the model: not in the cache while offline, no such model or
     *     revision, access refused (set HF_TOKEN), no safetensors weights, the hub unreachable
     */
    public static Path resolve(String flag, Path given) {
        if (given == null || Files.exists(given)) return given;
        String text = given.toString();
        Optional<RepoId> id;
        try {
            id = RepoId.parse(text);
        } catch (UserInputException e) {
            throw new UserInputException(flag + " " + text + ": " + e.getMessage());
        }
        if (id.isEmpty()) return given;
        try {
            return HubModels.snapshot(id.get(), settings.get(), listener(System.err));
        } catch (UserInputException e) {
            String m = e.getMessage();
            for (String self : new String[]{id.get().toString(), id.get().repo()}) {   // the flag's value names the model once
                if (!m.startsWith(self + ":") && !m.startsWith(self + " ")) continue;
                m = m.substring(self.length() + 1).stripLeading();
                break;
            }
            throw new UserInputException(flag + " " + text + ": " + m + " (no folder " + text + " here either)", e);
        }
    }

    /** A live bar per file in a terminal, else plain lines every -Dmamba4j.progress.seconds (as every progress of the CLI). */
    static DownloadListener listener(PrintStream err) {
        if (!Progress.stderrIsTerminal()) return DownloadListener.lines(err, Math.max(1, Long.getLong("mamba4j.progress.seconds", 30)));
        return new DownloadListener() {
            ProgressBar bar;

            @Override public void started(String file, long total, long from) {
                bar = new ProgressBarBuilder().setTaskName(file).setInitialMax(Math.max(total, 0)).setStyle(ProgressBarStyle.ASCII)
                        .setUnit(" MB", 1_000_000).setUpdateIntervalMillis(200).startsFrom(from, Duration.ZERO)
                        .showSpeed().setConsumer(new ConsoleProgressBarConsumer(err)).build();
            }

            @Override public void progress(long done) { bar.stepTo(done); }

            @Override public void finished() { bar.close(); }
        };
    }
}
