namespace Virtio.Devices.Net;

/// <summary>What the device did with a frame a backend delivered.</summary>
public enum NetReceiveResult
{
    /// <summary>Queued for the driver (and placed at once when rx buffers were available).</summary>
    Accepted,

    /// <summary>Dropped and counted: the backlog was full, the link is down, or the rx filter rejected it.</summary>
    Dropped,
}
