using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Virtio.Diagnostics.Qmp;

/// <summary>Settings of a <see cref="QmpClient"/>.</summary>
public sealed class QmpClientOptions
{
    /// <summary>How long to wait for the connection, the greeting and each reply (default 10 s).</summary>
    public TimeSpan CommandTimeout
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            field = value;
        }
    } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The longest message accepted from QEMU (default 16 MiB): <c>query-qmp-schema</c> is about 200 KiB, so anything
    /// near this is not QEMU, and reading it whole would be unbounded.
    /// </summary>
    public int MaxMessageBytes
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1024);
            field = value;
        }
    } = 16 << 20;

    /// <summary>Where the exchanges are logged (commands at Debug, ignored events at Trace).</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;
}
