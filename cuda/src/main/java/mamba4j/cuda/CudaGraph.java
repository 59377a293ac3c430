package mamba4j.cuda;

/**
 * A captured and instantiated CUDA graph: {@link #replay} launches the whole recorded sequence with one call,
 * reading and writing the same device buffers every time (decode's fixed buffers). Owned by its device.
 */
public final class CudaGraph implements AutoCloseable {
    private final CudaDevice device;
    final long graph, exec;

    CudaGraph(CudaDevice device, long graph, long exec) {
        this.device = device;
        this.graph = graph;
        this.exec = exec;
    }

    /** Queues one run of the graph on the device's stream. */
    public void replay() { device.graphLaunch(exec); }

    @Override public void close() { device.destroyGraph(this); }
}
