using Microsoft.Extensions.Logging;
using Virtio.Diagnostics;
using Virtio.Diagnostics.Faults;
using Virtio.Diagnostics.Watchdog;
using Virtio.Rings;

namespace Virtio.VhostUser;

/// <summary>
/// What serving one of this project's devices over vhost-user takes besides the device (<see cref="BlkServeOptions"/>,
/// <see cref="Net.NetServeOptions"/>): the socket and which side listens, the largest ring, a fault to inject, the
/// watchdog's patience, logging, and where progress lines go. The option names in <see cref="Validate"/>'s messages
/// are those of <c>virtio serve</c>, which is a thin face of these types.
/// </summary>
public abstract class VhostUserServeOptions
{
    private readonly Lock _statusLock = new();

    /// <summary>The vhost-user Unix socket path.</summary>
    public required string Socket { get; init; }

    /// <summary>Connect to a front-end listening on <see cref="Socket"/> (QEMU <c>server=on</c>) instead of listening.</summary>
    public bool Connect { get; init; }

    /// <summary>Serve one connection, then return (listening only).</summary>
    public bool Once { get; init; }

    /// <summary>The largest ring the front-end may set: a power of two up to 32768.</summary>
    public int QueueSize { get; init; } = 1024;

    /// <summary>A fault to inject (<c>drop-kick:N</c>, <c>drop-call:N</c>, and for blk <c>stall-backend:N</c>); none when null.</summary>
    public DeviceFaultSpec? Fault { get; init; }

    /// <summary>Time without progress, work outstanding, before the watchdog logs its diagnosis (category <c>Virtio.Watchdog</c>).</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Where the device, the back-end and the watchdog log; nothing is logged when null.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>
    /// Receives each progress line (listening, fault injected, statistics, stopped), one at a time even when the
    /// statistics timer fires; nothing is reported when null.
    /// </summary>
    public Action<string>? Status { get; init; }

    /// <summary>Checks the settings.</summary>
    /// <returns>Why they will not do, naming the <c>virtio serve</c> option, or null.</returns>
    public virtual string? Validate() =>
        !SplitRing.IsValidSize(QueueSize) ? $"--queue-size {QueueSize}: must be a power of two from 1 to {SplitRing.MaxQueueSize}"
        : UnixSocketPath.CheckLength("--socket", Socket);

    /// <summary>Why <see cref="Fault"/> names a ring the device does not have (it has <paramref name="rings"/>), or null.</summary>
    private protected string? CheckFaultRing(int rings) =>
        Fault is { Rings: DeviceFaultRings.One } && Fault.Ring >= rings
            ? $"--fault {Fault}: ring {Fault.Ring} does not exist (the device has rings 0 to {rings - 1})"
            : null;

    /// <summary>Throws when <see cref="Validate"/> refuses the settings.</summary>
    internal void ThrowIfInvalid()
    {
        if (Validate() is { } error)
        {
            throw new ArgumentException(error);
        }
    }

    /// <summary>Passes <paramref name="line"/> to <see cref="Status"/>.</summary>
    internal void Report(string line)
    {
        lock (_statusLock)
        {
            Status?.Invoke(line);
        }
    }

    /// <summary>
    /// Wires the fault and the watchdog into <paramref name="vhost"/> and serves it on <see cref="Socket"/> until
    /// <paramref name="cancellationToken"/> fires (or, with <see cref="Once"/> or <see cref="Connect"/>, the
    /// connection ends): rings are stopped after their requests finish and memory is unmapped before this returns.
    /// </summary>
    /// <param name="vhost">The back-end, created with <see cref="BackendOptions"/>'s call wrapper.</param>
    /// <param name="what">What is served, for the "listening" line.</param>
    /// <param name="cancellationToken">Ends serving cleanly.</param>
    internal void Serve(VhostUserBackend vhost, string what, CancellationToken cancellationToken)
    {
        Fault?.ApplyToKicks(vhost.Device);
        if (Fault is not null)
        {
            Report($"injecting {Fault}; expect the verdict {HangReport.VerdictName(Fault.ExpectedVerdict)}");
        }

        // The watchdog notices a queue that stops with work outstanding and logs the three questions and the verdict.
        using QueueWatchdog watchdog = DeviceWatchdog.Start(vhost.Device, StallTimeout, LoggerFactory?.CreateLogger("Virtio.Watchdog"));
        if (Connect)
        {
            Report($"{what}, connecting to {Socket}");
            VhostUserServer.Connect(vhost, Socket, cancellationToken);
        }
        else
        {
            VhostUserServer.Listen(vhost, Socket, Once, () => Report($"{what}, listening on {Socket}"), cancellationToken);
        }
    }

    /// <summary>The back-end's options: logging, and the fault's call wrapper.</summary>
    internal VhostUserBackendOptions BackendOptions() =>
        new() { LoggerFactory = LoggerFactory, WrapCall = Fault is null ? null : Fault.WrapCall };
}
