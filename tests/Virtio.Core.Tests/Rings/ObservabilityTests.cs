using Virtio.Testing;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Virtio.Core.Tests.Support;
using Virtio.Rings;

namespace Virtio.Core.Tests.Rings;

/// <summary>A broken queue says so through ILogger (QEMU's virtio_error event) and System.Diagnostics.Metrics.</summary>
[Collection("Threads")]
public class ObservabilityTests
{
    [Fact]
    public void Breaking_a_queue_logs_virtio_error_with_the_message()
    {
        using var h = new RingHarness(size: 8);
        var log = new ListLogger();
        h.Device.Logger = log;
        h.PublishAvail(0, 42, 1);
        h.Device.Pop(out _);
        (LogLevel level, EventId id, string text) = Assert.Single(log.Entries, e => e.Level >= LogLevel.Error);
        Assert.Equal(LogLevel.Error, level);
        Assert.Equal("virtio_error", id.Name);
        Assert.Contains("Guest says index 42 is available", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Pops_and_flushes_are_traced_as_virtqueue_pop_and_virtqueue_flush()
    {
        using var h = new RingHarness(size: 8);
        var log = new ListLogger();
        h.Device.Logger = log;
        h.AddSimple(1);
        h.Device.Push(h.PopOne(), 4);
        Assert.Contains(log.Entries, e => e.Id.Name == "virtqueue_pop" && e.Text.Contains("out_num 1 in_num 1", StringComparison.Ordinal));
        Assert.Contains(log.Entries, e => e.Id.Name == "virtqueue_flush" && e.Text.Contains("used_idx 1", StringComparison.Ordinal));
    }

    [Fact]
    public void Trace_level_is_asked_when_the_logger_is_set_not_on_every_pop_and_flush()
    {
        using var h = new RingHarness(size: 8);
        var log = new ListLogger { Trace = false };
        h.Device.Logger = log;
        int asked = log.Asked;
        for (int i = 0; i < 100; i++)
        {
            h.AddSimple(1);
            h.Device.Push(h.PopOne(), 4);
            Assert.True(h.Driver.TryGetBuffer(out _, out _));
        }

        Assert.Equal(asked, log.Asked);
        Assert.DoesNotContain(log.Entries, e => e.Level == LogLevel.Trace);
    }

    [Fact]
    public void Breaking_a_queue_counts_an_error_by_kind()
    {
        long count = 0;
        string? kind = null;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Virtio.Core" && instrument.Name == "virtio.ring.errors")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            count += value;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "kind")
                {
                    kind = tag.Value as string;
                }
            }
        });
        listener.Start();

        using var h = new RingHarness(size: 8);
        h.WriteDescriptor(0, RingHarness.DataBase, 0, DescriptorFlags.None, 0);
        h.PublishAvail(0, 0, 1);
        h.Device.Pop(out _);
        Assert.Equal(1, count);
        Assert.Equal(nameof(VirtqueueErrorKind.ZeroLengthBuffer), kind);
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, EventId Id, string Text)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool Trace { get; init; } = true;

        public int Asked { get; private set; }

        public bool IsEnabled(LogLevel logLevel)
        {
            Asked++;
            return Trace || logLevel > LogLevel.Trace;
        }

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                Entries.Add((logLevel, eventId, formatter(state, exception)));
            }
        }
    }
}
