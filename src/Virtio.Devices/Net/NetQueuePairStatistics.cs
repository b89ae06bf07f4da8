namespace Virtio.Devices.Net;

/// <summary>A snapshot of what one virtio-net queue pair carried (rx<sub>n</sub> = queue 2n, tx<sub>n</sub> = queue 2n+1).</summary>
/// <param name="TxPackets">Frames the driver sent on this pair's tx queue that the backend took.</param>
/// <param name="TxBytes">Their bytes, without the header.</param>
/// <param name="RxPackets">Frames placed into this pair's rx buffers.</param>
/// <param name="RxBytes">Their bytes, without the header.</param>
public readonly record struct NetQueuePairStatistics(long TxPackets, long TxBytes, long RxPackets, long RxBytes);
