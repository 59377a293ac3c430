package mamba4j.app.serve;

/** An error answered as OpenAI does: {@code {"error": {"message", "type", "param", "code"}}} with an HTTP status. */
final class ApiError extends RuntimeException {
    final int status;
    final String type, param, code;

    ApiError(int status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400 naming the request field at fault (null when the body as a whole is). */
    static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, null, message);
    }
}
