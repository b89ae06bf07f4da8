namespace Virtio.Diagnostics.Faults;

/// <summary>The rings a <see cref="DeviceFaultSpec"/> applies to.</summary>
public enum DeviceFaultRings
{
    /// <summary>Every ring (no suffix).</summary>
    All,

    /// <summary>The even-numbered rings: virtio-net's receive queues (rx<sub>n</sub> = 2n), suffix <c>:rx</c>.</summary>
    Rx,

    /// <summary>The odd-numbered rings: virtio-net's transmit queues (tx<sub>n</sub> = 2n + 1), suffix <c>:tx</c>.</summary>
    Tx,

    /// <summary>One ring, by index (<see cref="DeviceFaultSpec.Ring"/>), suffix <c>:INDEX</c>.</summary>
    One,
}
