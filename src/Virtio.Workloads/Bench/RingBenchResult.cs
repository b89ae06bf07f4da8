using System.Globalization;
using System.Text.Json;

namespace Virtio.Workloads.Bench;

/// <summary>What one run of the ring benchmark measured.</summary>
/// <param name="Buffers">Buffers moved.</param>
/// <param name="Elapsed">Wall-clock time of the measured run.</param>
/// <param name="Kicks">Kicks the driver decided were needed (and sent, in notify mode).</param>
/// <param name="Calls">Used-buffer notifications the device decided were needed (and sent, in notify mode).</param>
/// <param name="AllocatedBytes">Bytes allocated during the measured run by the thread(s) running the ring, each counted on its own.</param>
public sealed record RingBenchResult(long Buffers, TimeSpan Elapsed, long Kicks, long Calls, long AllocatedBytes)
{
    /// <summary>Nanoseconds per buffer.</summary>
    public double NsPerBuffer => Elapsed.TotalNanoseconds / Buffers;

    /// <summary>Buffers per second.</summary>
    public double BuffersPerSecond => Buffers / Elapsed.TotalSeconds;

    /// <summary>Kicks per buffer.</summary>
    public double KicksPerBuffer => (double)Kicks / Buffers;

    /// <summary>Calls per buffer.</summary>
    public double CallsPerBuffer => (double)Calls / Buffers;

    /// <summary>Writes the result of a run with <paramref name="options"/> as one camelCase JSON object and a newline (<c>virtio bench ring --json</c>).</summary>
    public void WriteJson(Stream stream, RingBenchOptions options)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(options);
        var json = new RingBenchJson(
            options.Threads, options.Mode == RingBenchMode.Poll ? "poll" : "notify", options.RingSize, options.Batch, options.Burst, options.EventIdx, options.Indirect,
            options.Segments, Buffers, Math.Round(NsPerBuffer, 2), Math.Round(BuffersPerSecond), KicksPerBuffer, CallsPerBuffer, AllocatedBytes);
        JsonSerializer.Serialize(stream, json, BenchJsonContext.Default.RingBenchJson);
        stream.WriteByte((byte)'\n');
        stream.Flush();
    }

    /// <summary>Writes the result of a run with <paramref name="options"/> for a person (<c>virtio bench ring</c>).</summary>
    public void WriteText(TextWriter output, RingBenchOptions options)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(options);
        CultureInfo c = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(c,
            $"ring: threads={options.Threads} mode={(options.Mode == RingBenchMode.Poll ? "poll" : "notify")} ring-size={options.RingSize} batch={options.Batch} burst={(options.Burst ? "true" : "false")} event-idx={(options.EventIdx ? "true" : "false")} indirect={(options.Indirect ? "true" : "false")} segments={options.Segments} buffers={Buffers}"));
        output.WriteLine(string.Create(c, $"  ns/buffer       {NsPerBuffer,12:F2}"));
        output.WriteLine(string.Create(c, $"  buffers/s       {BuffersPerSecond,12:N0}"));
        output.WriteLine(string.Create(c, $"  kicks/buffer    {KicksPerBuffer,12:F5}  ({Kicks} kicks)"));
        output.WriteLine(string.Create(c, $"  calls/buffer    {CallsPerBuffer,12:F5}  ({Calls} calls)"));
        output.WriteLine(string.Create(c, $"  allocated       {AllocatedBytes,12} bytes"));
    }
}
