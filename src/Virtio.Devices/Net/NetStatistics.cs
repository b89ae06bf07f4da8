namespace Virtio.Devices.Net;

/// <summary>A snapshot of a virtio-net device's frame counters (the same numbers the <c>Virtio.Devices</c> meter reports).</summary>
/// <param name="TxPackets">Frames the driver sent that the backend took.</param>
/// <param name="TxBytes">Their bytes, without the header.</param>
/// <param name="RxPackets">Frames placed into the driver's rx buffers.</param>
/// <param name="RxBytes">Their bytes, without the header.</param>
/// <param name="Dropped">All frames dropped, whatever the reason.</param>
public readonly record struct NetStatistics(long TxPackets, long TxBytes, long RxPackets, long RxBytes, long Dropped);
