package mamba4j.app;

import mamba4j.core.UserInputException;

import java.util.ArrayList;
import java.util.List;

/** Settings overrides from the command line: {@code --key=value} and {@code --key value} alike. */
final class Overrides {
    private Overrides() {}

    /** The unmatched arguments of a command as {@code key=value} strings, in order. */
    static List<String> pairs(List<String> args) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (!a.startsWith("--") || a.length() == 2)
                throw new UserInputException("unexpected argument '" + a + "' (settings are --key value or --key=value)");
            String kv = a.substring(2);
            if (kv.indexOf('=') > 0) { out.add(kv); continue; }
            if (i + 1 >= args.size() || args.get(i + 1).startsWith("--"))
                throw new UserInputException(a + ": missing a value (" + a + " VALUE or " + a + "=VALUE)");
            out.add(kv + "=" + args.get(++i));
        }
        return out;
    }
}
