using System.Text.Json;
using Virtio.Workloads.Bench;

namespace Virtio.Workloads.Tests;

/// <summary>The ring benchmark's options are checked before a run, and its result prints every figure as JSON and text.</summary>
[Collection("Threads")]
public class RingBenchResultTests
{
    [Theory]
    [InlineData(3, RingBenchMode.Poll, 256, 1, 1, false, "--threads")]
    [InlineData(1, RingBenchMode.Notify, 256, 1, 1, false, "--mode notify needs --threads 2")]
    [InlineData(1, RingBenchMode.Poll, 100, 1, 1, false, "--ring-size")]
    [InlineData(1, RingBenchMode.Poll, 256, 0, 1, false, "--batch")]
    [InlineData(1, RingBenchMode.Poll, 256, 1, 0, false, "--segments")]
    [InlineData(1, RingBenchMode.Poll, 4, 1, 8, false, "--segments 8: more than the ring size (4) without --indirect")]
    public void Invalid_options_are_refused_with_the_option_named(int threads, RingBenchMode mode, int size, int batch, int segments, bool indirect, string expected)
    {
        var options = new RingBenchOptions { Threads = threads, Mode = mode, RingSize = size, Batch = batch, Segments = segments, Indirect = indirect };
        Assert.Contains(expected, options.Validate(), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new RingBench(options));
    }

    [Fact]
    public void Defaults_are_valid()
    {
        var options = new RingBenchOptions();
        Assert.Null(options.Validate());
        Assert.Equal((1, RingBenchMode.Poll, 256, true, 1), (options.Threads, options.Mode, options.RingSize, options.EventIdx, options.Segments));
    }

    [Theory]
    [InlineData(1, RingBenchMode.Poll, false, 1)]
    [InlineData(2, RingBenchMode.Poll, false, 1)]
    [InlineData(2, RingBenchMode.Notify, false, 1)]
    [InlineData(1, RingBenchMode.Poll, true, 4)]
    public void A_run_moves_every_buffer_and_reports_json_fields(int threads, RingBenchMode mode, bool indirect, int segments)
    {
        var options = new RingBenchOptions { Threads = threads, Mode = mode, Buffers = 20_000, Indirect = indirect, Segments = segments };
        using var bench = new RingBench(options);
        RingBenchResult result = bench.Run(warmup: 1000);
        Assert.Equal(20_000, result.Buffers);
        Assert.True(result.NsPerBuffer > 0);

        using var stream = new MemoryStream();
        result.WriteJson(stream, options);
        using JsonDocument json = JsonDocument.Parse(stream.ToArray());
        JsonElement root = json.RootElement;
        foreach (string field in new[] { "nsPerBuffer", "buffersPerSecond", "kicksPerBuffer", "callsPerBuffer", "allocatedBytes" })
        {
            Assert.Equal(JsonValueKind.Number, root.GetProperty(field).ValueKind);
        }

        Assert.Equal(20_000, root.GetProperty("buffers").GetInt64());
        Assert.Equal(mode == RingBenchMode.Poll ? "poll" : "notify", root.GetProperty("mode").GetString());
    }

    [Fact]
    public void Text_output_names_each_figure()
    {
        var options = new RingBenchOptions { Buffers = 1000 };
        var result = new RingBenchResult(1000, TimeSpan.FromMilliseconds(1), 2, 3, 0);
        using var writer = new StringWriter();
        result.WriteText(writer, options);
        string text = writer.ToString();
        Assert.Contains("ns/buffer", text, StringComparison.Ordinal);
        Assert.Contains("1000.00", text, StringComparison.Ordinal);
        Assert.Contains("(2 kicks)", text, StringComparison.Ordinal);
        Assert.Contains("(3 calls)", text, StringComparison.Ordinal);
        Assert.Contains("0 bytes", text, StringComparison.Ordinal);
    }
}
