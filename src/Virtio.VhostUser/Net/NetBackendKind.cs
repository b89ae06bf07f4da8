using Virtio.Devices.Net;

namespace Virtio.VhostUser.Net;

/// <summary>The backends <see cref="NetBackendSpec"/> names.</summary>
public enum NetBackendKind
{
    /// <summary>Every frame sent comes back on the same queue pair (<see cref="LoopbackNetBackend"/>).</summary>
    Loopback,

    /// <summary>A QEMU <c>-netdev stream</c> peer this side connects to (<see cref="StreamNetBackend"/>).</summary>
    Stream,

    /// <summary>A QEMU <c>-netdev stream</c> peer that connects to a socket this side listens on.</summary>
    StreamListen,

    /// <summary>Frames sent are copied out, counted and dropped (<see cref="DiscardNetBackend"/>).</summary>
    Discard,

    /// <summary>Every rx buffer is filled with a frame (<see cref="GeneratorNetBackend"/>).</summary>
    Generator,
}
