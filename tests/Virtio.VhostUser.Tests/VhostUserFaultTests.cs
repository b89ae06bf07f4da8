using Virtio.Devices.Block;
using Virtio.Diagnostics;
using Virtio.Diagnostics.Faults;
using Virtio.Diagnostics.Watchdog;
using Virtio.VhostUser.Tests.Support;

namespace Virtio.VhostUser.Tests;

/// <summary>
/// <c>--fault</c> on a served device, in process: the Linux-model driver waits on one request at a time, the fault
/// loses its second kick, call or request, and the watchdog names the hang.
/// </summary>
public sealed class VhostUserFaultTests
{
    [Theory]
    [InlineData("drop-kick:2", "device-missed-kick")]
    [InlineData("drop-call:2", "driver-missed-notification")]
    [InlineData("stall-backend:2", "device-stuck")]
    public void A_fault_hangs_the_second_request_and_the_watchdog_names_it(string fault, string verdict)
    {
        Assert.True(DeviceFaultSpec.TryParse(fault, out DeviceFaultSpec? spec));
        Assert.Equal(verdict, HangReport.VerdictName(spec!.ExpectedVerdict));
        using var fe = new ScriptedFrontEnd(
            wrapBackend: disk => spec.Kind == DeviceFaultKind.StallBackend ? new StallingBlockBackend(disk, spec.N) : disk,
            wrapCall: spec.WrapCall);
        spec.ApplyToKicks(fe.Backend.Device);
        using QueueWatchdog watchdog = DeviceWatchdog.Start(fe.Backend.Device, TimeSpan.FromMilliseconds(300), logger: null, TimeSpan.FromMilliseconds(50));
        string? diagnosis = null;
        using var stalled = new ManualResetEventSlim();
        watchdog.Stalled += (_, e) =>
        {
            diagnosis = e.Diagnosis;
            stalled.Set();
        };

        fe.Negotiate();
        fe.SetMemTable();
        using var ring = TestRing.Start(fe);
        Assert.Equal(0, ring.Request(type: 0, sector: 0));
        ring.Submit(type: 0, sector: 1);

        Assert.True(stalled.Wait(TimeSpan.FromSeconds(30)), "the watchdog never reported the stall");
        Assert.StartsWith($"virtio-blk queue 0: {verdict}", diagnosis);
        Assert.False(ring.Call.IsSet && ring.Driver.MoreUsed(), "the hung request completed and was notified");
    }

    [Theory]
    [InlineData("drop-kick:3", "0,1,2,3")]
    [InlineData("drop-kick:3:tx", "1,3")]
    [InlineData("drop-call:3:rx", "0,2")]
    [InlineData("drop-call:3:2", "2")]
    public void A_ring_suffix_limits_the_fault_to_those_rings(string text, string rings)
    {
        Assert.True(DeviceFaultSpec.TryParse(text, out DeviceFaultSpec? spec));
        Assert.Equal(text, spec!.ToString());
        int[] chosen = [.. Enumerable.Range(0, 4).Where(spec.AppliesTo)];
        Assert.Equal(rings, string.Join(',', chosen));
        var channel = new Virtio.Notifications.EventNotifier();
        for (int ring = 0; ring < 4; ring++)
        {
            bool wrapped = !ReferenceEquals(channel, spec.WrapCall(ring, channel));
            Assert.Equal(spec.Kind == DeviceFaultKind.DropCall && chosen.Contains(ring), wrapped);
        }
    }

    [Theory]
    [InlineData("drop-kick")]
    [InlineData("drop-kick:0")]
    [InlineData("drop-kick:x")]
    [InlineData("lose-kick:3")]
    [InlineData("drop-kick:3:up")]
    [InlineData("drop-kick:3:-1")]
    [InlineData("drop-kick:3:tx:1")]
    [InlineData("stall-backend:3:1")]
    public void A_malformed_fault_spec_is_refused(string text) => Assert.False(DeviceFaultSpec.TryParse(text, out _));
}
