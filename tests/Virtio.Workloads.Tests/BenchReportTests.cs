using System.Text.Json;
using Microsoft.Extensions.Logging;
using Virtio.Workloads.Bench;

namespace Virtio.Workloads.Tests;

/// <summary>The bench results print themselves: the JSON fields <c>virtio bench --json</c> promises, and the text figures.</summary>
public sealed class BenchReportTests
{
    [Fact]
    public void Blk_report_json_has_every_field_in_camel_case_with_rounded_rates()
    {
        var report = new BlkBenchReport("randread", 4096, 32, 1000, TimeSpan.FromMilliseconds(3), 16, 1);
        using JsonDocument json = JsonDocument.Parse(report.ToJson());
        JsonElement root = json.RootElement;
        Assert.Equal(
            ["rw", "blockSize", "queueDepth", "requests", "iops", "nsPerRequest", "allocatedBytes", "failed"],
            root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(333_333, root.GetProperty("iops").GetDouble());
        Assert.Equal(3000, root.GetProperty("nsPerRequest").GetDouble());
        Assert.Equal(1, root.GetProperty("failed").GetInt64());
    }

    [Fact]
    public void Blk_report_text_names_the_run_and_each_figure()
    {
        string text = new BlkBenchReport("write", 512, 4, 1000, TimeSpan.FromMilliseconds(2), 0, 0).ToText();
        Assert.StartsWith("virtio-blk write bs=512 qd=4: 1000 requests in 2 ms", text, StringComparison.Ordinal);
        Assert.Contains("2000.0 ns/request, 0 bytes allocated, 0 failed", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Net_report_json_has_every_field_with_kicks_per_frame()
    {
        var report = new NetBenchReport(64, true, 32, false, 1000, TimeSpan.FromMilliseconds(1), 0, 0, RxKicks: 250, TxKicks: 500);
        using JsonDocument json = JsonDocument.Parse(report.ToJson());
        JsonElement root = json.RootElement;
        Assert.Equal(
            ["frameSize", "mrgRxBuf", "batch", "callbacks", "frames", "pps", "nsPerFrame", "gbitPerSecond", "rxKicksPerFrame", "txKicksPerFrame", "allocatedBytes", "failed"],
            root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(0.25, root.GetProperty("rxKicksPerFrame").GetDouble());
        Assert.Equal(0.5, root.GetProperty("txKicksPerFrame").GetDouble());
        Assert.Contains("kicks per frame: rx 0.2500, tx 0.5000", report.ToText(), StringComparison.Ordinal);
    }

    [Fact]
    public void Blk_measure_reports_the_run_it_measured()
    {
        using var bench = new BlkBench("read", 4096, 8);
        BlkBenchReport report = bench.Measure(1000, 100);
        Assert.Equal(("read", 4096, 8, 1000L, 0L), (report.Rw, report.BlockSize, report.QueueDepth, report.Requests, report.Failed));
    }

    [Fact]
    public void Blk_bench_logs_its_device_through_the_factory_it_is_given()
    {
        var sink = new ListLoggerFactory();
        using (var bench = new BlkBench("read", 4096, 1, loggerFactory: sink))
        {
            bench.Measure(10, 0);
        }

        Assert.Contains(sink.Messages, m => m.Contains("set status", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(1000, 1, "--block-size 1000: must be a multiple of 512")]
    [InlineData(1 << 20, 2048, "--block-size 1048576 with --queue-depth 2048: 2048 MiB of request buffers")]
    public void Blk_settings_are_refused_with_the_option_named(int blockSize, int depth, string expected) =>
        Assert.Contains(expected, BlkBench.Validate(blockSize, depth), StringComparison.Ordinal);

    [Fact]
    public void Net_refuses_a_batch_whose_rx_buffers_overflow_a_ring() =>
        Assert.Contains("more than a ring of 32768 holds", NetBench.Validate(65550, true, 4096), StringComparison.Ordinal);

    private sealed class ListLoggerFactory : ILoggerFactory
    {
        public List<string> Messages { get; } = [];

        public ILogger CreateLogger(string categoryName) => new ListLogger(this);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class ListLogger(ListLoggerFactory owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (owner.Messages)
                {
                    owner.Messages.Add(formatter(state, exception));
                }
            }
        }
    }
}
