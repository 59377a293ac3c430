package mamba4j.app.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import mamba4j.core.UserInputException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face chat template ({@code tokenizer_config.json} "chat_template") rendered with HubSpot's Jinjava, set up
 * as transformers renders it: trim_blocks and lstrip_blocks on, {@code messages}, {@code add_generation_prompt},
 * {@code bos_token}, {@code eos_token} and {@code raise_exception(message)} in scope.
 */
final class ChatTemplate {
    private final String template, bos, eos;
    private final Jinjava jinjava;

    ChatTemplate(String template, String bos, String eos) {
        this.template = template;
        this.bos = bos;
        this.eos = eos;
        jinjava = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true).build());
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raiseException", String.class));
    }

    /** Thrown by a template's raise_exception: the template refused the messages. */
    static final class TemplateRefused extends RuntimeException {
        TemplateRefused(String m) { super(m); }
    }

    public static String raiseException(String message) { throw new TemplateRefused(message); }

    /**
     * The template of a model folder: {@code override} (a file with the template text) when given, else
     * tokenizer_config.json's chat_template (a string, or a list of {name, template} whose "default" entry is used);
     * null when there is none.
     */
    static ChatTemplate load(Path modelDir, Path override) {
        Path tc = modelDir.resolve("tokenizer_config.json");
        JsonNode cfg = null;
        try {
            if (Files.isRegularFile(tc)) cfg = new ObjectMapper().readTree(tc.toFile());
            String text = null;
            if (override != null) {
                if (!Files.isRegularFile(override)) throw new UserInputException("--chat-template " + override + ": no such file");
                text = Files.readString(override);
            } else if (cfg != null && cfg.has("chat_template")) {
                JsonNode t = cfg.get("chat_template");
                if (t.isTextual()) text = t.asText();
                else if (t.isArray())
                    for (JsonNode e : t) if ("default".equals(e.path("name").asText())) text = e.path("template").asText();
                if (text == null) throw new UserInputException(tc + ": chat_template is neither a string nor a list with a \"default\" entry");
            }
            if (text == null) return null;
            return new ChatTemplate(text, special(cfg, "bos_token"), special(cfg, "eos_token"));
        } catch (IOException e) {
            throw new UserInputException(tc + ": " + e.getMessage());
        }
    }

    private static String special(JsonNode cfg, String key) {
        if (cfg == null || !cfg.has(key) || cfg.get(key).isNull()) return "";
        JsonNode t = cfg.get(key);
        return t.isObject() ? t.path("content").asText("") : t.asText("");
    }

    /** The prompt text for the messages (each a map with "role" and "content"), ending with the assistant's turn. */
    String render(List<Map<String, Object>> messages) {
        Map<String, Object> ctx = new HashMap<>();
        ctx.put("messages", messages);
        ctx.put("add_generation_prompt", true);
        ctx.put("bos_token", bos);
        ctx.put("eos_token", eos);
        RenderResult r;
        try {
            r = jinjava.renderForResult(template, ctx);
        } catch (TemplateRefused e) {
            throw ApiError.invalid("messages", "the chat template refused the messages: " + e.getMessage());
        } catch (RuntimeException e) {
            Throwable c = e;
            while (c.getCause() != null && !(c instanceof TemplateRefused)) c = c.getCause();
            if (c instanceof TemplateRefused) throw ApiError.invalid("messages", "the chat template refused the messages: " + c.getMessage());
            throw ApiError.invalid("messages", "the chat template failed: " + e.getMessage());
        }
        for (TemplateError e : r.getErrors()) {
            if (e.getException() != null) {
                Throwable c = e.getException();
                while (c.getCause() != null && !(c instanceof TemplateRefused)) c = c.getCause();
                if (c instanceof TemplateRefused) throw ApiError.invalid("messages", "the chat template refused the messages: " + c.getMessage());
            }
            if (e.getSeverity() == TemplateError.ErrorType.FATAL)
                throw ApiError.invalid("messages", "the chat template failed: " + e.getMessage());
        }
        return r.getOutput();
    }
}
