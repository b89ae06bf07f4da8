using Virtio.Workloads.Stress;

namespace Virtio.Workloads.Tests;

/// <summary>
/// The two-thread stress behind <c>virtio stress</c>: a correct driver and device pass it across seeds, resets and the
/// 16-bit wrap; a device broken on purpose fails it with the right kind, so the checks can fail.
/// </summary>
[Collection("Threads")]
public class RingStressTests
{
    // Rings up to 1024 entries keep each run short; the configuration draws (and so the resets and wraps) depend only on the seed.
    private static RingStressOptions Short(long buffers = 150_000, ulong seed = 1) => new()
    {
        Buffers = buffers,
        Seed = seed,
        MaxRingSize = 1024,
    };

    private static RingStressResult Run(RingStressOptions options)
    {
        using var stress = new RingStress(options);
        return stress.Run();
    }

    [Fact]
    public void Stress_returns_every_buffer_exactly_once_across_seeds()
    {
        RingStressResult result = Run(Short());
        Assert.True(result.Passed, result.Failure is null ? null : RingStressReport.ToText(result));
        Assert.Equal(150_000, result.Buffers);
        Assert.Equal(result.Buffers, result.Returned + result.TakenBackAtReset);
        Assert.True(result.Seeds > 1, $"{result.Seeds} seeds");
    }

    [Fact]
    public void Stress_accounts_for_every_buffer_outstanding_at_a_device_reset()
    {
        RingStressResult result = Run(Short());
        Assert.True(result.Passed, result.Failure is null ? null : RingStressReport.ToText(result));
        Assert.True(result.Resets > 0, "no device reset was drawn");
        Assert.True(result.TakenBackAtReset > 0, "no buffer was outstanding at any reset");
    }

    [Fact]
    public void Stress_restarts_the_device_side_with_set_state_and_loses_nothing()
    {
        RingStressResult result = Run(Short());
        Assert.True(result.Passed, result.Failure is null ? null : RingStressReport.ToText(result));
        Assert.True(result.Restarts > 0, "no device-side restart was drawn");
    }

    [Fact]
    public void Stress_crosses_the_16_bit_index_wrap()
    {
        RingStressResult result = Run(Short());
        Assert.True(result.Passed, result.Failure is null ? null : RingStressReport.ToText(result));
        Assert.True(result.WrapsCrossed > 0, "no seed crossed the wrap");
    }

    [Fact]
    public void Stress_reports_a_used_entry_the_device_dropped_as_lost()
    {
        RingStressResult result = Run(Short() with { DeviceFault = StressDeviceFault.DropUsedEntry });
        RingStressFailure failure = Assert.IsType<RingStressFailure>(result.Failure);
        Assert.Equal(RingStressFailureKind.Lost, failure.Kind);
        Assert.Equal(0, failure.SeedIndex);
        Assert.Contains("never came back", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Stress_reports_a_byte_the_device_corrupted()
    {
        RingStressResult result = Run(Short() with { DeviceFault = StressDeviceFault.CorruptWrittenByte });
        RingStressFailure failure = Assert.IsType<RingStressFailure>(result.Failure);
        Assert.Equal(RingStressFailureKind.DataCorrupted, failure.Kind);
        Assert.Contains("not the device's pattern", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Stress_reports_a_used_length_other_than_what_the_device_wrote()
    {
        RingStressResult result = Run(Short() with { DeviceFault = StressDeviceFault.WrongUsedLength });
        RingStressFailure failure = Assert.IsType<RingStressFailure>(result.Failure);
        Assert.Equal(RingStressFailureKind.WrongLength, failure.Kind);
    }

    [Fact]
    public void Stress_reports_a_device_that_sleeps_without_asking_for_kicks_as_a_stall_with_the_queue_state()
    {
        // The stall deadline is what the test waits for; 3 s keeps it short, and a stall is the only way this run can end.
        RingStressResult result = Run(Short() with { DeviceFault = StressDeviceFault.SleepWithNotificationsOff, StallTimeout = TimeSpan.FromSeconds(3) });
        RingStressFailure failure = Assert.IsType<RingStressFailure>(result.Failure);
        Assert.Equal(RingStressFailureKind.Stall, failure.Kind);
        Assert.NotNull(failure.QueueReport);
        Assert.StartsWith("stress queue 0: device-missed-kick", failure.QueueReport, StringComparison.Ordinal);
        Assert.Contains("1. Did the device see the requests the driver submitted?", failure.QueueReport, StringComparison.Ordinal);
    }

    [Fact]
    public void Stress_report_prints_the_figures_and_the_verdict()
    {
        RingStressResult result = Run(Short(buffers: 20_000));
        string text = RingStressReport.ToText(result);
        Assert.Contains("result: nothing lost", text, StringComparison.Ordinal);
        Assert.Contains("wraps crossed", text, StringComparison.Ordinal);
        using var json = System.Text.Json.JsonDocument.Parse(RingStressReport.ToJson(result));
        Assert.Equal(20_000, json.RootElement.GetProperty("buffers").GetInt64());
        Assert.True(json.RootElement.GetProperty("passed").GetBoolean());
    }
}
