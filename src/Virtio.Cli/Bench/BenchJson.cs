using System.Text.Json.Serialization;

namespace Virtio.Cli.Bench;

// One JSON object per bench run, camelCase, through source generation; the field order is the declaration order.

/// <summary><c>virtio bench ring --json</c>.</summary>
internal sealed record RingBenchJson(int Threads, string Mode, int RingSize, int Batch, bool Burst, bool EventIdx, bool Indirect, int Segments,
    long Buffers, double NsPerBuffer, double BuffersPerSecond, double KicksPerBuffer, double CallsPerBuffer, long AllocatedBytes);

/// <summary><c>virtio bench blk --json</c>.</summary>
internal sealed record BlkBenchJson(string Rw, int BlockSize, int QueueDepth, long Requests, double Iops, double NsPerRequest, long AllocatedBytes, long Failed);

/// <summary><c>virtio bench blk --vhost-user SOCKET --json</c>.</summary>
internal sealed record VhostUserBlkBenchJson(string VhostUser, int BlockSize, int QueueDepth, long Requests, double Iops, double KicksPerRequest, long DriverSleeps, long Failed, bool Inflight);

/// <summary><c>virtio bench net --json</c>.</summary>
internal sealed record NetBenchJson(int FrameSize, bool MrgRxBuf, int Batch, bool Callbacks, long Frames, double Pps, double NsPerFrame,
    double GbitPerSecond, double RxKicksPerFrame, double TxKicksPerFrame, long AllocatedBytes, long Failed);

/// <summary>The bench commands' JSON.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(RingBenchJson))]
[JsonSerializable(typeof(BlkBenchJson))]
[JsonSerializable(typeof(VhostUserBlkBenchJson))]
[JsonSerializable(typeof(NetBenchJson))]
internal sealed partial class BenchJsonContext : JsonSerializerContext;
