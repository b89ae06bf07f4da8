using Microsoft.Extensions.Logging;

namespace Virtio.Devices.Net;

/// <summary>How a <see cref="PcapNetBackend"/> captures.</summary>
public sealed class PcapNetBackendOptions
{
    /// <summary>The largest snap length accepted (Wireshark's limit for Ethernet captures).</summary>
    public const int MaxSnapLength = 262144;

    /// <summary>
    /// Bytes kept of each frame (<c>snaplen</c>): longer frames are cut in the capture, with their full length still
    /// recorded. Default 65535, the classic value; 1 to <see cref="MaxSnapLength"/>.
    /// </summary>
    public int SnapLength { get; init; } = 65535;

    /// <summary>The clock of the record timestamps; <see cref="TimeProvider.System"/> by default.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Where a capture error is logged; none by default.</summary>
    public ILogger? Logger { get; init; }
}
