using System.Diagnostics;
using System.Text.Json;

namespace Virtio.Cli.Bench;

/// <summary>What the device benchmarks share: the measured run and the one-object JSON output.</summary>
internal static class BenchRun
{
    /// <summary>
    /// Runs <paramref name="loop"/> over <paramref name="warmup"/> unmeasured operations, then over
    /// <paramref name="count"/> measured ones on this thread.
    /// </summary>
    /// <param name="loop">Runs n operations and returns how many failed.</param>
    /// <remarks>
    /// The loop stays tiered (AggressiveOptimization would skip the profile-guided inlining: 80 ns more per blk
    /// request), so a short warm-up can leave the runtime's one-time work (tiering up, lazily built structures) inside
    /// the measured run, where a few KiB of it count as this thread's allocations: the tests take the least of several runs.
    /// </remarks>
    /// <returns>Elapsed time, operations run, bytes this thread allocated in the measured run, and failures.</returns>
    public static (TimeSpan Elapsed, long Operations, long AllocatedBytes, long Failed) Measure(Func<long, long> loop, long count, long warmup)
    {
        loop(warmup);
        long before = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        long failed = loop(count);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        return (elapsed, count, GC.GetAllocatedBytesForCurrentThread() - before, failed);
    }

    /// <summary>Prints one JSON object whose fields <paramref name="fields"/> writes, and a newline, to <paramref name="output"/>.</summary>
    public static void PrintJson(TextWriter output, Action<Utf8JsonWriter> fields)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            fields(w);
            w.WriteEndObject();
        }

        output.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }
}
