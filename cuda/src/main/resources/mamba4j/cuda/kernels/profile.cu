// For KernelProfile only: keeps the stream busy for ns nanoseconds (the global timer), so the host has queued the
// profiled launch and its end event before the start event fires, and host-side launch latency is not counted.
extern "C" __global__ void spin_ns(long long ns) {
    unsigned long long start, now;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
    do {
        __nanosleep(1000);
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    } while (now - start < (unsigned long long)ns);
}
