namespace Virtio.Devices.Net;

/// <summary>What a backend did with a frame the device transmitted.</summary>
public enum NetTransmitResult
{
    /// <summary>Taken (copied or sent); the device completes the tx chain.</summary>
    Sent,

    /// <summary>Not taken: the backend is full. The device keeps the chain and stops its tx queue until <see cref="INetFrameSink.TransmitReady"/>.</summary>
    Busy,
}
