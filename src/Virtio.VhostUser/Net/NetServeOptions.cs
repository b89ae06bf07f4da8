using Virtio.Diagnostics.Faults;

namespace Virtio.VhostUser.Net;

/// <summary>
/// Settings of <see cref="VhostUserNetServer.Serve"/>: this project's virtio-net data path served over vhost-user
/// (QEMU <c>-netdev vhost-user</c>), its frames going to a backend named by a <see cref="NetBackendSpec"/>.
/// </summary>
public sealed class NetServeOptions : VhostUserServeOptions
{
    /// <summary>Where frames go.</summary>
    public NetBackendSpec Backend { get; init; } = NetBackendSpec.Loopback;

    /// <summary>Capture every frame either way to this pcap file; none when null.</summary>
    public string? PcapPath { get; init; }

    /// <summary>Rx/tx queue pairs (VIRTIO_NET_F_MQ above 1).</summary>
    public int QueuePairs { get; init; } = 1;

    /// <summary>
    /// How often to report frame and byte counters and rates (<see cref="Devices.Net.NetRateMeter"/>); never when
    /// null. The totals are reported once when serving ends either way.
    /// </summary>
    public TimeSpan? StatsInterval { get; init; }

    /// <summary>
    /// Busy-poll the rings with the driver's kicks suppressed for this long after the last frame (as DPDK's vhost PMD
    /// and Linux vhost busy-poll do), then turn notifications back on and sleep on kicks; zero (the default) never polls.
    /// </summary>
    public TimeSpan PollIdle { get; init; }

    /// <inheritdoc/>
    public override string? Validate() =>
        Fault is { Kind: DeviceFaultKind.StallBackend } ? $"--fault {Fault}: must be drop-kick:N or drop-call:N (the net device has no backend requests to stall)"
        : QueuePairs is < 1 or > 64 ? $"--queue-pairs {QueuePairs}: must be from 1 to 64"
        : PollIdle > TimeSpan.Zero && Fault is { Kind: DeviceFaultKind.DropKick } ? $"--fault {Fault} with --poll: a polling device does not wait for kicks, so a lost one hangs nothing"
        : base.Validate() ?? CheckFaultRing(2 * QueuePairs);
}
