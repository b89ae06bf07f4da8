using System.Text.Json;
using System.Text.Json.Serialization;

namespace Virtio.VhostUser;

/// <summary>A run of <see cref="VhostUserBlkBench"/> against the back-end on <paramref name="Socket"/>, as <c>virtio bench blk --vhost-user</c> prints it.</summary>
/// <param name="Socket">The back-end's socket.</param>
/// <param name="Options">The run's settings.</param>
/// <param name="Result">What it measured.</param>
public sealed record VhostUserBlkBenchReport(string Socket, VhostUserBlkBenchOptions Options, VhostUserBlkBenchResult Result)
{
    /// <summary>One camelCase JSON object (rates rounded), without a newline.</summary>
    public string ToJson()
    {
        ArgumentNullException.ThrowIfNull(Options);
        return JsonSerializer.Serialize(
            new VhostUserBlkBenchJson(Socket, Options.BlockSize, Options.QueueDepth, Result.Requests, Math.Round(Result.Iops), Math.Round(Result.KicksPerRequest, 4), Result.Sleeps, Result.Errors, Result.Inflight),
            VhostUserBenchJsonContext.Default.VhostUserBlkBenchJson);
    }

    /// <summary>Two lines for a person, each ending in a newline.</summary>
    public string ToText()
    {
        ArgumentNullException.ThrowIfNull(Options);
        VhostUserBlkBenchResult r = Result;
        return $"vhost-user-blk randread bs={Options.BlockSize} qd={Options.QueueDepth} via {Socket}{(r.Inflight ? " (inflight region shared)" : "")}: {r.Requests} requests in {r.Elapsed.TotalMilliseconds:F0} ms{Environment.NewLine}" +
            $"  {r.Iops / 1e3:F1} k IOPS; {r.KicksPerRequest:F3} kicks/request (the device's wake-ups); the driver slept on its call {r.Sleeps} times; {r.Errors} failed{Environment.NewLine}";
    }
}

/// <summary><c>virtio bench blk --vhost-user SOCKET --json</c>; the field order is the declaration order.</summary>
internal sealed record VhostUserBlkBenchJson(string VhostUser, int BlockSize, int QueueDepth, long Requests, double Iops, double KicksPerRequest, long DriverSleeps, long Failed, bool Inflight);

/// <summary>The vhost-user bench's JSON, camelCase, through source generation.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(VhostUserBlkBenchJson))]
internal sealed partial class VhostUserBenchJsonContext : JsonSerializerContext;
